import type { Measurement, PhaseTotals } from '../../bench/cost/measure';
import {
  byService,
  classicProfile,
  eventSourceRequestsPerJob,
  fixedMonthly,
  GB,
  IDLE_POLLER_REQUESTS_PER_MONTH,
  PLATFORM_LOG_BYTES_PER_INVOCATION,
  platformLogBytesPerInvocation,
  priceUnit,
  profileOf,
  sampledShare,
  total,
  workerDuration,
  type CostLine,
  type Knobs,
  type UsageProfile,
} from '../../bench/cost/model';
import { cost, PRICES } from '../../bench/cost/prices';

const knobs: Knobs = { modelLatencyMs: 5000, batchSize: 5, concurrent: true, workerMemoryMb: 512, monthlyJobs: 1_000_000, jobTtlDays: 30, resultsExpirationDays: 30 };

/** A job as a hand-made profile: one submit of 100 ms at 256 MB, a worker spending 20 ms per record at 512 MB. */
const job: UsageProfile = {
  apiRequests: 1,
  apiResponseBytes: 0,
  requests: {},
  sqsBilledRequests: 1,
  snsBilledRequests: 1,
  s3Puts: 0,
  s3Gets: 0,
  readUnits: 0.5,
  writeUnits: 4,
  indexWriteUnits: 0,
  functions: [{ name: 'Submit', memoryMb: 256, invocations: 1, billedMs: 100, traceRoots: 0 }],
  logBytes: 0,
  platformLogBytesPerInvocation: PLATFORM_LOG_BYTES_PER_INVOCATION,
  dynamoStoredBytes: 0,
  s3StoredBytes: 0,
  worker: { name: 'Worker', memoryMb: 512, localMsPerRecord: 20, messageBytes: 100 },
  traced: false,
};

const usd = (lines: CostLine[], service: string, item?: string) => lines.filter((l) => l.service === service && (!item || l.item.includes(item))).reduce((s, l) => s + l.usdPerMillion, 0);
/** CloudWatch Logs for Lambda's platform lines of `invocations` per unit, in $ per million units. */
const platformLogs = (invocations: number) => ((invocations * PLATFORM_LOG_BYTES_PER_INVOCATION) / GB) * 0.5 * 1e6;

