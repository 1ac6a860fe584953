import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { DescribeTableCommand, DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { cpus, loadavg } from 'node:os';
import { parseConfig } from '../../lib/config';
import { startEmulators } from '../../local/emulators';
import { displayName, type FunctionHost, type InvocationResult } from '../../local/function-host';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime';
import { readScheduledRules } from '../../local/scheduled-rules';
import { localCredentials } from '../../local/topology';
import { CallRecorder, type RecordedCall } from './recorder';
import { itemSize, STORAGE_OVERHEAD_BYTES_PER_ITEM, type Item } from './units';

/** What to run through the local pipeline: N jobs of a given shape, on the stack as configured. */
export interface Workload {
  /** Jobs measured (after the warm-up). */
  jobs: number;
  /** Jobs run first and not counted, so every container the run uses is warm. */
  warmupJobs: number;
  promptBytes: number;
  /** UTF-8 bytes of the model's answer text (the simulator is told how many tokens make that many bytes). */
  resultBytes: number;
  /** worker.batchSize of the measured stack. */
  batchSize: number;
  /** worker.memorySize of the measured stack (MB). */
  workerMemoryMb: number;
  /** worker.maxConcurrency: concurrent worker invocations (local containers) during the run. */
  workerConcurrency: number;
  /** Submits (and polls) in flight at once, kept below the functions' container count so none waits for one. */
  clientConcurrency: number;
  /** Latency the simulator adds to each call during the run (ms); the model latency of the report is added apart. */
  simulatedLatencyMs: number;
  /** Further Quarry configuration, merged over the run's own. */
  config?: Record<string, unknown>;
}

export const DEFAULT_WORKLOAD: Workload = {
  jobs: 200,
  warmupJobs: 20,
  promptBytes: 1024,
  resultBytes: 2048,
  batchSize: 10,
  workerMemoryMb: 256,
  workerConcurrency: 2,
  clientConcurrency: 2,
  simulatedLatencyMs: 0,
};

/** AWS calls of one kind (service, operation, caller) summed over a phase. */
export interface CallTotals {
  service: string;
  operation: string;
  caller: RecordedCall['caller'];
  requests: number;
  billedRequests: number;
  payloadBytes: number;
  readUnits: number;
  writeUnits: number;
  indexWriteUnits: number;
  approximate: number;
  addedMs: number;
  /** Item kinds touched (DynamoDB), with request counts. */
  kinds: Record<string, number>;
  /** The units of those requests, by item kind. */
  unitsByKind: Record<string, { readUnits: number; writeUnits: number; indexWriteUnits: number }>;
}

export interface FunctionTotals {
  logicalId: string;
  name: string;
  memoryMb: number;
  invocations: number;
  /** Invocations the API made (their traces start at API Gateway). */
  apiInvocations: number;
  failed: number;
  /** Sum of the local durations (ms). */
  durationMs: number;
  /** Sum of the durations rounded up to whole milliseconds, as Lambda bills them. */
  billedMs: number;
  /** Median local duration (ms). */
  p50Ms: number;
  /** SQS records delivered (event source invocations). */
  records: number;
  logEvents: number;
  logBytes: number;
}

/** What one phase of the run (jobs, polls, a schedule run) cost, in totals; `units` is what to divide them by. */
export interface PhaseTotals {
  units: number;
  calls: CallTotals[];
  functions: FunctionTotals[];
  apiRequests: number;
  apiResponseBytes: number;
  wallMs: number;
}

export interface Measurement {
  workload: Workload;
  measuredAt: string;
  /** The function the jobs queue's event source mapping invokes. */
  workerLogicalId?: string;
  jobs: PhaseTotals;
  polls: PhaseTotals;
  schedules: Array<{ rule: string; expression: string; runsPerMonth: number; phase: PhaseTotals }>;
  /** Table bytes (items + 100 B each) the measured jobs added, by item kind. */
  storageByKind: Record<string, { items: number; bytes: number }>;
  /** Bytes the functions put into S3 during the jobs phase. */
  s3BytesPut: number;
  results: { succeeded: number; failed: number; meanTextBytes: number; meanOutputTokens: number };
  outputTokensPerJob: number;
  /** `tracing`: whether the stack as configured traces with X-Ray (functions.tracing); absent in older results: it did. */
  settings: { jobTtlDays: number; resultsExpirationDays: number; resultInlineMaxBytes: number; tracing?: boolean };
  /** `logging`: the functions' LoggingConfig (the worker's); absent in older results: Lambda's text format. */
  template: { alarms: number; dashboards: number; kmsKeys: number; sqsEventSourceMappings: number; logging?: { format?: string; systemLogLevel?: string } };
  /** Distinct custom metrics (namespace, name, dimension values) the functions emitted as EMF. */
  customMetrics: number;
  /** The machine the durations were measured on: cores and 1-minute load average at the start and the end of the jobs. */
  machine: { cpus: number; loadBefore: number; loadAfter: number };
}

/** The LoggingConfig of the worker function in the template: its log format and system log level. */
function workerLoggingConfig(rt: LocalRuntime, workerLogicalId: string | undefined): { format?: string; systemLogLevel?: string } | undefined {
  const config = rt.topology.ofType('AWS::Lambda::Function').find(([id]) => id === workerLogicalId)?.[1].Properties?.LoggingConfig as { LogFormat?: string; SystemLogLevel?: string } | undefined;
  return config && { format: config.LogFormat, systemLogLevel: config.SystemLogLevel };
}

/** A month as AWS bills it: 730 hours. */
export const MONTH_MS = 730 * 3600 * 1000;
const DEFAULT_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

interface Invocation {
  logicalId: string;
  durationMs: number;
  ok: boolean;
  viaApi: boolean;
  records: number;
  sourceArn?: string;
}

interface LogLine {
  functionName: string;
  bytes: number;
}

/** A prompt of exactly `bytes` ASCII bytes, different for every `n` (so no response cache can answer it). */
export function promptOf(n: number, bytes: number): string {
  const head = `Job ${n}: summarise the following text. `;
  const filler = 'lorem ipsum dolor sit amet consectetur adipiscing elit ';
  let text = head;
  while (text.length < bytes) text += filler;
  return text.slice(0, Math.max(1, bytes));
}

async function runConcurrently<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

async function waitUntil(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`cost measurement: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function median(values: number[]): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summarizeCalls(calls: RecordedCall[]): CallTotals[] {
  const byKey = new Map<string, CallTotals>();
  for (const c of calls) {
    const key = `${c.caller}:${c.service}:${c.operation}`;
    let t = byKey.get(key);
    if (!t) {
      t = { service: c.service, operation: c.operation, caller: c.caller, requests: 0, billedRequests: 0, payloadBytes: 0, readUnits: 0, writeUnits: 0, indexWriteUnits: 0, approximate: 0, addedMs: 0, kinds: {}, unitsByKind: {} };
      byKey.set(key, t);
    }
    t.requests++;
    t.billedRequests += c.billedRequests;
    t.payloadBytes += c.payloadBytes;
    t.readUnits += c.readUnits;
    t.writeUnits += c.writeUnits;
    t.indexWriteUnits += c.indexWriteUnits;
    t.approximate += c.approximate ? 1 : 0;
    t.addedMs += c.addedMs;
    if (c.itemKind) {
      t.kinds[c.itemKind] = (t.kinds[c.itemKind] ?? 0) + 1;
      const units = (t.unitsByKind[c.itemKind] ??= { readUnits: 0, writeUnits: 0, indexWriteUnits: 0 });
      units.readUnits += c.readUnits;
      units.writeUnits += c.writeUnits;
      units.indexWriteUnits += c.indexWriteUnits;
    }
  }
  return [...byKey.values()].sort((a, b) => `${a.caller}${a.service}${a.operation}`.localeCompare(`${b.caller}${b.service}${b.operation}`));
}

/**
 * Runs a workload through the whole local pipeline and measures what it cost on the wire: every AWS request the
 * functions made (by a recording proxy between the runtime and the emulators, see recorder.ts), every function
 * invocation with its local duration and the configured memory, every log line the functions wrote, the API
 * calls and their answers, the table's growth, and one run of each scheduled rule.
 *
 * Phases: warm-up (not counted), jobs (submit until every job's SNS event is out and the pipeline is quiet), one
 * poll of each job (GET /jobs/{id}, priced apart), then each rate-scheduled rule once.
 */
export async function measureWorkload(input: Partial<Workload> = {}, options: { log?: (line: string) => void; outdir?: string; reuseAssembly?: boolean } = {}): Promise<Measurement> {
  const workload: Workload = { ...DEFAULT_WORKLOAD, ...input };
  const log = options.log ?? (() => undefined);
  const region = 'us-east-1';
  const hostEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_ENDPOINT_URL')));
  const config = {
    plans: { default: { rateLimit: 10_000, burstLimit: 5_000 } },
    ...workload.config,
    worker: {
      batchSize: workload.batchSize,
      // The report prices batchSize records per invocation, as at volume, when jobs wait for the worker: the run
      // holds each batch open up to a second so its batches fill the same way and what a worker does once per
      // invocation (the breaker's count of successes) is measured per job as it is billed. (SQS gives a batch of
      // more than 10 records only to a mapping with a batching window anyway.)
      maxBatchingWindowSeconds: 1,
      memorySize: workload.workerMemoryMb,
      maxConcurrency: workload.workerConcurrency,
      // The simulator answers as fast as it is told to, so the worker-timeout check may assume a fast model.
      assumedOutputTokensPerSecond: 10_000,
      ...(workload.config?.worker as object | undefined),
    },
  };
  const settings = parseConfig(config);

  const emulators = await startEmulators({ region, env: hostEnv });
  const recorder = new CallRecorder(emulators.endpoints, region);
  const raw = new DynamoDBClient({ endpoint: emulators.endpoints.dynamodb, region, credentials: localCredentials });
  const logLines: LogLine[] = [];
  const metricIds = new Set<string>();
  let runtime: LocalRuntime | undefined;
  try {
    const endpoints = await recorder.start();
    log('starting the local runtime (synth, emulators, functions)');
    runtime = await startLocalRuntime({
      port: 0,
      quiet: true,
      region,
      scheduleIntervalMs: 0,
      config,
      outdir: options.outdir,
      reuseAssembly: options.reuseAssembly,
      env: { ...hostEnv, AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb, AWS_ENDPOINT_URL_SQS: endpoints.sqs, AWS_ENDPOINT_URL_SNS: endpoints.sns, AWS_ENDPOINT_URL_S3: endpoints.s3 },
      log: (line) => log(`runtime: ${line}`),
      functionLog: (functionName, line) => {
        // CloudWatch Logs bills each event's UTF-8 bytes plus 26 bytes of event overhead.
        logLines.push({ functionName, bytes: Buffer.byteLength(line, 'utf8') + 26 });
        if (line.includes('"_aws"')) collectMetricIds(line, metricIds);
      },
    });
    const rt = runtime;

    const invocations: Invocation[] = [];
    let running = 0;
    for (const host of rt.functions.values()) wrapInvoke(host, invocations, (d) => (running += d));
    const jobsQueueArn = [...rt.topology.resources.values()].find((r) => r.type === 'AWS::SQS::Queue' && r.ref === rt.resources.jobsQueueUrl)?.attributes.Arn;

    const outputTokens = await calibrateOutputTokens(rt, workload.resultBytes);
    await simulatorSettings(rt, { latencyMs: { firstToken: workload.simulatedLatencyMs, perToken: 0 }, outputTokens });

    const apiKey = rt.apiKey ?? '';
    const api = { requests: 0, responseBytes: 0 };
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${rt.apiUrl}${path}`, {
        method,
        headers: { 'x-api-key': apiKey, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      api.requests++;
      let headerBytes = 17;
      response.headers.forEach((value, name) => (headerBytes += name.length + value.length + 4));
      api.responseBytes += headerBytes + Buffer.byteLength(text, 'utf8');
      return { status: response.status, json: JSON.parse(text) as any };
    };
    const publishes = (from: number) => recorder.since(from).filter((c) => c.caller === 'function' && c.service === 'sns' && c.status === 200).length;
    const quiet = () => running === 0 && recorder.idle(1000);
    const submitJobs = async (count: number, offset: number) =>
      runConcurrently(count, workload.clientConcurrency, async (i) => {
        const res = await call('POST', '/jobs', { prompt: promptOf(offset + i, workload.promptBytes) });
        if (res.status !== 202) throw new Error(`cost measurement: POST /jobs answered ${res.status}: ${JSON.stringify(res.json)}`);
        return res.json.jobId as string;
      });
    const timeoutMs = Math.max(300_000, (workload.jobs + workload.warmupJobs) * (workload.simulatedLatencyMs + 500));

    log(`warm-up: ${workload.warmupJobs} jobs`);
    const warmMark = recorder.mark();
    const warmIds = await submitJobs(workload.warmupJobs, 1_000_000);
    await waitUntil('the warm-up jobs to finish', () => publishes(warmMark) >= warmIds.length && quiet(), timeoutMs);
    await runConcurrently(warmIds.length, workload.clientConcurrency, (i) => call('GET', `/jobs/${warmIds[i]}`));

    const phase = async (units: number, work: () => Promise<void>): Promise<PhaseTotals> => {
      const callMark = recorder.mark();
      const invocationMark = invocations.length;
      const logMark = logLines.length;
      const apiMark = { ...api };
      const started = Date.now();
      await work();
      const wallMs = Date.now() - started;
      return {
        units,
        calls: summarizeCalls(recorder.since(callMark)),
        functions: functionTotals(rt, invocations.slice(invocationMark), logLines.slice(logMark)),
        apiRequests: api.requests - apiMark.requests,
        apiResponseBytes: api.responseBytes - apiMark.responseBytes,
        wallMs,
      };
    };

    const before = await tableContents(raw, rt.resources.jobsTable);
    const loadBefore = loadavg()[0];
    log(`jobs: ${workload.jobs} jobs, prompt ${workload.promptBytes} B, answer ${workload.resultBytes} B (${outputTokens} tokens)`);
    let ids: string[] = [];
    const jobs = await phase(workload.jobs, async () => {
      const mark = recorder.mark();
      ids = await submitJobs(workload.jobs, 0);
      await waitUntil('every job to finish and announce itself', () => publishes(mark) >= ids.length && quiet(), timeoutMs);
    });
    const loadAfter = loadavg()[0];
    const after = await tableContents(raw, rt.resources.jobsTable);
    const s3BytesPut = jobs.calls.filter((c) => c.caller === 'function' && c.service === 's3' && c.operation === 'PutObject').reduce((sum, c) => sum + c.payloadBytes, 0);

    log('polls: one GET /jobs/{id} per job');
    const answers: any[] = [];
    const polls = await phase(ids.length, async () => {
      answers.push(...(await runConcurrently(ids.length, workload.clientConcurrency, async (i) => (await call('GET', `/jobs/${ids[i]}`)).json)));
      await waitUntil('the polls to settle', () => quiet(), 30_000);
    });

    const schedules: Measurement['schedules'] = [];
    for (const rule of readScheduledRules(rt.topology, () => undefined)) {
      if (!rule.enabled || rule.schedule.kind !== 'rate') continue;
      log(`schedule: one run of ${rule.logicalId} (${rule.expression})`);
      const runPhase = await phase(1, async () => {
        await rt.runScheduled(rule.logicalId);
        await waitUntil(`the run of ${rule.logicalId} to settle`, () => quiet(), 30_000);
      });
      schedules.push({ rule: rule.logicalId, expression: rule.expression, runsPerMonth: MONTH_MS / rule.schedule.intervalMs, phase: runPhase });
    }

    const succeeded = answers.filter((a) => a?.status === 'SUCCEEDED');
    const workerLogicalId = invocations.find((i) => i.sourceArn && i.sourceArn === jobsQueueArn)?.logicalId;
    return {
      workload,
      measuredAt: new Date().toISOString(),
      workerLogicalId,
      jobs,
      polls,
      schedules,
      storageByKind: growth(before, after),
      s3BytesPut,
      results: {
        succeeded: succeeded.length,
        failed: answers.length - succeeded.length,
        meanTextBytes: mean(succeeded.map((a) => Buffer.byteLength(String(a.result?.text ?? ''), 'utf8'))),
        meanOutputTokens: mean(succeeded.map((a) => Number(a.result?.usage?.outputTokens ?? 0))),
      },
      outputTokensPerJob: outputTokens,
      settings: { jobTtlDays: settings.jobs.ttlDays, resultsExpirationDays: settings.results.expirationDays, resultInlineMaxBytes: settings.results.inlineMaxBytes, tracing: settings.functions.tracing },
      template: {
        alarms: rt.topology.ofType('AWS::CloudWatch::Alarm').length,
        dashboards: rt.topology.ofType('AWS::CloudWatch::Dashboard').length,
        kmsKeys: rt.topology.ofType('AWS::KMS::Key').length,
        sqsEventSourceMappings: rt.topology.ofType('AWS::Lambda::EventSourceMapping').filter(([, r]) => r.Properties?.Enabled !== false).length,
        logging: workerLoggingConfig(rt, workerLogicalId),
      },
      customMetrics: metricIds.size,
      machine: { cpus: cpus().length, loadBefore, loadAfter },
    };
  } finally {
    await runtime?.stop();
    await recorder.stop();
    raw.destroy();
    await emulators.stop();
  }
}

const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);

