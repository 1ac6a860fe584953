import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import type { SQSEvent } from 'aws-lambda';
import { displayName, type FunctionHost, type FunctionStats, type InvocationResult } from '../local/function-host';
import type { PollerStats } from '../local/event-source-poller';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime';

/**
 * Pipeline overhead: N jobs through the whole local pipeline (HTTP -> submit function -> SQS -> poller -> worker ->
 * Bedrock simulator -> DynamoDB -> SNS), watched from outside (HTTP submit, GET polls), against a baseline of the
 * same N Converse calls made directly to the simulator on the same schedule, in one run. With a 0 ms model the
 * difference is all pipeline overhead; the report says where it goes: per job, the time in each stage (from the
 * functions' log timestamps, the poller's hand-outs and the function host's queues) and the CPU each part of the
 * runtime spent (thread CPU times), which is what bounds jobs/s on a small machine.
 */
export interface PipelineOptions {
  jobs: number;
  modelLatencyMs: number;
  /** Submissions per second, evenly spaced; 0 submits all jobs at once (a burst). */
  rate: number;
  /** Jobs run first at the same rate and left out of the figures, so the function pools are warm. */
  warmupJobs: number;
  /**
   * A pending job is polled (GET /jobs/{id}) this long after it was accepted, then again after the answer's
   * Retry-After (as a client should) but at least this often; by at most POLL_CONCURRENCY requests at once.
   */
  pollIntervalMs: number;
}

const MODEL_ID = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
/** Most direct calls in flight at once in the baseline of a burst (a steady baseline follows the jobs' schedule). */
const BASELINE_CONCURRENCY = 10;
const POLL_CONCURRENCY = 4;
const ALONE_RUNS = 5;
/** A run whose jobs are not all terminal this long after the last submit reports what it has. */
const SETTLE_TIMEOUT_MS = 120_000;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

interface JobTrace {
  submitAt: number;
  acceptedAt?: number;
  jobId?: string;
  status?: string;
  terminalAt?: number;
  seenAt?: number;
  nextPollAt: number;
}

interface RecordTrace {
  handedOutAt: number;
  startedAt: number;
  endedAt: number;
  batchSize: number;
}

interface LogMark {
  at: number;
  message: string;
  latencyMs?: number;
}

