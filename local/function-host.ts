import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { FunctionCode } from './cloud-assembly';
import { processCpuPressure, type CpuPressure } from './cpu-pressure';
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

/**
 * `durationMs`: the invocation's own time in its container (Lambda's Duration); `queuedMs`: how long it waited for a
 * free container first (0 when one was idle).
 */
export type InvocationResult =
  | { ok: true; value: unknown; requestId: string; durationMs: number; queuedMs?: number }
  | { ok: false; error: LambdaError; requestId: string; durationMs: number; queuedMs?: number };

/** What a function's containers did since start (or the last resetStats()): the figures benchmarks break time down by. */
export interface FunctionStats {
  /** Containers started (cold starts), and the wall and CPU time their bundles took to load. */
  coldStarts: number;
  initMs: number;
  initCpuMs: number;
  invocations: number;
  /** Sum of the invocations' own durations, of the time they waited for a container, and of their threads' CPU time. */
  durationMs: number;
  queuedMs: number;
  cpuMs: number;
  /** Most invocations in flight at once. */
  peakConcurrency: number;
}

interface Container {
  worker: Worker;
  /** Resolves once the bundle has loaded (or failed to: the container then answers every invocation with the error). */
  ready: Promise<void>;
  isReady: boolean;
  busy: boolean;
  dead: boolean;
  spawnedAt: number;
  /** The thread's CPU time (ms) at its last report, when the platform tells it (Linux). */
  cpuMs?: number;
  pending?: { id: string; onChunk?: (chunk: Buffer) => void; settle: (r: { ok: true; value: unknown } | { ok: false; error: LambdaError }) => void };
}

/** Containers of one function loading their bundle at once, at most: a burst grows the pool without a cold-start storm. */
export const MAX_CONCURRENT_COLD_STARTS = 2;
/** An invocation waits at least this long for a warm container to free up before the pool starts another one. */
export const MIN_SCALE_UP_WAIT_MS = 50;
/**
 * Beyond one container per core and one more, the pool grows only while the process's threads are not queueing
 * for the CPU (fewer than CPU_BUSY_THREADS_WAITING of them waiting for a core on average).
 */
export const CONTAINERS_REGARDLESS_OF_CPU = availableParallelism() + 1;
export const CPU_BUSY_THREADS_WAITING = 1;
/**
 * ...or while the function's invocations spend less than this share of their time on the CPU: they wait on I/O (the
 * emulators, the model), so another container adds an invocation in flight without adding work for the CPU. This is
 * what lets a submit function whose calls wait on DynamoDB and SQS keep up with its callers on a busy machine.
 */
export const IO_BOUND_CPU_SHARE = 0.5;
const CPU_RECHECK_MS = 250;

/** A logical id without CDK's 8-hex-digit hash suffix, for log lines: JobWorkerFunction7BB1B3D2 -> JobWorkerFunction. */
export function displayName(logicalIdOrName: string): string {
  return logicalIdOrName.replace(/(?<=[A-Za-z])[0-9A-F]{8}$/, '');
}

/**
 * The Node.js flags a container starts with: the host's, without module loaders and preloads (tsx's, ts-node's). The
 * bundles are plain JavaScript; a TypeScript loader would transform each of them again in every new container.
 */
export function containerExecArgv(hostExecArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let i = 0; i < hostExecArgv.length; i++) {
    const flag = hostExecArgv[i];
    const name = flag.split('=')[0];
    if (LOADER_FLAGS.has(name)) {
      if (!flag.includes('=')) i++;
      continue;
    }
    kept.push(flag);
  }
  return kept;
}

const LOADER_FLAGS = new Set(['--require', '-r', '--import', '--loader', '--experimental-loader']);

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
 * function's bundle from the cloud assembly and run one invocation at a time. An invocation goes to an idle warm
 * container, else waits for the first container that frees up or finishes loading; the pool grows (up to
 * `maxConcurrency`, at most MAX_CONCURRENT_COLD_STARTS loading at once) while invocations wait, past one container
 * per core only while that adds no CPU work the machine lacks (see anotherContainerIsFree). Enforces the
 * function's timeout by terminating the container, as Lambda does; the next invocation starts a fresh one.
 */
export class FunctionHost {
  private readonly containers: Container[] = [];
  private readonly waiting: Array<{ since: number; take: (container: Container) => void; refuse: (error: Error) => void }> = [];
  private growTimer: NodeJS.Timeout | undefined;
  private starting = 0;
  private inFlight = 0;
  private stopped = false;
  private counters: FunctionStats = emptyStats();
  /** What loading a container costs, as seen so far (a moving average of its CPU time, else of its wall time). */
  private coldStartEstimateMs = 0;
  /** The share of an invocation's duration spent on its thread's CPU, as seen so far (a moving average; Linux only). */
  private cpuShare: number | undefined;

  /**
   * @param printFunctionLog receives each line the function writes to stdout or stderr; without it the containers
   * discard their output where it is written, so quiet runs do not pay for shipping logs between threads.
   */
  constructor(
    readonly definition: FunctionDefinition,
    private readonly log: Log,
    private readonly printFunctionLog?: (line: string) => void,
    private readonly cpuPressure: Pick<CpuPressure, 'threadsWaiting'> = processCpuPressure,
  ) {}