/** Records every invocation of a function as its callers (API server, pollers, schedules) make them. */
function wrapInvoke(host: FunctionHost, into: Invocation[], running: (delta: number) => void): void {
  const invoke = host.invoke.bind(host);
  host.invoke = async (event: unknown): Promise<InvocationResult> => {
    running(1);
    try {
      const result = await invoke(event);
      const records = (event as { Records?: Array<{ eventSourceARN?: string }> } | undefined)?.Records;
      const viaApi = Boolean((event as { requestContext?: unknown; httpMethod?: unknown } | undefined)?.httpMethod);
      into.push({ logicalId: host.definition.logicalId, durationMs: result.durationMs, ok: result.ok, viaApi, records: Array.isArray(records) ? records.length : 0, sourceArn: Array.isArray(records) ? records[0]?.eventSourceARN : undefined });
      return result;
    } finally {
      running(-1);
    }
  };
}

function functionTotals(runtime: LocalRuntime, invocations: Invocation[], lines: LogLine[]): FunctionTotals[] {
  const totals: FunctionTotals[] = [];
  for (const host of runtime.functions.values()) {
    const mine = invocations.filter((i) => i.logicalId === host.definition.logicalId);
    const shortName = displayName(host.name);
    const logs = lines.filter((l) => l.functionName === shortName || l.functionName === host.name);
    if (!mine.length && !logs.length) continue;
    totals.push({
      logicalId: host.definition.logicalId,
      name: host.name,
      memoryMb: host.definition.memoryMb,
      invocations: mine.length,
      apiInvocations: mine.filter((i) => i.viaApi).length,
      failed: mine.filter((i) => !i.ok).length,
      durationMs: mine.reduce((s, i) => s + i.durationMs, 0),
      billedMs: mine.reduce((s, i) => s + Math.max(1, Math.ceil(i.durationMs)), 0),
      p50Ms: median(mine.map((i) => i.durationMs)),
      records: mine.reduce((s, i) => s + i.records, 0),
      logEvents: logs.length,
      logBytes: logs.reduce((s, l) => s + l.bytes, 0),
    });
  }
  return totals;
}

