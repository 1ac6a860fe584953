import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { FunctionCode } from './cloud-assembly';
import type { Log } from './topology';

export interface FunctionDefinition {
  logicalId: string;
  name: string;
  arn: string;
  code: FunctionCode;
  timeoutSeconds: number;
  memoryMb: number;
  /** The function's whole process.env: resolved template variables plus the Lambda runtime's own. */
  env: Record<string, string>;
  /** Most warm containers at once (ReservedConcurrentExecutions, or the runtime's cap). */
  maxConcurrency: number;
}

export interface LambdaError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export type InvocationResult = { ok: true; value: unknown; requestId: string; durationMs: number } | { ok: false; error: LambdaError; requestId: string; durationMs: number };

interface Container {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
  dead: boolean;
  pending?: { id: string; settle: (r: { ok: true; value: unknown } | { ok: false; error: LambdaError }) => void };
}

/** A logical id without CDK's 8-hex-digit hash suffix, for log lines: JobWorkerFunction7BB1B3D2 -> JobWorkerFunction. */
export function displayName(logicalIdOrName: string): string {
  return logicalIdOrName.replace(/(?<=[A-Za-z])[0-9A-F]{8}$/, '');
}

/** Keys every Powertools log line carries; the compact line leaves them out. */
const POWERTOOLS_STANDARD_KEYS = new Set(['level', 'message', 'timestamp', 'service', 'cold_start', 'function_name', 'function_memory_size', 'function_arn', 'function_request_id', 'xray_trace_id', 'sampling_rate']);

/** Prints one function log line compactly: Powertools JSON becomes `LEVEL message {extra keys}`. */
export function formatFunctionLogLine(functionName: string, line: string): string | undefined {
  if (!line.trim()) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return `[${functionName}] ${line}`;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return `[${functionName}] ${line}`;
  const record = parsed as Record<string, unknown>;
  if ('_aws' in record) return undefined;
  const { level, message } = record;
  const rest = Object.fromEntries(Object.entries(record).filter(([key]) => !POWERTOOLS_STANDARD_KEYS.has(key)));
  if (level === undefined && message === undefined) return `[${functionName}] ${line}`;
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
  return `[${functionName}] ${String(level ?? 'INFO')} ${String(message ?? '')}${extra}`;
}

/**
 * Runs one Lambda function locally: a pool of warm worker threads, each with its own process.env, that load the
 * function's bundle from the cloud assembly. Enforces the function's timeout by terminating the container, as
 * Lambda does; the next invocation starts a fresh one.
 */
export class FunctionHost {
  private readonly containers: Container[] = [];
  private readonly waiting: Array<() => void> = [];
  private stopped = false;

  constructor(
    readonly definition: FunctionDefinition,
    private readonly log: Log,
    private readonly printFunctionLog: (line: string) => void,
  ) {}

  get name(): string {
    return this.definition.name;
  }

  /** Starts one container ahead of the first invocation, so the first request does not pay the cold start. */
  async warm(): Promise<void> {
    if (this.containers.length === 0) await this.spawn().ready.catch(() => undefined);
  }

  async invoke(event: unknown): Promise<InvocationResult> {
    const started = Date.now();
    const requestId = randomUUID();
    const container = await this.acquire();
    try {
      await container.ready.catch(() => undefined);
      const outcome = await this.run(container, event, requestId);
      return { ...outcome, requestId, durationMs: Date.now() - started };
    } finally {
      this.release(container);
    }
  }

  /**
   * Kills the containers that are running an invocation right now, as a crash or an out-of-memory kill would: the
   * invocations fail with Runtime.ExitError and the function goes on serving from fresh containers. For fault tests.
   */
  async crashRunning(): Promise<number> {
    const running = this.containers.filter((c) => c.busy && !c.dead);
    await Promise.allSettled(running.map((c) => c.worker.terminate()));
    return running.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.allSettled(this.containers.splice(0).map((c) => ((c.dead = true), c.worker.terminate())));
  }

  private async acquire(): Promise<Container> {
    for (;;) {
      if (this.stopped) throw new Error(`${this.name} is stopped`);
      const idle = this.containers.find((c) => !c.busy && !c.dead);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.containers.length < this.definition.maxConcurrency) {
        const fresh = this.spawn();
        fresh.busy = true;
        return fresh;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(container: Container): void {
    container.busy = false;
    if (container.dead) this.remove(container);
    this.waiting.shift()?.();
  }

  private remove(container: Container): void {
    const i = this.containers.indexOf(container);
    if (i >= 0) this.containers.splice(i, 1);
  }

  private spawn(): Container {
    const { code, name, arn, memoryMb, env } = this.definition;
    const worker = new Worker(join(__dirname, 'function-thread.js'), {
      env,
      workerData: { file: code.file, exportName: code.exportName, functionName: name, functionArn: arn, memoryMb },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(memoryMb, 128) },
    });
    for (const stream of [worker.stdout, worker.stderr] as Readable[]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.printFunctionLog(line));
    }
    const container: Container = { worker, busy: false, dead: false, ready: Promise.resolve() };
    container.ready = new Promise<void>((resolve, reject) => {
      worker.once('message', (m: { type: string; error?: LambdaError }) => {
        if (m.type === 'ready') resolve();
        else {
          this.log(`${name}: init failed: ${m.error?.errorType}: ${m.error?.errorMessage}`);
          reject(new Error(m.error?.errorMessage));
        }
      });
    });
    worker.on('message', (m: { type: string; id?: string; ok?: boolean; value?: unknown; error?: LambdaError }) => {
      const pending = container.pending;
      if (m.type === 'result' && pending && pending.id === m.id) {
        const settle = pending.settle;
        container.pending = undefined;
        settle(m.ok ? { ok: true, value: m.value } : { ok: false, error: m.error! });
      }
    });
    const die = (error: LambdaError) => {
      container.dead = true;
      const pending = container.pending;
      container.pending = undefined;
      pending?.settle({ ok: false, error });
      if (!container.busy) this.remove(container);
    };
    worker.on('error', (error) => die({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: container crashed: ${error.message}` }));
    worker.on('exit', (code) => die({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with error: exit status ${code}` }));
    this.containers.push(container);
    return container;
  }

  private run(container: Container, event: unknown, requestId: string): Promise<{ ok: true; value: unknown } | { ok: false; error: LambdaError }> {
    const timeoutMs = this.definition.timeoutSeconds * 1000;
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        container.pending = undefined;
        container.dead = true;
        void container.worker.terminate();
        const message = `${new Date().toISOString()} ${requestId} Task timed out after ${this.definition.timeoutSeconds.toFixed(2)} seconds`;
        this.log(`${this.name}: ${message}`);
        resolve({ ok: false, error: { errorType: 'Sandbox.Timedout', errorMessage: message } });
      }, timeoutMs);
      container.pending = {
        id,
        settle: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      container.worker.postMessage({ type: 'invoke', id, event, requestId, deadline });
    });
  }
}
