import { displayName } from '../../local/function-host';
import type { Measurement, PhaseTotals } from './measure';
import { cost, type PriceName } from './prices';
import { billedMilliseconds, gbSeconds, messageRequests, writeUnits } from './units';

/**
 * The cost model of `npm run cost`: what one unit of work (a job, a poll, a scheduled run) uses in billed AWS
 * units, and what that costs per million units under a set of knobs. Pure arithmetic; the usage comes from a
 * measurement on the local runtime (profileOf) or, for the classic sample, from its description (classicProfile).
 */

/** What one unit of work uses, in billed units, apart from the worker (whose duration depends on the knobs). */
export interface UsageProfile {
  apiRequests: number;
  /** Bytes of the API's answers (headers and body), billed as data transfer out. */
  apiResponseBytes: number;
  /** Calls the functions made, by service and operation (shown, not priced: the billed figures below are). */
  requests: Record<string, Record<string, number>>;
  sqsBilledRequests: number;
  snsBilledRequests: number;
  s3Puts: number;
  s3Gets: number;
  readUnits: number;
  /** Table write units, and those the global secondary indexes add. */
  writeUnits: number;
  indexWriteUnits: number;
  /** Functions other than the worker, as measured: invocations and billed milliseconds per unit. */
  functions: Array<{ name: string; memoryMb: number; invocations: number; billedMs: number; traceRoots: number }>;
  /** Bytes of log events the functions wrote per unit (CloudWatch's 26 bytes per event included). */
  logBytes: number;
  /** Bytes of Lambda's own log lines per invocation, by the functions' logging config (platformLogBytesPerInvocation). */
  platformLogBytesPerInvocation: number;
  /** Table bytes (items + 100 B each) and S3 bytes stored per unit. */
  dynamoStoredBytes: number;
  s3StoredBytes: number;
  /** The SQS-fed worker, when the unit is a job: its local milliseconds per record and the queue message's size. */
  worker?: { name: string; memoryMb: number; localMsPerRecord: number; messageBytes: number };
  /** Whether the functions and the API record X-Ray traces. */
  traced: boolean;
}

export interface Knobs {
  /** Model latency added to the worker's measured local duration (ms). */
  modelLatencyMs: number;
  /** SQS records per worker invocation. */
  batchSize: number;
  /** true: the records of a batch call the model at the same time (Quarry); false: one after another. */
  concurrent: boolean;
  workerMemoryMb: number;
  /** Jobs a month: decides how much of the traffic X-Ray's default sampling records. */
  monthlyJobs: number;
  jobTtlDays: number;
  resultsExpirationDays: number;
}

export interface CostLine {
  service: string;
  item: string;
  /** Billed quantity per unit of work, in `unit`. */
  quantity: number;
  unit: string;
  usdPerMillion: number;
}

export const GB = 1024 ** 3;
const HOURS_PER_MONTH = 730;
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;

/**
 * Lambda's own lines per invocation in its text log format (with active tracing), which CloudWatch Logs ingests
 * beside what the function writes; each event also carries 26 bytes of overhead. The classic sample logs these.
 */
export const PLATFORM_LOG_LINES = [
  'START RequestId: 6f1c4b8e-3d2a-4c1b-9e8f-0123456789ab Version: $LATEST',
  'END RequestId: 6f1c4b8e-3d2a-4c1b-9e8f-0123456789ab',
  'REPORT RequestId: 6f1c4b8e-3d2a-4c1b-9e8f-0123456789ab\tDuration: 1025.31 ms\tBilled Duration: 1026 ms\tMemory Size: 512 MB\tMax Memory Used: 98 MB\t\nXRAY TraceId: 1-6749a3f2-0123456789abcdef01234567\tSegmentId: 0123456789abcdef\tSampled: true\t',
];
export const PLATFORM_LOG_BYTES_PER_INVOCATION = PLATFORM_LOG_LINES.reduce((sum, line) => sum + Buffer.byteLength(line, 'utf8') + 26, 0);

/**
 * The same lines in Lambda's JSON log format, which Quarry's functions use, at system log level INFO: the
 * platform.start and platform.report records of a successful invocation (no END line). At WARN a successful
 * invocation logs none; DEBUG adds the init records of a cold start, which warm invocations do not have.
 */