/** Every item of the table by kind (partition key prefix up to `#`), with its storage bytes. */
async function tableContents(client: DynamoDBClient, table: string | undefined): Promise<Record<string, { items: number; bytes: number }>> {
  const kinds: Record<string, { items: number; bytes: number }> = {};
  if (!table) return kinds;
  const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
  const partitionKey = Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName ?? 'pk';
  for await (const page of paginateScan({ client }, { TableName: table, ConsistentRead: true })) {
    for (const item of (page.Items ?? []) as unknown as Item[]) {
      const pk = String(item[partitionKey]?.S ?? '');
      const kind = pk.includes('#') ? pk.slice(0, pk.indexOf('#') + 1) : '(other)';
      kinds[kind] ??= { items: 0, bytes: 0 };
      kinds[kind].items++;
      kinds[kind].bytes += itemSize(item) + STORAGE_OVERHEAD_BYTES_PER_ITEM;
    }
  }
  return kinds;
}

/** The kinds of item the jobs added (shared items that only changed, such as a breaker's, are left out). */
function growth(before: Record<string, { items: number; bytes: number }>, after: Record<string, { items: number; bytes: number }>) {
  const grown: Record<string, { items: number; bytes: number }> = {};
  for (const [kind, now] of Object.entries(after)) {
    const was = before[kind] ?? { items: 0, bytes: 0 };
    if (now.items > was.items) grown[kind] = { items: now.items - was.items, bytes: now.bytes - was.bytes };
  }
  return grown;
}