  get name(): string {
    return this.definition.name;
  }

  /** Starts one container ahead of the first invocation, so the first request does not pay the cold start. */
  async warm(): Promise<void> {
    if (this.containers.length === 0) await this.spawn().ready;
  }

  /** Invokes the function; a streaming handler's bytes go to `onChunk` as it writes them (its result is then null). */
  async invoke(event: unknown, onChunk?: (chunk: Buffer) => void): Promise<InvocationResult> {
    const requestId = randomUUID();
    const queued = Date.now();
    const container = await this.acquire();
    const started = Date.now();
    this.inFlight++;
    this.counters.peakConcurrency = Math.max(this.counters.peakConcurrency, this.inFlight);
    try {
      const cpuBefore = container.cpuMs;
      const outcome = await this.run(container, event, requestId, onChunk);
      const durationMs = Date.now() - started;
      this.observeCpuShare(cpuBefore, container.cpuMs, durationMs);
      this.counters.invocations++;
      this.counters.durationMs += durationMs;
      this.counters.queuedMs += started - queued;
      return { ...outcome, requestId, durationMs, queuedMs: started - queued };
    } finally {
      this.inFlight--;
      this.release(container);
    }
  }

  /**
   * Whether an invocation made now would start soon: a loaded container is idle, or none is and nothing waits yet
   * while the pool may still grow. Pollers ask before receiving, so records wait in the queue (gathering into
   * bigger batches) rather than in the host behind busy containers.
   */
  hasRoom(): boolean {
    if (this.stopped || this.waiting.length > 0) return false;
    if (this.containers.some((c) => c.isReady && !c.busy && !c.dead)) return true;
    const live = this.containers.filter((c) => !c.dead).length;
    if (live >= this.definition.maxConcurrency) return false;
    return live < CONTAINERS_REGARDLESS_OF_CPU || this.anotherContainerIsFree();
  }

  /** What the containers did since start or the last resetStats(). */
  stats(): FunctionStats {
    return { ...this.counters };
  }

  resetStats(): void {
    this.counters = emptyStats();
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
    clearTimeout(this.growTimer);
    for (const waiter of this.waiting.splice(0)) waiter.refuse(new Error(`${this.name} is stopped`));
    await Promise.allSettled(this.containers.splice(0).map((c) => ((c.dead = true), c.worker.terminate())));
  }

  private acquire(): Promise<Container> {
    if (this.stopped) return Promise.reject(new Error(`${this.name} is stopped`));
    const idle = this.containers.find((c) => c.isReady && !c.busy && !c.dead);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    return new Promise<Container>((take, refuse) => {
      this.waiting.push({ since: Date.now(), take, refuse });
      this.grow();
    });
  }

  /**
   * Starts containers while invocations wait that the containers already loading will not serve: at once when no
   * loaded container is left; else once the longest wait exceeds what a cold start costs (a warm container usually
   * frees up sooner); and past CONTAINERS_REGARDLESS_OF_CPU, only while this process's threads are not already
   * queueing for the CPU (a new container could not run any sooner, and its loading and JIT compilation, and its
   * share of the CPU, would slow everything else down) or while the function's invocations mostly wait on I/O.
   */
  private grow(): void {
    clearTimeout(this.growTimer);
    this.growTimer = undefined;
    if (this.stopped) return;
    const live = () => this.containers.filter((c) => !c.dead).length;
    const loaded = this.containers.some((c) => c.isReady && !c.dead);
    while (this.waiting.length > this.starting && this.starting < MAX_CONCURRENT_COLD_STARTS && live() < this.definition.maxConcurrency) {
      if (loaded) {
        const waitedMs = Date.now() - this.waiting[this.starting].since;
        const patienceMs = Math.max(MIN_SCALE_UP_WAIT_MS, this.coldStartEstimateMs);
        if (waitedMs < patienceMs) return this.growLater(patienceMs - waitedMs);
        if (live() >= CONTAINERS_REGARDLESS_OF_CPU && !this.anotherContainerIsFree()) return this.growLater(CPU_RECHECK_MS);
      }
      this.spawn();
    }
  }

  /**
   * Whether a container beyond CONTAINERS_REGARDLESS_OF_CPU costs the machine nothing it lacks: the function's
   * invocations mostly wait on I/O (IO_BOUND_CPU_SHARE), or this process's threads are not queueing for the CPU.
   */
  private anotherContainerIsFree(): boolean {
    if (this.cpuShare !== undefined && this.cpuShare < IO_BOUND_CPU_SHARE) return true;
    const threadsWaiting = this.cpuPressure.threadsWaiting();
    return threadsWaiting !== undefined && threadsWaiting < CPU_BUSY_THREADS_WAITING;
  }

