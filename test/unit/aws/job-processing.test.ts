import { JobRepository } from '../../../lambda/aws/job-repository';
import { abandonDeadLettered, processDelivery, type ProcessingDeps } from '../../../lambda/core/job-processing';
import type { Job, JobResult } from '../../../lambda/core/job';
import { startJobsTable } from './dynalite';

/*
 * The worker's use case against a real DynamoDB wire endpoint (dynalite): the conditional writes are what make
 * duplicate and concurrent deliveries safe, so they are exercised for real. The model, S3 and SNS are fakes
 * that record calls.
 */

let table: Awaited<ReturnType<typeof startJobsTable>>;
let store: JobRepository;
beforeAll(async () => {
  table = await startJobsTable();
  store = new JobRepository(table.client, table.tableName);
});
afterAll(() => table.stop());

let counter = 0;
async function queuedJob(overrides: Partial<Job> = {}): Promise<Job> {
  const now = new Date();
  const job: Job = {
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
  return job;
}

function harness(model: ProcessingDeps['model'] = { converse: async () => ({ text: 'the answer', stopReason: 'end_turn', usage: { inputTokens: 2, outputTokens: 3 } }) }, overrides: Partial<ProcessingDeps> = {}) {
  const published: Job[] = [];
  const offloaded: { jobId: string; result: JobResult }[] = [];
  let modelCalls = 0;
  const deps: ProcessingDeps = {
    store,
    model: { converse: (id, req) => (modelCalls++, model.converse(id, req)) },
    results: { put: async (jobId, result) => (offloaded.push({ jobId, result }), { bucket: 'b', key: `results/${jobId}.json`, bytes: 100 }) },
    events: { publishTerminal: async (job) => void published.push(job) },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    clock: () => new Date(),
    region: 'us-east-1',
    resultInlineMaxBytes: 1000,
    retryDelaySeconds: 5,
    visibilityTimeoutSeconds: 60,
    ...overrides,
  };
  return { deps, published, offloaded, modelCalls: () => modelCalls };
}

const delivery = (jobId: string, owner = 'msg-1:req-1', receiveCount = 1) => ({ jobId, owner, receiveCount, remainingMillis: 30_000 });

describe('processing a delivered job', () => {
  it('moves QUEUED -> SUCCEEDED with text, usage and one attempt, and announces it once', async () => {
    const job = await queuedJob();
    const h = harness();
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    const stored = await store.get(job.jobId, new Date());
    expect(stored).toMatchObject({ status: 'SUCCEEDED', result: { text: 'the answer', stopReason: 'end_turn', usage: { inputTokens: 2, outputTokens: 3 }, modelId: 'model-a' } });
    expect(stored?.attempts).toEqual([expect.objectContaining({ modelId: 'model-a', region: 'us-east-1', outcome: 'succeeded' })]);
    expect(stored?.lease).toBeUndefined();
    expect(stored?.eventPublishedAt).toBeDefined();
    expect(h.published.map((j) => j.jobId)).toEqual([job.jobId]);
  });

  it('does not call the model again for a duplicate delivery of a finished job', async () => {
    const job = await queuedJob();
    const h = harness();
    await processDelivery(delivery(job.jobId), h.deps);
    expect(await processDelivery(delivery(job.jobId, 'msg-1:req-2', 2), h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect(h.modelCalls()).toBe(1);
    expect(h.published).toHaveLength(1);
  });

  it('lets only one of two concurrent deliveries run the model', async () => {
    const job = await queuedJob();
    const h = harness({ converse: async () => (await new Promise((r) => setTimeout(r, 50)), { text: 'x', stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1 } }) });
    const outcomes = await Promise.all([processDelivery(delivery(job.jobId, 'a'), h.deps), processDelivery(delivery(job.jobId, 'b'), h.deps)]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['finished', 'skipped']);
    expect(h.modelCalls()).toBe(1);
    expect(h.published).toHaveLength(1);
  });

  it('takes over a RUNNING job whose lease expired, and the stale worker cannot finish it', async () => {
    const job = await queuedJob();
    const past = new Date(Date.now() - 60_000);
    expect(await store.claim(job.jobId, 'crashed-worker', past.getTime() + 1000, past)).toBeDefined();
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'rescuer'), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    const late = await store.markSucceeded(job.jobId, 'crashed-worker', { result: { stopReason: 'end_turn', usage: { inputTokens: 0, outputTokens: 0 }, modelId: 'm', text: 'stale' }, attempt: { modelId: 'm', outcome: 'succeeded', latencyMs: 1, startedAt: past.toISOString() } }, new Date());
    expect(late).toBeUndefined();
    expect((await store.get(job.jobId, new Date()))?.result?.text).toBe('the answer');
  });

  it('leaves a job with a live lease to its holder', async () => {
    const job = await queuedJob();
    await store.claim(job.jobId, 'holder', Date.now() + 60_000, new Date());
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'other'), h.deps)).toEqual({ kind: 'skipped', reason: 'held-by-another-worker' });
    expect(h.modelCalls()).toBe(0);
  });

  it('puts a transiently failing job back QUEUED with a growing delay and the attempt recorded', async () => {
    const job = await queuedJob();
    const throttled = Object.assign(new Error('Too many requests'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });
    const h = harness({ converse: async () => Promise.reject(throttled) });
    expect(await processDelivery(delivery(job.jobId, 'w', 3), h.deps)).toEqual({ kind: 'retry-later', delaySeconds: 20, errorCode: 'MODEL_THROTTLED' });
    const stored = await store.get(job.jobId, new Date());
    expect(stored).toMatchObject({ status: 'QUEUED', attempts: [expect.objectContaining({ outcome: 'failed', errorCode: 'MODEL_THROTTLED' })] });
    expect(stored?.lease).toBeUndefined();
    expect(h.published).toHaveLength(0);
  });

  it('fails a job at once on a validation error from the model, with the model message', async () => {
    const job = await queuedJob();
    const invalid = Object.assign(new Error('Malformed input request: max_tokens'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    const h = harness({ converse: async () => Promise.reject(invalid) });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'FAILED', error: { code: 'MODEL_VALIDATION_ERROR', message: 'Malformed input request: max_tokens' } });
    expect(h.published.map((j) => j.status)).toEqual(['FAILED']);
  });

  it('offloads a result larger than the inline limit and keeps only a pointer and the summary', async () => {
    const job = await queuedJob();
    const big = 'y'.repeat(5000);
    const h = harness({ converse: async () => ({ text: big, stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 900 } }) });
    await processDelivery(delivery(job.jobId), h.deps);
    const stored = await store.get(job.jobId, new Date());
    expect(h.offloaded).toEqual([{ jobId: job.jobId, result: expect.objectContaining({ text: big }) }]);
    expect(stored?.result).toEqual({ stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 900 }, modelId: 'model-a' });
    expect(stored?.resultLocation).toEqual({ bucket: 'b', key: `results/${job.jobId}.json`, bytes: 100 });
  });

  it('publishes an event still owed by a job that finished before a crash, exactly once more', async () => {
    const job = await queuedJob();
    const failingEvents = harness(undefined, { events: { publishTerminal: async () => Promise.reject(new Error('sns down')) } });
    await expect(processDelivery(delivery(job.jobId, 'first'), failingEvents.deps)).rejects.toThrow('sns down');
    expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'SUCCEEDED' });
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'redelivered', 2), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.modelCalls()).toBe(0);
    expect(h.published).toHaveLength(1);
    expect(await processDelivery(delivery(job.jobId, 'again', 3), h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect(h.published).toHaveLength(1);
  });
});