/** The identities of the custom metrics in one EMF log line: namespace, metric name and dimension values. */
function collectMetricIds(line: string, into: Set<string>): void {
  let record: any;
  try {
    record = JSON.parse(line);
  } catch {
    return;
  }
  for (const directive of record?._aws?.CloudWatchMetrics ?? []) {
    for (const dimensions of directive.Dimensions ?? [[]]) {
      const values = (dimensions as string[]).map((d) => `${d}=${record[d]}`).join(',');
      for (const metric of directive.Metrics ?? []) into.add(`${directive.Namespace}|${metric.Name}|${values}`);
    }
  }
}

async function simulatorSettings(runtime: LocalRuntime, settings: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${runtime.bedrockUrl}/_sim/models/*`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings) });
  if (!res.ok) throw new Error(`cost measurement: the simulator refused ${JSON.stringify(settings)}: ${await res.text()}`);
}

/** Output tokens that make an answer of about `bytes` UTF-8 bytes: one probe call of 1,000 tokens measures bytes per token. */
async function calibrateOutputTokens(runtime: LocalRuntime, bytes: number): Promise<number> {
  const probeTokens = 1000;
  await simulatorSettings(runtime, { outputTokens: probeTokens, latencyMs: { firstToken: 0, perToken: 0 } });
  const client = new BedrockRuntimeClient({ endpoint: runtime.bedrockUrl, region: runtime.region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  try {
    const answer = await client.send(new ConverseCommand({ modelId: DEFAULT_MODEL, messages: [{ role: 'user', content: [{ text: promptOf(0, 256) }] }], inferenceConfig: { maxTokens: probeTokens } }));
    const text = answer.output?.message?.content?.map((c) => c.text ?? '').join('') ?? '';
    const perToken = Buffer.byteLength(text, 'utf8') / probeTokens;
    return Math.max(1, Math.round(bytes / perToken));
  } finally {
    client.destroy();
  }
}