  private observeCpuShare(cpuBefore: number | undefined, cpuAfter: number | undefined, durationMs: number): void {
    if (cpuBefore === undefined || cpuAfter === undefined || durationMs <= 0) return;
    const share = Math.min(1, Math.max(0, cpuAfter - cpuBefore) / durationMs);
    this.cpuShare = this.cpuShare === undefined ? share : 0.8 * this.cpuShare + 0.2 * share;
  }

  private growLater(ms: number): void {
    this.growTimer = setTimeout(() => this.grow(), ms);
  }

  /** Hands a free, loaded container to the invocation that has waited longest. */
  private dispatch(container: Container): void {
    if (container.busy || container.dead || !container.isReady) return;
    const next = this.waiting.shift();
    if (!next) return;
    container.busy = true;
    next.take(container);
  }

  private release(container: Container): void {
    container.busy = false;
    if (container.dead) this.remove(container);
    else this.dispatch(container);
    this.grow();
  }

  private remove(container: Container): void {
    const i = this.containers.indexOf(container);
    if (i >= 0) this.containers.splice(i, 1);
  }

  private spawn(): Container {
    const { code, name, arn, memoryMb, env } = this.definition;
    const print = this.printFunctionLog;
    const options = (execArgv: string[]): WorkerOptions => ({
      env,
      execArgv,
      workerData: { file: code.file, exportName: code.exportName, functionName: name, functionArn: arn, memoryMb, discardOutput: !print },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(memoryMb, 128) },
    });
    let worker: Worker;
    try {
      worker = new Worker(join(__dirname, 'function-thread.js'), options(containerExecArgv()));
    } catch (error) {
      // Process-wide flags (V8's) are refused in a worker's execArgv: start it with none then.
      if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
      worker = new Worker(join(__dirname, 'function-thread.js'), options([]));
    }
    if (print) {
      for (const stream of [worker.stdout, worker.stderr] as Readable[]) {
        createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => print(line));
      }
    }
    const container: Container = { worker, busy: false, dead: false, isReady: false, spawnedAt: Date.now(), ready: Promise.resolve() };
    this.starting++;
    this.counters.coldStarts++;
    let loaded!: () => void;
    container.ready = new Promise<void>((resolve) => (loaded = resolve));
    const becomeReady = (cpuMs: number | undefined) => {
      if (container.isReady || container.dead) return;
      container.isReady = true;
      this.starting--;
      const initMs = Date.now() - container.spawnedAt;
      this.counters.initMs += initMs;
      // What loading costs the machine (its CPU time where the platform tells it), not how long it took on a busy one.
      const costMs = cpuMs ?? initMs;
      this.coldStartEstimateMs = this.coldStartEstimateMs === 0 ? costMs : 0.7 * this.coldStartEstimateMs + 0.3 * costMs;
      if (cpuMs !== undefined) {
        this.counters.initCpuMs += cpuMs;
        container.cpuMs = cpuMs;
      }
      loaded();
      this.dispatch(container);
    };
    worker.on('message', (m: { type: string; id?: string; ok?: boolean; value?: unknown; error?: LambdaError; cpuMs?: number; data?: Uint8Array }) => {
      if (m.type === 'chunk') {
        const pending = container.pending;
        if (pending && pending.id === m.id && m.data) pending.onChunk?.(Buffer.from(m.data));
      } else if (m.type === 'ready') becomeReady(m.cpuMs);
      else if (m.type === 'init-error') {
        // The container stays: it answers every invocation with the import error, as a Lambda sandbox whose init failed.
        this.log(`${name}: init failed: ${m.error?.errorType}: ${m.error?.errorMessage}`);
        becomeReady(m.cpuMs);
      } else if (m.type === 'result') {
        if (m.cpuMs !== undefined && container.cpuMs !== undefined) this.counters.cpuMs += m.cpuMs - container.cpuMs;
        container.cpuMs = m.cpuMs;
        const pending = container.pending;
        if (pending && pending.id === m.id) {
          container.pending = undefined;
          pending.settle(m.ok ? { ok: true, value: m.value } : { ok: false, error: m.error! });
        }
      }
    });
    const die = (error: LambdaError) => {
      if (container.dead && !container.pending) return;
      const wasLoading = !container.isReady && !container.dead;
      container.dead = true;
      if (wasLoading) {
        this.starting--;
        loaded();
      }
      const pending = container.pending;
      container.pending = undefined;
      pending?.settle({ ok: false, error });
      if (!container.busy) this.remove(container);
      this.grow();
    };
    worker.on('error', (error) => die({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: container crashed: ${error.message}` }));
    worker.on('exit', (code) => die({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with error: exit status ${code}` }));
    this.containers.push(container);
    return container;
  }

  private run(container: Container, event: unknown, requestId: string, onChunk?: (chunk: Buffer) => void): Promise<{ ok: true; value: unknown } | { ok: false; error: LambdaError }> {
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
        onChunk,
        settle: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      container.worker.postMessage({ type: 'invoke', id, event, requestId, deadline });
    });
  }
}

function emptyStats(): FunctionStats {
  return { coldStarts: 0, initMs: 0, initCpuMs: 0, invocations: 0, durationMs: 0, queuedMs: 0, cpuMs: 0, peakConcurrency: 0 };
}
