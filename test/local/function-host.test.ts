import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTAINERS_REGARDLESS_OF_CPU, containerExecArgv, FunctionHost, type FunctionDefinition } from '../../local/function-host';

/**
 * A container is a worker thread that loads the bundle once. The first container to load in a test loads at once;
 * every later one takes SLOW_LOAD_MS (a lock file tells them apart), so a test can tell a warm container from a
 * new one by when an invocation ran.
 */
const HANDLER = `
const fs = require('node:fs');
const { randomUUID } = require('node:crypto');
const containerId = randomUUID();
let first = false;
try { fs.closeSync(fs.openSync(process.env.FIRST_LOCK, 'wx')); first = true; } catch {}
if (!first) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.SLOW_LOAD_MS));
exports.handler = async (event) => {
  if (event.log) console.log(event.log);
  if (event.holdMs) await new Promise((resolve) => setTimeout(resolve, event.holdMs));
  if (event.busyMs) { const end = Date.now() + event.busyMs; while (Date.now() < end); }
  return { containerId, at: Date.now() };
};
`;

const SLOW_LOAD_MS = 3000;

let dir: string;
let host: FunctionHost | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quarry-function-host-'));
  writeFileSync(join(dir, 'index.js'), HANDLER);
});

afterEach(async () => {
  await host?.stop();
  host = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A machine whose threads always queue for the CPU: past one container per core, only I/O-bound functions grow. */
const busyCpu = { threadsWaiting: () => 4 };

function startHost(overrides: Partial<FunctionDefinition> = {}, printFunctionLog?: (line: string) => void, cpuPressure?: typeof busyCpu): FunctionHost {
  const definition: FunctionDefinition = {
    logicalId: 'Fn',
    name: 'Fn',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:Fn',
    code: { file: join(dir, 'index.js'), exportName: 'handler', taskRoot: dir },
    timeoutSeconds: 30,
    memoryMb: 128,
    env: { FIRST_LOCK: join(dir, 'first.lock'), SLOW_LOAD_MS: String(SLOW_LOAD_MS) },
    maxConcurrency: 4,
    ...overrides,
  };
  host = new FunctionHost(definition, () => undefined, printFunctionLog, cpuPressure);
  return host;
}

const valueOf = async (invocation: Promise<Awaited<ReturnType<FunctionHost['invoke']>>>) => {
  const result = await invocation;
  if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
  return { ...(result.value as { containerId: string; at: number }), queuedMs: result.queuedMs ?? 0 };
};

describe('a function host', () => {
  it('runs consecutive invocations in the same warm container', async () => {
    const fn = startHost();
    await fn.warm();
    const first = await valueOf(fn.invoke({}));
    const second = await valueOf(fn.invoke({}));
    expect(second.containerId).toBe(first.containerId);
    expect(fn.stats()).toMatchObject({ coldStarts: 1, invocations: 2 });
  });

  it('gives a waiting invocation to the warm container that frees up first, not to the one still loading', async () => {
    const fn = startHost();
    await fn.warm();
    const busy = valueOf(fn.invoke({ holdMs: 600 }));
    const waiting = valueOf(fn.invoke({}));
    const [a, b] = await Promise.all([busy, waiting]);
    // It ran in the warm container once the busy invocation ended, not in the one started for it (still loading).
    expect(b.containerId).toBe(a.containerId);
    // The pool still grew, and the new container serves later invocations.
    await new Promise((resolve) => setTimeout(resolve, SLOW_LOAD_MS + 500));
    expect(fn.stats().coldStarts).toBe(2);
    const both = await Promise.all([valueOf(fn.invoke({ holdMs: 300 })), valueOf(fn.invoke({ holdMs: 300 }))]);
    expect(new Set(both.map((r) => r.containerId)).size).toBe(2);
  });

  it('never runs more containers than its maximum concurrency; invocations beyond it wait for one', async () => {
    const fn = startHost({ maxConcurrency: 2, env: { FIRST_LOCK: join(dir, 'first.lock'), SLOW_LOAD_MS: '0' } });
    await fn.warm();
    const results = await Promise.all(Array.from({ length: 6 }, () => valueOf(fn.invoke({ holdMs: 300 }))));
    expect(new Set(results.map((r) => r.containerId)).size).toBe(2);
    expect(fn.stats()).toMatchObject({ coldStarts: 2, invocations: 6, peakConcurrency: 2 });
    expect(results.some((r) => r.queuedMs > 0)).toBe(true);
  });

  it("passes each line a function writes to the log reader; without one the lines are dropped where they are written", async () => {
    const lines: string[] = [];
    const reading = startHost({}, (line) => lines.push(line));
    await valueOf(reading.invoke({ log: 'hello from the function' }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lines).toContain('hello from the function');
    await reading.stop();

    rmSync(join(dir, 'first.lock'), { force: true });
    const quiet = startHost();
    await expect(valueOf(quiet.invoke({ log: 'nobody reads this' }))).resolves.toMatchObject({ containerId: expect.any(String) });
  });

  const burst = (fn: FunctionHost, event: object) => Promise.all(Array.from({ length: 8 }, () => valueOf(fn.invoke(event))));
  const noWait = { FIRST_LOCK: '/nonexistent/first.lock', SLOW_LOAD_MS: '0' };

  it('grows past one container per core on a busy CPU while its invocations wait on I/O', async () => {
    const fn = startHost({ maxConcurrency: 8, env: noWait }, undefined, busyCpu);
    await fn.warm();
    await valueOf(fn.invoke({ holdMs: 200 }));
    await burst(fn, { holdMs: 1500 });
    expect(fn.stats().peakConcurrency).toBeGreaterThan(CONTAINERS_REGARDLESS_OF_CPU);
  });

  it('does not grow past one container per core on a busy CPU while its invocations use the CPU', async () => {
    const fn = startHost({ maxConcurrency: 8, env: noWait }, undefined, busyCpu);
    await fn.warm();
    await valueOf(fn.invoke({ busyMs: 200 }));
    await burst(fn, { busyMs: 300 });
    expect(fn.stats().peakConcurrency).toBe(CONTAINERS_REGARDLESS_OF_CPU);
  });

  it("counts the containers' CPU time where the platform tells it", async () => {
    const fn = startHost();
    await valueOf(fn.invoke({}));
    const stats = fn.stats();
    if (process.platform === 'linux') {
      expect(stats.initCpuMs).toBeGreaterThan(0);
      expect(stats.cpuMs).toBeGreaterThan(0);
    }
    expect(stats.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe('the flags a container starts with', () => {
  it("are the host's without module loaders and preloads (a TypeScript loader would transform every bundle again)", () => {
    expect(
      containerExecArgv(['--require', '/x/tsx/preflight.cjs', '--import', 'file:///x/tsx/loader.mjs', '--cpu-prof', '--loader=ts-node/esm', '-r', 'ts-node/register', '--enable-source-maps']),
    ).toEqual(['--cpu-prof', '--enable-source-maps']);
  });
});