describe('a dead-lettered job', () => {
  it('ends FAILED with DEAD_LETTERED naming the last error, and is announced', async () => {
    const job = await queuedJob();
    const throttled = Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
    await processDelivery(delivery(job.jobId), harness({ converse: async () => Promise.reject(throttled) }).deps);
    const h = harness();
    expect(await abandonDeadLettered(job.jobId, h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    const stored = await store.get(job.jobId, new Date());
    expect(stored?.error).toEqual({ code: 'DEAD_LETTERED', message: expect.stringContaining('MODEL_THROTTLED') });
    expect(h.published).toHaveLength(1);
  });

  it('leaves a job that already succeeded untouched', async () => {
    const job = await queuedJob();
    await processDelivery(delivery(job.jobId), harness().deps);
    const h = harness();
    expect(await abandonDeadLettered(job.jobId, h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect((await store.get(job.jobId, new Date()))?.status).toBe('SUCCEEDED');
    expect(h.published).toHaveLength(0);
  });
});

describe('the job repository', () => {
  it('treats an expired record as absent and lets its id be reused', async () => {
    const job = await queuedJob({ expiresAt: Math.floor(Date.now() / 1000) - 10 });
    expect(await store.get(job.jobId, new Date())).toBeUndefined();
    expect(await store.create({ ...job, expiresAt: Math.floor(Date.now() / 1000) + 100 }, new Date())).toEqual({ created: true });
  });

  it('refuses to create over a live job and returns it', async () => {
    const job = await queuedJob();
    expect(await store.create({ ...job, requestHash: 'other' }, new Date())).toEqual({ created: false, existing: expect.objectContaining({ jobId: job.jobId, requestHash: 'hash' }) });
  });

  it('discards an unqueued job but never one that has started', async () => {
    const fresh = await queuedJob();
    await store.discardUnqueued(fresh.jobId);
    expect(await store.get(fresh.jobId, new Date())).toBeUndefined();
    const started = await queuedJob();
    await store.claim(started.jobId, 'w', Date.now() + 1000, new Date());
    await store.discardUnqueued(started.jobId);
    expect(await store.get(started.jobId, new Date())).toBeDefined();
  });
});

describe('logging', () => {
  it('keeps prompt and completion text out of logs unless the operator opts in', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = { info: (m: string, f: Record<string, unknown>) => void lines.push({ m, ...f }), warn: () => {}, error: () => {} };
    const quiet = await queuedJob({ request: { messages: [{ role: 'user', content: [{ text: 'top secret prompt' }] }] } });
    await processDelivery(delivery(quiet.jobId), harness(undefined, { log }).deps);
    expect(JSON.stringify(lines)).not.toMatch(/top secret prompt|the answer/);
    const loud = await queuedJob({ request: { messages: [{ role: 'user', content: [{ text: 'top secret prompt' }] }] } });
    await processDelivery(delivery(loud.jobId), harness(undefined, { log, logText: true }).deps);
    expect(JSON.stringify(lines)).toMatch(/top secret prompt/);
  });
});