export const JSON_PLATFORM_LOG_LINES = [
  '{"time":"2026-11-29T12:00:00.000Z","type":"platform.start","record":{"requestId":"6f1c4b8e-3d2a-4c1b-9e8f-0123456789ab","version":"$LATEST"}}',
  '{"time":"2026-11-29T12:00:01.026Z","type":"platform.report","record":{"requestId":"6f1c4b8e-3d2a-4c1b-9e8f-0123456789ab","metrics":{"durationMs":1025.31,"billedDurationMs":1026,"memorySizeMB":256,"maxMemoryUsedMB":98},"status":"success"}}',
];

/** Platform log bytes per successful warm invocation under a function's logging config (absent: the text format). */
export function platformLogBytesPerInvocation(logging: { format?: string; systemLogLevel?: string } | undefined): number {
  if (logging?.format !== 'JSON') return PLATFORM_LOG_BYTES_PER_INVOCATION;
  if (logging.systemLogLevel === 'WARN') return 0;
  return JSON_PLATFORM_LOG_LINES.reduce((sum, line) => sum + Buffer.byteLength(line, 'utf8') + 26, 0);
}

/** The Lambda event source mapping receives at most 10 messages per ReceiveMessage and deletes at most 10 per DeleteMessageBatch. */
export const SQS_BATCH_LIMIT = 10;

/**
 * Share of requests X-Ray's default sampling rule records at `perSecond` requests a second: the first each second
 * (the reservoir) and 5% of the rest. Below one a second, every request.
 */
export function sampledShare(perSecond: number): number {
  if (perSecond <= 1) return 1;
  return (1 + 0.05 * (perSecond - 1)) / perSecond;
}

/** The worker's invocations per job and billed milliseconds per invocation under the knobs. */
export function workerDuration(worker: NonNullable<UsageProfile['worker']>, knobs: Pick<Knobs, 'modelLatencyMs' | 'batchSize' | 'concurrent'>) {
  const b = knobs.batchSize;
  // Concurrent records wait for the model once per invocation; the local work of the records is counted in full.
  const ms = knobs.concurrent ? b * worker.localMsPerRecord + knobs.modelLatencyMs : b * (worker.localMsPerRecord + knobs.modelLatencyMs);
  return { invocationsPerJob: 1 / b, billedMsPerInvocation: billedMilliseconds(ms) };
}

/** The SQS requests Lambda's event source mapping makes per job: long-poll receives and batch deletes, per batch. */
export function eventSourceRequestsPerJob(messageBytes: number, batchSize: number): number {
  const calls = Math.ceil(batchSize / SQS_BATCH_LIMIT);
  const perReceive = Math.min(batchSize, SQS_BATCH_LIMIT);
  return (calls * messageRequests(perReceive * messageBytes) + calls) / batchSize;
}

const line = (service: string, item: string, quantity: number, unit: string, price: PriceName, priceQuantity = quantity): CostLine => ({
  service,
  item,
  quantity,
  unit,
  usdPerMillion: cost(price, priceQuantity) * 1e6,
});