export async function pipelineBenchmark(options: PipelineOptions) {
  const logLines: Array<{ fn: string; line: string }> = [];
  let capture = false;
  const runtime = await startLocalRuntime({
    port: 0,
    quiet: true,
    config: { worker: { batchSize: 10, maxConcurrency: 10 }, plans: { default: { rateLimit: 10_000, burstLimit: 5_000 } } },
    functionLog: (fn, line) => {
      if (capture) logLines.push({ fn, line });
    },
  });
  const client = new ApiClient(runtime);
  try {
    await fetch(`${runtime.bedrockUrl}/_sim/models/*`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: { firstToken: options.modelLatencyMs, perToken: 0 } }) });

    const bedrock = new BedrockRuntimeClient({ endpoint: runtime.bedrockUrl, region: runtime.region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
    const converse = (i: number) => bedrock.send(new ConverseCommand({ modelId: MODEL_ID, messages: [{ role: 'user', content: [{ text: `job ${i}` }] }] }));
    await runConcurrently(20, BASELINE_CONCURRENCY, converse);
    const baselineStart = Date.now();
    const directLatencies = options.rate > 0 ? await runOnSchedule(options.jobs, options.rate, converse) : await runConcurrently(options.jobs, BASELINE_CONCURRENCY, converse);
    const baselineMs = Date.now() - baselineStart;
    const directOne: number[] = [];
    for (let i = 0; i < ALONE_RUNS; i++) {
      const started = Date.now();
      await converse(i);
      directOne.push(Date.now() - started);
    }
    bedrock.destroy();

    const alone: number[] = [];
    for (let i = 0; i < ALONE_RUNS; i++) {
      const [trace] = await runJobs(client, 1, 0, options.pollIntervalMs / 4);
      if (trace.terminalAt) alone.push(trace.terminalAt - trace.submitAt);
    }
    if (options.warmupJobs > 0) await runJobs(client, options.warmupJobs, options.rate, options.pollIntervalMs);

    const worker = [...runtime.functions.values()].find((f) => /worker/i.test(f.definition.logicalId));
    const records = new Map<string, RecordTrace>();
    if (worker) traceRecords(worker, records);
    for (const fn of runtime.functions.values()) fn.resetStats();
    for (const poller of runtime.pollers.values()) poller.resetStats();
    runtime.faults.resetStats();
    await fetch(`${runtime.bedrockUrl}/_sim/reset`, { method: 'POST' }).catch(() => undefined);
    await fetch(`${runtime.bedrockUrl}/_sim/models/*`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: { firstToken: options.modelLatencyMs, perToken: 0 } }) });
    const load = loadavg()[0];
    capture = true;
    const cpuBefore = cpuSnapshot();
    const traces = await runJobs(client, options.jobs, options.rate, options.pollIntervalMs);
    const cpuAfter = cpuSnapshot();
    capture = false;

    const functionStats = Object.fromEntries([...runtime.functions.values()].map((f) => [displayName(f.name), f.stats()] as const).filter(([, s]) => s.invocations > 0 || s.coldStarts > 0));
    const pollerStats = Object.fromEntries([...runtime.pollers].map(([id, p]) => [displayName(id), p.stats()] as const).filter(([, s]) => s.receives > 0));
    const awsCalls = awsCallCounts(runtime);
    const done = traces.filter((t) => t.terminalAt !== undefined);
    const first = Math.min(...traces.map((t) => t.submitAt));
    const lastTerminal = Math.max(...done.map((t) => t.terminalAt!));
    const pipelineMs = lastTerminal - first;
    const latencies = done.map((t) => t.terminalAt! - t.submitAt);
    const stages = stageBreakdown(traces, records, logMarks(logLines), options.modelLatencyMs);
    const cpu = cpuBreakdown(cpuBefore, cpuAfter, functionStats, options.jobs);
    const result = {
      name: 'pipeline',
      jobs: options.jobs,
      submission: options.rate > 0 ? `steady ${options.rate}/s` : 'burst',
      warmupJobs: options.warmupJobs,
      modelLatencyMs: options.modelLatencyMs,
      baselineMs,
      pipelineMs,
      submitSpanMs: Math.max(...traces.map((t) => t.submitAt)) - first,
      ratio: round(pipelineMs / Math.max(1, baselineMs)),
      jobsPerSecond: round(done.length / (pipelineMs / 1000)),
      submitToTerminalMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
      submitToSeenMs: { p50: percentile(done.map((t) => t.seenAt! - t.submitAt), 50), p99: percentile(done.map((t) => t.seenAt! - t.submitAt), 99) },
      oneJobAloneMs: { p50: percentile(alone, 50), runs: alone },
      directCallAloneMs: { p50: percentile(directOne, 50) },
      directCallMs: { p50: percentile(directLatencies, 50), p99: percentile(directLatencies, 99), last: directLatencies[directLatencies.length - 1] },
      succeeded: traces.filter((t) => t.status === 'SUCCEEDED').length,
      failed: traces.filter((t) => t.status === 'FAILED').length,
      notTerminal: traces.length - done.length,
      stagesMs: stages,
      cpuMsPerJob: cpu,
      awsCallsPerJob: Object.fromEntries(Object.entries(awsCalls).map(([op, n]) => [op, round(n / options.jobs)])),
      functions: functionStats,
      pollers: pollerStats,
      machine: { cores: availableParallelism(), loadAverage1m: round(load), functionLogsCaptured: true },
    };
    return { ...result, summary: summarize(result) };
  } finally {
    client.destroy();
    await runtime.stop();
  }
}