describe('the price table', () => {
  it('holds the us-east-1 list prices the cost model is specified with', () => {
    expect(cost('apiGatewayRestRequest', 1e6)).toBe(3.5);
    expect(cost('lambdaRequest', 1e6)).toBeCloseTo(0.2, 10);
    expect(cost('lambdaArmGbSecond', 1)).toBe(0.0000133334);
    expect(cost('sqsRequest', 1e6)).toBeCloseTo(0.4, 10);
    expect(cost('dynamoWriteRequestUnit', 1e6)).toBeCloseTo(0.625, 10);
    expect(cost('dynamoReadRequestUnit', 1e6)).toBeCloseTo(0.125, 10);
    expect(cost('snsPublish', 1e6)).toBeCloseTo(0.5, 10);
    expect(cost('s3Put', 1000)).toBeCloseTo(0.005, 10);
    expect(cost('s3Get', 1000)).toBeCloseTo(0.0004, 10);
    expect(cost('logsIngestedGb', 1)).toBe(0.5);
    for (const price of Object.values(PRICES)) expect(price.source).toMatch(/^https:\/\/aws\.amazon\.com\//);
  });
});

describe('the worker under the knobs', () => {
  it('waits for the model once per invocation when the records of a batch call it at the same time', () => {
    expect(workerDuration(job.worker!, knobs)).toEqual({ invocationsPerJob: 0.2, billedMsPerInvocation: 5 * 20 + 5000 });
    expect(workerDuration(job.worker!, { ...knobs, batchSize: 1 })).toEqual({ invocationsPerJob: 1, billedMsPerInvocation: 5020 });
  });

  it('waits once per record when the records call it one after another', () => {
    expect(workerDuration(job.worker!, { ...knobs, concurrent: false })).toEqual({ invocationsPerJob: 0.2, billedMsPerInvocation: 5 * 5020 });
  });

  it("makes the event source mapping's SQS requests per batch: receives of up to 10 messages, 64 KB chunks, one delete per 10", () => {
    expect(eventSourceRequestsPerJob(100, 5)).toBeCloseTo((1 + 1) / 5, 10);
    expect(eventSourceRequestsPerJob(100, 1)).toBe(2);
    expect(eventSourceRequestsPerJob(100, 20)).toBeCloseTo((2 + 2) / 20, 10);
    // Five 40 KB messages are 200 KB: four chunks in one receive.
    expect(eventSourceRequestsPerJob(40 * 1024, 5)).toBeCloseTo((4 + 1) / 5, 10);
  });
});

describe('X-Ray sampling', () => {
  it('records every request below one a second, then one a second and 5% of the rest', () => {
    expect(sampledShare(0.5)).toBe(1);
    expect(sampledShare(1)).toBe(1);
    expect(sampledShare(21)).toBeCloseTo(2 / 21, 10);
  });
});

describe('a job priced per million', () => {
  it('adds up the hand-computed lines', () => {
    const lines = priceUnit(job, knobs);
    expect(usd(lines, 'API Gateway')).toBeCloseTo(3.5, 6);
    expect(usd(lines, 'Lambda', 'requests')).toBeCloseTo(1.2 * 0.2, 6);
    // 0.1 s x 0.25 GB = 0.025 GB-s
    expect(usd(lines, 'Lambda', 'Submit')).toBeCloseTo(0.025 * 13.3334, 6);
    // 5 x 20 ms + 5000 ms = 5.1 s at 0.5 GB, once per 5 jobs: 0.51 GB-s
    expect(usd(lines, 'Lambda', 'worker')).toBeCloseTo(0.51 * 13.3334, 6);
    expect(usd(lines, 'SQS', 'functions')).toBeCloseTo(0.4, 6);
    expect(usd(lines, 'SQS', 'event source')).toBeCloseTo(0.4 * 0.4, 6);
    expect(usd(lines, 'DynamoDB', 'write')).toBeCloseTo(4 * 0.625, 6);
    expect(usd(lines, 'DynamoDB', 'read')).toBeCloseTo(0.5 * 0.125, 6);
    expect(usd(lines, 'SNS')).toBeCloseTo(0.5, 6);
    expect(usd(lines, 'CloudWatch Logs')).toBeCloseTo(platformLogs(1.2), 6);
    expect(total(lines)).toBeCloseTo(3.5 + 0.24 + 0.333335 + 6.800034 + 0.4 + 0.16 + 2.5 + 0.0625 + 0.5 + platformLogs(1.2), 5);
    expect(byService(lines).map((s) => s.service)).toEqual(['API Gateway', 'Lambda', 'SQS', 'DynamoDB', 'SNS', 'CloudWatch Logs']);
  });

  it('prices the worker memory and the records per invocation as the knobs say', () => {
    expect(usd(priceUnit(job, { ...knobs, workerMemoryMb: 256 }), 'Lambda', 'worker')).toBeCloseTo(0.255 * 13.3334, 6);
    // One record per invocation: 5.02 s at 0.5 GB for every job.
    expect(usd(priceUnit(job, { ...knobs, batchSize: 1 }), 'Lambda', 'worker')).toBeCloseTo(2.51 * 13.3334, 6);
    // Ten records: (200 ms + 5000 ms) at 0.5 GB for ten jobs.
    expect(usd(priceUnit(job, { ...knobs, batchSize: 10 }), 'Lambda', 'worker')).toBeCloseTo(0.26 * 13.3334, 6);
  });

  it('counts a trace per API request and per worker invocation, all sampled at a million jobs a month, 7.5% at a hundred million', () => {
    const traced = { ...job, traced: true };
    expect(usd(priceUnit(traced, knobs), 'X-Ray')).toBeCloseTo(1.2 * 5, 6);
    const apiRate = 1e8 / (730 * 3600);
    const expected = sampledShare(apiRate) + 0.2 * sampledShare(apiRate * 0.2);
    expect(sampledShare(apiRate)).toBeCloseTo(0.075, 3);
    expect(usd(priceUnit(traced, { ...knobs, monthlyJobs: 1e8 }), 'X-Ray')).toBeCloseTo(expected * 5, 6);
  });

  it("logs Lambda's platform lines by the functions' logging config: none for a successful invocation at WARN", () => {
    // Text format: START, END and REPORT (with the X-Ray line), 26 B of overhead each.
    expect(PLATFORM_LOG_BYTES_PER_INVOCATION).toBe(70 + 26 + 51 + 26 + 237 + 26);
    expect(platformLogBytesPerInvocation(undefined)).toBe(PLATFORM_LOG_BYTES_PER_INVOCATION);
    expect(platformLogBytesPerInvocation({ format: 'Text', systemLogLevel: 'WARN' })).toBe(PLATFORM_LOG_BYTES_PER_INVOCATION);
    // JSON at INFO: platform.start and platform.report.
    expect(platformLogBytesPerInvocation({ format: 'JSON', systemLogLevel: 'INFO' })).toBe(141 + 26 + 238 + 26);
    expect(platformLogBytesPerInvocation({ format: 'JSON', systemLogLevel: 'WARN' })).toBe(0);
    const quiet = priceUnit({ ...job, logBytes: 1000, platformLogBytesPerInvocation: 0 }, knobs);
    expect(usd(quiet, 'CloudWatch Logs')).toBeCloseTo((1000 / GB) * 0.5 * 1e6, 9);
  });

  it('prices storage for the retention: 4,000 B kept 30 days is 0.45 $/GB-month (table + PITR) over 720 of 730 hours', () => {
    const lines = priceUnit({ ...job, dynamoStoredBytes: 4000 }, knobs);
    expect(usd(lines, 'DynamoDB', 'storage')).toBeCloseTo((4000 / GB) * (720 / 730) * 0.45 * 1e6, 6);
    expect(usd(lines, 'DynamoDB', 'storage')).toBeCloseTo(1.6534, 4);
  });
});

describe('the classic sample', () => {
  it('is one REST request, one SendMessage with the prompt, one PutItem of the result, the model waited for record by record', () => {
    const classic = classicProfile({ promptBytes: 1024, resultBytes: 2048 });
    expect(classic.writeUnits).toBe(3);
    expect(classic.sqsBilledRequests).toBe(1);
    const lines = priceUnit(classic, { ...knobs, concurrent: false, batchSize: 10 });
    // 10 x (5000 + 10) ms at 0.5 GB per 10 jobs: 2.505 GB-s per job.
    expect(usd(lines, 'Lambda', 'worker')).toBeCloseTo(2.505 * 13.3334, 6);
    expect(usd(lines, 'SQS')).toBeCloseTo((1 + 0.2) * 0.4, 6);
    expect(usd(lines, 'DynamoDB', 'write')).toBeCloseTo(3 * 0.625, 6);
    expect(usd(lines, 'X-Ray')).toBe(0);
    expect(usd(lines, 'SNS')).toBe(0);
  });
});

const call = (service: string, operation: string, caller: 'function' | 'runtime', fields: Partial<PhaseTotals['calls'][number]> = {}): PhaseTotals['calls'][number] => ({
  service,
  operation,
  caller,
  requests: 1,
  billedRequests: 1,
  payloadBytes: 0,
  readUnits: 0,
  writeUnits: 0,
  indexWriteUnits: 0,
  approximate: 0,
  addedMs: 0,
  kinds: {},
  unitsByKind: {},
  ...fields,
});

const fn = (fields: Partial<PhaseTotals['functions'][number]> & { logicalId: string; name: string }): PhaseTotals['functions'][number] => ({
  memoryMb: 256,
  invocations: 1,
  apiInvocations: 0,
  failed: 0,
  durationMs: 0,
  billedMs: 0,
  p50Ms: 0,
  records: 0,
  logEvents: 0,
  logBytes: 0,
  ...fields,
});

describe('a measured phase as a profile', () => {
  it('divides what the functions did by the units of the phase, leaving the runtime’s own calls out', () => {
    const phase: PhaseTotals = {
      units: 2,
      apiRequests: 2,
      apiResponseBytes: 800,
      wallMs: 0,
      calls: [
        call('dynamodb', 'PutItem', 'function', { requests: 2, billedRequests: 2, writeUnits: 4, indexWriteUnits: 2 }),
        call('dynamodb', 'GetItem', 'function', { readUnits: 0.5 }),
        call('sqs', 'SendMessage', 'function', { requests: 2, billedRequests: 2, payloadBytes: 200 }),
        call('sqs', 'ReceiveMessage', 'runtime', { requests: 5, billedRequests: 5 }),
        call('sns', 'Publish', 'function', { requests: 2, billedRequests: 2 }),
        call('s3', 'PutObject', 'function'),
      ],
      functions: [
        fn({ logicalId: 'Submit1234ABCD', name: 'SubmitFunction1234ABCD', invocations: 2, apiInvocations: 2, durationMs: 50, billedMs: 52, logBytes: 1000 }),
        fn({ logicalId: 'Worker5678ABCD', name: 'WorkerFunction5678ABCD', memoryMb: 512, durationMs: 40, billedMs: 40, records: 2, logBytes: 3000 }),
      ],
    };
    expect(profileOf(phase, { workerLogicalId: 'Worker5678ABCD', storedBytes: 8000, traced: true })).toEqual({
      apiRequests: 1,
      apiResponseBytes: 400,
      requests: { dynamodb: { PutItem: 1, GetItem: 0.5 }, sqs: { SendMessage: 1 }, sns: { Publish: 1 }, s3: { PutObject: 0.5 } },
      sqsBilledRequests: 1,
      snsBilledRequests: 1,
      s3Puts: 0.5,
      s3Gets: 0,
      readUnits: 0.25,
      writeUnits: 2,
      indexWriteUnits: 1,
      functions: [{ name: 'SubmitFunction', memoryMb: 256, invocations: 1, billedMs: 26, traceRoots: 0 }],
      logBytes: 2000,
      platformLogBytesPerInvocation: PLATFORM_LOG_BYTES_PER_INVOCATION,
      dynamoStoredBytes: 4000,
      s3StoredBytes: 0,
      worker: { name: 'WorkerFunction', memoryMb: 512, localMsPerRecord: 20, messageBytes: 100 },
      traced: true,
    });
  });
});

describe('the fixed monthly cost', () => {
  it('prices each schedule run by its rate, idle long polling, the key, alarms, metrics and dashboards', () => {
    const sweep: PhaseTotals = {
      units: 1,
      apiRequests: 0,
      apiResponseBytes: 0,
      wallMs: 0,
      calls: [call('dynamodb', 'Query', 'function', { requests: 8, billedRequests: 8, readUnits: 4 })],
      functions: [fn({ logicalId: 'Sweep', name: 'SweepFunction', billedMs: 100, durationMs: 100 })],
    };
    const measurement = {
      schedules: [{ rule: 'SweepSchedule', expression: 'rate(1 minute)', runsPerMonth: 43_800, phase: sweep }],
      jobs: sweep,
      polls: sweep,
      storageByKind: {},
      s3BytesPut: 0,
      template: { alarms: 11, dashboards: 1, kmsKeys: 1, sqsEventSourceMappings: 2 },
      customMetrics: 11,
    } as unknown as Measurement;
    const lines = fixedMonthly(measurement, knobs);
    const perRun = 0.2e-6 + 0.025 * 0.0000133334 + 4 * 0.125e-6 + platformLogs(1) / 1e6 + 5e-6;
    expect(lines.find((l) => l.service === 'Schedules')!.usdPerMonth).toBeCloseTo(43_800 * perRun, 6);
    expect(IDLE_POLLER_REQUESTS_PER_MONTH).toBe(5 * 3 * 60 * 730);
    expect(lines.find((l) => l.service === 'SQS')!.usdPerMonth).toBeCloseTo(2 * 657_000 * 0.4e-6, 8);
    expect(lines.filter((l) => l.service !== 'Schedules' && l.service !== 'SQS').map((l) => l.usdPerMonth)).toEqual([1, expect.closeTo(1.1, 10), expect.closeTo(3.3, 10), 3]);
  });
});