/** The cost lines of one unit of work (per million units), under the knobs. */
export function priceUnit(profile: UsageProfile, knobs: Knobs): CostLine[] {
  const lines: CostLine[] = [];
  const worker = profile.worker ? workerDuration(profile.worker, knobs) : undefined;
  const workerInvocations = worker?.invocationsPerJob ?? 0;
  const workerGbSeconds = worker && profile.worker ? workerInvocations * gbSeconds(worker.billedMsPerInvocation, knobs.workerMemoryMb) : 0;
  const otherInvocations = profile.functions.reduce((s, f) => s + f.invocations, 0);
  const otherGbSeconds = profile.functions.reduce((s, f) => s + gbSeconds(f.billedMs, f.memoryMb), 0);

  if (profile.apiRequests) lines.push(line('API Gateway', 'REST API requests', profile.apiRequests, 'requests', 'apiGatewayRestRequest'));
  if (otherInvocations + workerInvocations) lines.push(line('Lambda', 'requests', otherInvocations + workerInvocations, 'invocations', 'lambdaRequest'));
  if (otherGbSeconds) lines.push(line('Lambda', `duration: ${profile.functions.map((f) => f.name).join(', ')}`, otherGbSeconds, 'GB-s', 'lambdaArmGbSecond'));
  if (workerGbSeconds) lines.push(line('Lambda', `duration: worker (${knobs.workerMemoryMb} MB, ${worker!.billedMsPerInvocation} ms per invocation)`, workerGbSeconds, 'GB-s', 'lambdaArmGbSecond'));
  if (profile.sqsBilledRequests) lines.push(line('SQS', 'requests the functions make', profile.sqsBilledRequests, 'requests', 'sqsRequest'));
  if (profile.worker) lines.push(line('SQS', 'event source mapping: receive + delete per batch', eventSourceRequestsPerJob(profile.worker.messageBytes, knobs.batchSize), 'requests', 'sqsRequest'));
  if (profile.writeUnits + profile.indexWriteUnits) {
    lines.push(line('DynamoDB', `write units (table ${round(profile.writeUnits)} + index ${round(profile.indexWriteUnits)})`, profile.writeUnits + profile.indexWriteUnits, 'WRU', 'dynamoWriteRequestUnit'));
  }
  if (profile.readUnits) lines.push(line('DynamoDB', 'read units', profile.readUnits, 'RRU', 'dynamoReadRequestUnit'));
  if (profile.dynamoStoredBytes) {
    const gbMonths = (profile.dynamoStoredBytes / GB) * ((knobs.jobTtlDays * 24) / HOURS_PER_MONTH);
    lines.push({ service: 'DynamoDB', item: `storage + PITR for ${knobs.jobTtlDays} days (${Math.round(profile.dynamoStoredBytes)} B)`, quantity: gbMonths, unit: 'GB-month', usdPerMillion: (cost('dynamoStorageGbMonth', gbMonths) + cost('dynamoPitrGbMonth', gbMonths)) * 1e6 });
  }
  if (profile.snsBilledRequests) lines.push(line('SNS', 'publishes', profile.snsBilledRequests, 'requests', 'snsPublish'));
  if (profile.s3Puts) lines.push(line('S3', 'PUT requests', profile.s3Puts, 'requests', 's3Put'));
  if (profile.s3Gets) lines.push(line('S3', 'GET requests', profile.s3Gets, 'requests', 's3Get'));
  if (profile.s3StoredBytes) {
    const gbMonths = (profile.s3StoredBytes / GB) * ((knobs.resultsExpirationDays * 24) / HOURS_PER_MONTH);
    lines.push(line('S3', `storage for ${knobs.resultsExpirationDays} days`, gbMonths, 'GB-month', 's3StorageGbMonth'));
  }
  const logBytes = profile.logBytes + (otherInvocations + workerInvocations) * profile.platformLogBytesPerInvocation;
  if (logBytes) lines.push(line('CloudWatch Logs', 'ingestion (function output + platform lines)', logBytes / GB, 'GB', 'logsIngestedGb'));
  if (profile.traced) {
    const apiShare = sampledShare((knobs.monthlyJobs * profile.apiRequests) / SECONDS_PER_MONTH);
    const otherRoots = profile.functions.reduce((s, f) => s + f.traceRoots, 0);
    const workerShare = sampledShare((knobs.monthlyJobs * workerInvocations) / SECONDS_PER_MONTH);
    const traces = profile.apiRequests * apiShare + otherRoots + workerInvocations * workerShare;
    if (traces) lines.push(line('X-Ray', `traces recorded (default sampling at ${formatCount(knobs.monthlyJobs)} jobs a month)`, traces, 'traces', 'xrayTraceRecorded'));
  }
  if (profile.apiResponseBytes) lines.push(line('Data transfer', 'API responses out to the internet', profile.apiResponseBytes / GB, 'GB', 'dataTransferOutGb'));
  return lines;
}

export function total(lines: CostLine[]): number {
  return lines.reduce((sum, l) => sum + l.usdPerMillion, 0);
}