/** Submits `count` jobs (evenly over count/rate seconds, or at once) and polls each until it is terminal. */
async function runJobs(client: ApiClient, count: number, rate: number, pollIntervalMs: number): Promise<JobTrace[]> {
  const start = Date.now();
  const traces: JobTrace[] = [];
  const due: JobTrace[] = [];
  const waiting = new Set<() => void>();
  const wake = () => {
    for (const resolve of waiting) resolve();
    waiting.clear();
  };
  const schedule = (trace: JobTrace, afterMs = pollIntervalMs) => {
    trace.nextPollAt = Date.now() + afterMs;
    // Polls stay in due order: one asked to wait longer goes behind those due before it.
    let at = due.length;
    while (at > 0 && due[at - 1].nextPollAt > trace.nextPollAt) at--;
    due.splice(at, 0, trace);
    wake();
  };
  let submitting = count;
  let settleBy = Infinity;
  const submitOne = async (i: number) => {
    const at = rate > 0 ? start + (i * 1000) / rate : start;
    if (at > Date.now()) await sleep(at - Date.now());
    const trace: JobTrace = { submitAt: Date.now(), nextPollAt: Infinity };
    traces.push(trace);
    try {
      const res = await client.request('POST', '/jobs', JSON.stringify({ prompt: `job ${i}` }));
      trace.acceptedAt = Date.now();
      if (res.status === 202) {
        trace.jobId = (JSON.parse(res.body) as { jobId: string }).jobId;
        schedule(trace);
      } else trace.status = `HTTP ${res.status}`;
    } catch (error) {
      trace.status = (error as Error).message;
    } finally {
      if (--submitting === 0) settleBy = Date.now() + SETTLE_TIMEOUT_MS;
      wake();
    }
  };
  let polling = 0;
  const pollLane = async () => {
    for (;;) {
      const next = due.shift();
      if (!next) {
        if (submitting === 0 && polling === 0) {
          wake();
          return;
        }
        await new Promise<void>((resolve) => waiting.add(resolve));
        continue;
      }
      if (Date.now() > settleBy) {
        wake();
        return;
      }
      if (next.nextPollAt > Date.now()) await sleep(next.nextPollAt - Date.now());
      polling++;
      const res = await client.request('GET', `/jobs/${next.jobId}`).catch(() => undefined);
      polling--;
      const job = res?.status === 200 ? (JSON.parse(res.body) as { status: string; updatedAt: string }) : undefined;
      if (job && TERMINAL.has(job.status)) {
        next.status = job.status;
        next.terminalAt = Date.parse(job.updatedAt);
        next.seenAt = Date.now();
      } else schedule(next, Math.max(pollIntervalMs, Number(res?.headers['retry-after'] ?? 0) * 1000 || 0));
    }
  };
  await Promise.all([...Array.from({ length: count }, (_, i) => submitOne(i)), ...Array.from({ length: POLL_CONCURRENCY }, pollLane)]);
  return traces;
}

/** Notes, for each SQS record the worker gets, when the poller handed it out, when its invocation started and ended. */
function traceRecords(worker: FunctionHost, into: Map<string, RecordTrace>): void {
  const invoke = worker.invoke.bind(worker);
  worker.invoke = async (event: unknown): Promise<InvocationResult> => {
    const handedOutAt = Date.now();
    const result = await invoke(event);
    const endedAt = Date.now();
    const recordsOf = (event as Partial<SQSEvent>).Records ?? [];
    for (const record of recordsOf) {
      const jobId = jobIdOf(record.body);
      if (jobId) into.set(jobId, { handedOutAt, startedAt: handedOutAt + (result.queuedMs ?? 0), endedAt, batchSize: recordsOf.length });
    }
    return result;
  };
}

function jobIdOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { jobId?: unknown };
    return typeof parsed.jobId === 'string' ? parsed.jobId : undefined;
  } catch {
    return undefined;
  }
}

