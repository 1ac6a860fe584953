import { JobRepository } from '../../../lambda/aws/job-repository';
import type { ProcessingDeps } from '../../../lambda/core/job-processing';
import { DEFAULT_RESILIENCE, routingTableSchema } from '../../../lambda/core/settings';
import type { Job, JobResult, RunnableJob } from '../../../lambda/core/job';
import { startJobsTable } from './dynalite';

/*
 * Shared by the processing tests: the worker's use case against a real DynamoDB wire endpoint (dynalite): the conditional writes are what make
 * duplicate and concurrent deliveries safe, so they are exercised for real. The model, S3 and SNS are fakes
 * that record calls.
 */

let table: Awaited<ReturnType<typeof startJobsTable>>;
export let store: JobRepository;
/** Starts a jobs table on dynalite for the calling test file. */
export function useJobsTable(): void {
  beforeAll(async () => {
    table = await startJobsTable();
    store = new JobRepository(table.client, table.tableName);
  });
  afterAll(() => table.stop());
}

let counter = 0;
export async function queuedJob(overrides: Partial<RunnableJob> = {}): Promise<RunnableJob> {
  const now = new Date();
  const job: RunnableJob = {
    jobId: `job-${++counter}`,
    status: 'QUEUED',
    tenant: 'default',
    route: 'generate',
    modelId: 'model-a',
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    request: { messages: [{ role: 'user', content: [{ text: 'hello' }] }] },
    requestHash: 'hash',
    attempts: [],
    expiresAt: Math.floor(now.getTime() / 1000) + 3600,
    ...overrides,
  };
  expect(await store.create(job, now)).toEqual({ created: true });
  // Deliveries in these tests carry no request: the worker reads it from its item, as for a large request.
  await store.putRequest(job);
  return job;
}

export type Converse = ProcessingDeps['model']['converse'];
export const answer = (text = 'the answer') => ({ text, stopReason: 'end_turn', usage: { inputTokens: 2, outputTokens: 3 } });

/** A breaker that admits everything and records what it was told. */
export function openGate(): ProcessingDeps['breaker'] & { records: string[] } {
  const records: string[] = [];
  return {
    records,
    admit: async () => ({ admitted: true, probe: false }),
    record: async (target: { modelId: string; region: string }, outcome: string) => void records.push(`${target.modelId}@${target.region}:${outcome}`),
  };
}

export const routing = routingTableSchema.parse({
  defaultRoute: 'generate',
  routes: {
    generate: { modelId: 'model-a', fallback: ['model-b'], cacheResponses: true },
    solo: { modelId: 'model-a' },
  },
  models: { 'model-a': { contextWindow: 1000, regions: ['us-west-2'] }, 'model-b': { contextWindow: 8000 } },
});

export function harness(converse: Converse = async () => answer(), overrides: Partial<ProcessingDeps> = {}) {
  const published: Job[] = [];
  const offloaded: { jobId: string; result: JobResult }[] = [];
  const requeued: { jobId: string; delaySeconds: number }[] = [];
  const calls: string[] = [];
  const slept: number[] = [];
  const cache = new Map<string, JobResult>();
  const breaker = openGate();
  const deps: ProcessingDeps = {
    store,
    model: { converse: (id, req, options) => (calls.push(`${id}@${options.region}`), converse(id, req, options)) },
    results: { put: async (jobId, result) => (offloaded.push({ jobId, result }), { bucket: 'b', key: `results/${jobId}.json`, bytes: 100 }) },
    events: { publishTerminal: async (job) => void published.push(job) },
    requeuer: { requeue: async (message, delaySeconds) => void requeued.push({ jobId: message.jobId, delaySeconds }) },
    breaker,
    capacity: { reserve: async () => ({ kind: 'unlimited' }), settle: async () => {} },
    cache: { get: async (key) => cache.get(key), put: async (key, result) => void cache.set(key, result) },
    observer: { observe: () => {} },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    clock: () => new Date(),
    sleep: async (ms) => void slept.push(ms),
    random: () => 0.5,
    routing,
    policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 3, baseDelayMs: 100, maxDelayMs: 1000 } },
    homeRegion: 'us-east-1',
    resultInlineMaxBytes: 1000,
    ...overrides,
  };
  return { deps, published, offloaded, requeued, calls, slept, cache, breaker, modelCalls: () => calls.length };
}

/** A delivery of message `owner`'s prefix (before ':'); `remaining` may be a number or a clock of its own. */
export const delivery = (jobId: string, owner = 'msg-1:req-1', receiveCount = 1, remaining: number | (() => number) = 30_000) => ({
  jobId,
  owner,
  messageId: owner.split(':')[0],
  receiveCount,
  remainingMillis: typeof remaining === 'number' ? () => remaining : remaining,
});

/** An invocation clock that loses `stepMs` at every reading: writes retried "until time runs out" end. */
export const shrinking = (startMs: number, stepMs = 1_000) => {
  let left = startMs;
  return () => (left -= stepMs);
};

export const throttled = () => Object.assign(new Error('Too many requests'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });
export const unavailable = () => Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailableException', $metadata: { httpStatusCode: 503 } });