/** $ per million units by service, in the order the lines name them. */
export function byService(lines: CostLine[]): Array<{ service: string; usdPerMillion: number }> {
  const sums = new Map<string, number>();
  for (const l of lines) sums.set(l.service, (sums.get(l.service) ?? 0) + l.usdPerMillion);
  return [...sums].map(([service, usdPerMillion]) => ({ service, usdPerMillion }));
}

/** The classic sample: API Gateway -> SQS (direct integration) -> a worker calling InvokeModel per record, one after another, one PutItem per result. */
export const CLASSIC = {
  memoryMb: 512,
  /** Time per record besides the model's (the PutItem and the SDK's own work): a stated assumption, not measured. */
  localMsPerRecord: 10,
  /** The API's answer: API Gateway's SendMessage response passed through (headers and body). */
  apiResponseBytes: 600,
  /** The result item: the result text plus its id and a few attributes. */
  itemOverheadBytes: 80,
  /** The queue message: the request body as sent (the prompt in a JSON envelope). */
  messageOverheadBytes: 40,
} as const;

export function classicProfile(workload: { promptBytes: number; resultBytes: number }): UsageProfile {
  const messageBytes = workload.promptBytes + CLASSIC.messageOverheadBytes;
  const itemBytes = workload.resultBytes + CLASSIC.itemOverheadBytes;
  return {
    apiRequests: 1,
    apiResponseBytes: CLASSIC.apiResponseBytes,
    requests: { sqs: { SendMessage: 1 }, dynamodb: { PutItem: 1 } },
    sqsBilledRequests: messageRequests(messageBytes),
    snsBilledRequests: 0,
    s3Puts: 0,
    s3Gets: 0,
    readUnits: 0,
    writeUnits: writeUnits(itemBytes),
    indexWriteUnits: 0,
    functions: [],
    logBytes: 0,
    platformLogBytesPerInvocation: PLATFORM_LOG_BYTES_PER_INVOCATION,
    dynamoStoredBytes: itemBytes + 100,
    s3StoredBytes: 0,
    worker: { name: 'classic worker', memoryMb: CLASSIC.memoryMb, localMsPerRecord: CLASSIC.localMsPerRecord, messageBytes },
    traced: false,
  };
}