/** The functions' Powertools log lines that mark a job's progress, by job id. */
function logMarks(lines: Array<{ fn: string; line: string }>): Map<string, LogMark[]> {
  const marks = new Map<string, LogMark[]>();
  for (const { line } of lines) {
    if (!line.startsWith('{') || !line.includes('"jobId"')) continue;
    try {
      const entry = JSON.parse(line) as { message?: string; timestamp?: string; jobId?: string; latencyMs?: number };
      if (!entry.jobId || !entry.message || !entry.timestamp) continue;
      const list = marks.get(entry.jobId) ?? [];
      list.push({ at: Date.parse(entry.timestamp), message: entry.message, latencyMs: entry.latencyMs });
      marks.set(entry.jobId, list);
    } catch {
      // not a JSON log line
    }
  }
  return marks;
}

/**
 * Per job, the time in each stage, from what the runtime can observe: the client (submit, poll), the submit and
 * worker functions' INFO log timestamps ('job queued', 'job succeeded' with its model latency), the poller's
 * hand-out and the function host's queue. Medians (p50) and means over the jobs that have the marks.
 */
function stageBreakdown(traces: JobTrace[], records: Map<string, RecordTrace>, marks: Map<string, LogMark[]>, modelLatencyMs: number) {
  const stages: Record<string, number[]> = {
    submit: [],
    queueWait: [],
    containerWait: [],
    besideModel: [],
    modelCall: [],
    eventPublishAndBatchEnd: [],
    terminalToSeen: [],
  };
  const batchSizes: number[] = [];
  for (const trace of traces) {
    if (!trace.jobId) continue;
    const list = marks.get(trace.jobId) ?? [];
    const at = (message: string) => list.find((m) => m.message === message);
    const queued = at('job queued');
    const succeeded = at('job succeeded') ?? at('job failed');
    const record = records.get(trace.jobId);
    if (queued) stages.submit.push(queued.at - trace.submitAt);
    if (queued && record) stages.queueWait.push(record.handedOutAt - queued.at);
    if (record) {
      stages.containerWait.push(record.startedAt - record.handedOutAt);
      batchSizes.push(record.batchSize);
    }
    // The worker logs a job once at INFO, after its terminal write, with the model call's latency (the claim and the
    // model call are DEBUG lines, which a run at the default log level does not write).
    if (record && succeeded) {
      const callMs = succeeded.latencyMs ?? modelLatencyMs;
      stages.modelCall.push(callMs);
      stages.besideModel.push(succeeded.at - record.startedAt - callMs);
    }
    if (succeeded && record) stages.eventPublishAndBatchEnd.push(record.endedAt - succeeded.at);
    if (trace.terminalAt && trace.seenAt) stages.terminalToSeen.push(trace.seenAt - trace.terminalAt);
  }
  return {
    ...Object.fromEntries(Object.entries(stages).map(([name, values]) => [name, { p50: percentile(values, 50), mean: round(mean(values)), jobs: values.length }])),
    workerBatchSize: { mean: round(mean(batchSizes)) },
  };
}

interface CpuSnapshot {
  processMs: number;
  mainThreadMs?: number;
  childrenMs?: number;
}

/** CPU time of this process (all threads), of its main thread, and of its children (fauxqs), where Linux tells them. */
function cpuSnapshot(): CpuSnapshot {
  const usage = process.cpuUsage();
  const snapshot: CpuSnapshot = { processMs: (usage.user + usage.system) / 1000 };
  try {
    snapshot.mainThreadMs = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
    let children = 0;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[1]) === process.pid) children += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
      } catch {
        // the process ended meanwhile
      }
    }
    snapshot.childrenMs = children;
  } catch {
    // not Linux: process totals only
  }
  return snapshot;
}

/** CPU per job by part of the runtime: each function's invocations and cold starts, the main thread, the rest. */
function cpuBreakdown(before: CpuSnapshot, after: CpuSnapshot, functions: Record<string, FunctionStats>, jobs: number) {
  const perJob = (ms: number) => round(ms / jobs);
  const breakdown: Record<string, number> = {};
  let inFunctions = 0;
  for (const [name, stats] of Object.entries(functions)) {
    breakdown[`${name} invocations`] = perJob(stats.cpuMs);
    if (stats.initCpuMs > 0) breakdown[`${name} cold starts (${stats.coldStarts})`] = perJob(stats.initCpuMs);
    inFunctions += stats.cpuMs + stats.initCpuMs;
  }
  const processMs = after.processMs - before.processMs;
  if (after.mainThreadMs !== undefined && before.mainThreadMs !== undefined) {
    const main = after.mainThreadMs - before.mainThreadMs;
    breakdown['main thread (REST API, pollers, fault proxies, dynalite, Bedrock simulator, this client)'] = perJob(main);
    breakdown['other threads (V8 JIT compilation and GC, libuv)'] = perJob(processMs - main - inFunctions);
  } else {
    breakdown['main thread and other threads'] = perJob(processMs - inFunctions);
  }
  if (after.childrenMs !== undefined && before.childrenMs !== undefined) breakdown['fauxqs (SQS, SNS, S3; child process)'] = perJob(after.childrenMs - before.childrenMs);
  breakdown.total = perJob(processMs + (after.childrenMs ?? 0) - (before.childrenMs ?? 0));
  return breakdown;
}

function awsCallCounts(runtime: LocalRuntime): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [service, operations] of Object.entries(runtime.faults.stats().services)) {
    for (const [operation, stats] of Object.entries(operations ?? {})) counts[`${service}:${operation}`] = (stats as { requests: number }).requests;
  }
  for (const poller of runtime.pollers.values()) {
    const stats: PollerStats = poller.stats();
    if (!stats.receives) continue;
    counts['sqs:ReceiveMessage (poller)'] = (counts['sqs:ReceiveMessage (poller)'] ?? 0) + stats.receives;
    counts['sqs:DeleteMessageBatch (poller)'] = (counts['sqs:DeleteMessageBatch (poller)'] ?? 0) + stats.batches;
  }
  return counts;
}

interface PipelineResult {
  jobs: number;
  submission: string;
  warmupJobs: number;
  modelLatencyMs: number;
  baselineMs: number;
  pipelineMs: number;
  submitSpanMs: number;
  ratio: number;
  jobsPerSecond: number;
  submitToTerminalMs: { p50: number; p99: number };
  submitToSeenMs: { p50: number };
  oneJobAloneMs: { p50: number };
  directCallAloneMs: { p50: number };
  directCallMs: { p50: number; p99: number; last: number };
  succeeded: number;
  failed: number;
  notTerminal: number;
  stagesMs: Record<string, { p50?: number; mean: number }>;
  cpuMsPerJob: Record<string, number>;
  awsCallsPerJob: Record<string, number>;
  machine: { cores: number; loadAverage1m: number };
}