/** The usage of one unit of a measured phase: the function-made calls (the runtime's own set-up and pollers left out). */
export function profileOf(
  phase: PhaseTotals,
  options: { workerLogicalId?: string; storedBytes?: number; s3StoredBytes?: number; traced: boolean; platformLogBytesPerInvocation?: number },
): UsageProfile {
  const n = phase.units;
  const calls = phase.calls.filter((c) => c.caller === 'function');
  const requests: Record<string, Record<string, number>> = {};
  for (const c of calls) (requests[c.service] ??= {})[c.operation] = c.requests / n;
  const sum = (f: (c: (typeof calls)[number]) => number, service?: string) => calls.filter((c) => !service || c.service === service).reduce((s, c) => s + f(c), 0) / n;
  const worker = phase.functions.find((f) => f.logicalId === options.workerLogicalId && f.records > 0);
  const sends = calls.filter((c) => c.service === 'sqs' && c.operation === 'SendMessage');
  const sendCount = sends.reduce((s, c) => s + c.requests, 0);
  return {
    apiRequests: phase.apiRequests / n,
    apiResponseBytes: phase.apiResponseBytes / n,
    requests,
    sqsBilledRequests: sum((c) => c.billedRequests, 'sqs'),
    snsBilledRequests: sum((c) => c.billedRequests, 'sns'),
    s3Puts: sum((c) => (['PutObject', 'CopyObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'ListObjectsV2', 'ListObjects'].includes(c.operation) ? c.requests : 0), 's3'),
    s3Gets: sum((c) => (['GetObject', 'HeadObject'].includes(c.operation) ? c.requests : 0), 's3'),
    readUnits: sum((c) => c.readUnits, 'dynamodb'),
    writeUnits: sum((c) => c.writeUnits, 'dynamodb'),
    indexWriteUnits: sum((c) => c.indexWriteUnits, 'dynamodb'),
    functions: phase.functions
      .filter((f) => f !== worker && f.invocations > 0)
      .map((f) => ({ name: displayName(f.name), memoryMb: f.memoryMb, invocations: f.invocations / n, billedMs: f.billedMs / n, traceRoots: (f.invocations - f.apiInvocations) / n })),
    logBytes: phase.functions.reduce((s, f) => s + f.logBytes, 0) / n,
    platformLogBytesPerInvocation: options.platformLogBytesPerInvocation ?? PLATFORM_LOG_BYTES_PER_INVOCATION,
    dynamoStoredBytes: (options.storedBytes ?? 0) / n,
    s3StoredBytes: (options.s3StoredBytes ?? 0) / n,
    ...(worker && {
      worker: { name: displayName(worker.name), memoryMb: worker.memoryMb, localMsPerRecord: worker.durationMs / worker.records, messageBytes: sendCount ? sends.reduce((s, c) => s + c.payloadBytes, 0) / sendCount : 0 },
    }),
    traced: options.traced,
  };
}

/** The profiles of a measurement: a job (submit, processing, its event), a poll, and each scheduled rule's run. */
export function profilesOf(m: Measurement) {
  const storedBytes = Object.values(m.storageByKind).reduce((s, k) => s + k.bytes, 0);
  const traced = m.settings?.tracing ?? true;
  // Results measured before the functions' logging config was recorded used Lambda's text format.
  const platform = platformLogBytesPerInvocation(m.template.logging);
  return {
    job: profileOf(m.jobs, { workerLogicalId: m.workerLogicalId, storedBytes, s3StoredBytes: m.s3BytesPut, traced, platformLogBytesPerInvocation: platform }),
    poll: profileOf(m.polls, { traced, platformLogBytesPerInvocation: platform }),
    schedules: m.schedules.map((s) => ({ rule: s.rule, expression: s.expression, runsPerMonth: s.runsPerMonth, profile: profileOf(s.phase, { traced, platformLogBytesPerInvocation: platform }) })),
  };
}

/** Idle long polling by one SQS event source mapping: Lambda's 5 pollers each wait 20 s per empty receive. */
export const IDLE_POLLER_REQUESTS_PER_MONTH = 5 * (60 / 20) * 60 * HOURS_PER_MONTH;

export interface MonthlyLine {
  service: string;
  item: string;
  usdPerMonth: number;
}

/** What the stack costs a month whatever the number of jobs. */
export function fixedMonthly(m: Measurement, knobs: Knobs): MonthlyLine[] {
  const lines: MonthlyLine[] = [];
  for (const s of profilesOf(m).schedules) {
    const perRun = total(priceUnit(s.profile, knobs)) / 1e6;
    lines.push({ service: 'Schedules', item: `${displayName(s.rule)} (${s.expression}): ${Math.round(s.runsPerMonth)} runs`, usdPerMonth: perRun * s.runsPerMonth });
  }
  const idle = m.template.sqsEventSourceMappings * IDLE_POLLER_REQUESTS_PER_MONTH;
  lines.push({ service: 'SQS', item: `idle long polling of ${m.template.sqsEventSourceMappings} event source mappings (${Math.round(idle)} requests)`, usdPerMonth: cost('sqsRequest', idle) });
  lines.push({ service: 'KMS', item: `${m.template.kmsKeys} customer managed key(s)`, usdPerMonth: cost('kmsKeyMonth', m.template.kmsKeys) });
  lines.push({ service: 'CloudWatch', item: `${m.template.alarms} alarms`, usdPerMonth: cost('cloudwatchAlarmMonth', m.template.alarms) });
  lines.push({ service: 'CloudWatch', item: `${m.customMetrics} custom metrics the run emitted (EMF)`, usdPerMonth: cost('cloudwatchMetricMonth', m.customMetrics) });
  lines.push({ service: 'CloudWatch', item: `${m.template.dashboards} dashboard(s) (3 free per account)`, usdPerMonth: cost('cloudwatchDashboardMonth', m.template.dashboards) });
  return lines;
}

function round(value: number): string {
  return Number(value.toFixed(2)).toString();
}

function formatCount(n: number): string {
  return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
}