function summarize(r: PipelineResult): string {
  const stages = r.stagesMs;
  const cpu = r.cpuMsPerJob;
  const cores = r.machine.cores;
  const ceiling = Math.round((cores * 1000) / Math.max(1, cpu.total));
  const lines = [
    `pipeline: ${r.jobs} jobs (${r.submission}, after ${r.warmupJobs} warm-up jobs), model latency ${r.modelLatencyMs} ms, ${cores} cores, load average ${r.machine.loadAverage1m}`,
    `  ${r.jobsPerSecond} jobs/s; submit-to-terminal p50 ${r.submitToTerminalMs.p50} ms, p99 ${r.submitToTerminalMs.p99} ms (seen by polls: p50 ${r.submitToSeenMs.p50} ms); one job alone p50 ${r.oneJobAloneMs.p50} ms; ${r.succeeded} succeeded, ${r.failed} failed, ${r.notTerminal} not terminal`,
    r.submission === 'burst'
      ? `  ratio ${r.ratio}x: ${r.pipelineMs} ms through the pipeline vs ${r.baselineMs} ms for the same ${r.jobs} Converse calls made directly (${BASELINE_CONCURRENCY} at a time, p50 ${r.directCallMs.p50} ms each; one alone p50 ${r.directCallAloneMs.p50} ms).`
      : `  ratio ${r.ratio}x: ${r.pipelineMs} ms through the pipeline vs ${r.baselineMs} ms for the same ${r.jobs} Converse calls made directly on the same schedule (p50 ${r.directCallMs.p50} ms, p99 ${r.directCallMs.p99} ms each). Both runs last at least the ${r.submitSpanMs} ms the schedule takes to submit; past it, the pipeline took ${r.pipelineMs - r.submitSpanMs} ms to finish its last job; the last direct call took ${r.directCallMs.last} ms. jobs/s is jobs / (first submit to last terminal), so it stays under the offered rate.`,
    `  The model's own time is ${r.modelLatencyMs} ms a job; the rest is what the pipeline adds. Where a job's time goes (p50 / mean ms):`,
    ...Object.entries(stages)
      .filter(([name]) => name !== 'workerBatchSize')
      .map(([name, s]) => `    ${name.padEnd(26)} ${String(s.p50).padStart(7)} / ${String(s.mean).padStart(7)}   ${STAGE_NOTES[name] ?? ''}`),
    `    worker batches: ${stages.workerBatchSize.mean} records on average`,
    `  CPU per job (ms), which bounds jobs/s at about ${ceiling} on ${cores} idle cores (${cpu.total} ms a job):`,
    ...Object.entries(cpu)
      .filter(([name]) => name !== 'total')
      .map(([name, ms]) => `    ${String(ms).padStart(6)}  ${name}`),
    `  AWS calls per job: ${Object.entries(r.awsCallsPerJob).map(([op, n]) => `${op} ${n}`).join(', ')}`,
  ];
  return lines.join('\n');
}

const STAGE_NOTES: Record<string, string> = {
  submit: 'POST /jobs until the submit function has enqueued the job (REST API, function, item write, SendMessage)',
  queueWait: 'enqueued until the poller hands the record to the worker function',
  containerWait: 'handed out until a worker container is free',
  besideModel: 'invocation start until the terminal write, less the model call (claim, routing, breaker and capacity reads, terminal write; records before it in the batch)',
  modelCall: 'the Converse call as the worker timed it (the simulator itself answers after the model latency)',
  eventPublishAndBatchEnd: 'terminal write until the invocation ends (SNS event, bookkeeping, rest of the batch)',
  terminalToSeen: 'terminal until a GET poll sees it (the client polls as Retry-After says)',
};

class ApiClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly url: URL;

  constructor(private readonly runtime: LocalRuntime) {
    this.url = new URL(runtime.apiUrl);
  }

  async request(method: string, path: string, body?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    try {
      return await this.once(method, path, body);
    } catch (error) {
      // The server may close an idle kept-alive socket just as it is reused: that request never reached it.
      if ((error as { reusedSocket?: boolean }).reusedSocket && (error as NodeJS.ErrnoException).code === 'ECONNRESET') return this.once(method, path, body);
      throw error;
    }
  }

  private once(method: string, path: string, body?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'x-api-key': this.runtime.apiKey ?? '' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = http.request({ host: '127.0.0.1', port: this.url.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
      req.end(body);
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}

/** Runs `count` tasks, at most `concurrency` at once; resolves with each one's latency (ms). */
async function runConcurrently(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number[]> {
  let next = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const started = Date.now();
        await task(next++);
        latencies.push(Date.now() - started);
      }
    }),
  );
  return latencies;
}

/** Starts `count` tasks evenly spaced at `rate` per second (as runJobs submits jobs); resolves with each one's latency (ms). */
async function runOnSchedule(count: number, rate: number, task: (i: number) => Promise<unknown>): Promise<number[]> {
  const start = Date.now();
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const at = start + (i * 1000) / rate;
      if (at > Date.now()) await sleep(at - Date.now());
      const started = Date.now();
      await task(i);
      return Date.now() - started;
    }),
  );
}

function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
const round = (n: number) => Math.round(n * 10) / 10;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
