import { processDelivery, RedeliverLater } from '../../../lambda/core/job-processing';
import { handleDeadLetter } from '../../../lambda/core/job-settlement';
import { responseCacheKey } from '../../../lambda/core/response-cache-key';
import { DEFAULT_RESILIENCE, routingTableSchema } from '../../../lambda/core/settings';
import { answer, delivery, harness, openGate, queuedJob, shrinking, store, throttled, unavailable, useJobsTable } from './processing-harness';

/*
 * The worker's use case against a real DynamoDB wire endpoint (dynalite): the conditional writes are what make
 * duplicate and concurrent deliveries safe, so they are exercised for real. The model, S3 and SNS are fakes
 * that record calls (./processing-harness.ts).
 */

useJobsTable();

describe('processing a delivered job', () => {
  it('moves QUEUED -> SUCCEEDED with text, usage and one attempt, and announces it once', async () => {
    const job = await queuedJob();
    const h = harness();
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    const stored = await store.get(job.jobId, new Date());
    expect(stored).toMatchObject({ status: 'SUCCEEDED', result: { text: 'the answer', stopReason: 'end_turn', usage: { inputTokens: 2, outputTokens: 3 }, modelId: 'model-a' } });
    expect(stored?.attempts).toEqual([expect.objectContaining({ modelId: 'model-a', region: 'us-east-1', outcome: 'succeeded' })]);
    expect(stored?.lease).toBeUndefined();
    expect(stored?.sweepAt).toBeUndefined();
    expect(h.published.map((j) => j.jobId)).toEqual([job.jobId]);
    expect(h.breaker.records).toEqual(['model-a@us-east-1:success']);
  });

  it('does not call the model again for a duplicate delivery of a finished job', async () => {
    const job = await queuedJob();
    const h = harness();
    await processDelivery(delivery(job.jobId), h.deps);
    expect(await processDelivery(delivery(job.jobId, 'msg-2:req-2', 2), h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect(h.modelCalls()).toBe(1);
    expect(h.published).toHaveLength(1);
  });

  it('drops a message that carries no request when the job has no request item, leaving the job to its own message', async () => {
    // Its own message carries the request (the submit puts up to 48 KB in it); a bare {jobId} message, e.g. one
    // sent by hand or by an older version, cannot run the job and must not fail it.
    const now = new Date();
    const job = { ...(await queuedJob()), jobId: 'job-without-input-item' };
    expect(await store.create(job, now)).toEqual({ created: true });
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'bare'), h.deps)).toEqual({ kind: 'skipped', reason: 'no-request' });
    expect(h.modelCalls()).toBe(0);
    expect(h.published).toHaveLength(0);
    expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'QUEUED', attempts: [] });
    // The job's own message, with the request, still runs it.
    expect(await processDelivery({ ...delivery(job.jobId, 'own'), request: job.request }, h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
  });

  it('lets only one of two concurrent deliveries run the model', async () => {
    const job = await queuedJob();
    const h = harness(async () => (await new Promise((r) => setTimeout(r, 50)), answer('x')));
    const outcomes = await Promise.all([processDelivery(delivery(job.jobId, 'a'), h.deps), processDelivery(delivery(job.jobId, 'b'), h.deps)]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['finished', 'skipped']);
    expect(h.modelCalls()).toBe(1);
    expect(h.published).toHaveLength(1);
  });

  it('takes over a RUNNING job whose lease expired, and the stale worker cannot finish it', async () => {
    const job = await queuedJob();
    const past = new Date(Date.now() - 60_000);
    expect(await store.claim(job.jobId, { owner: 'crashed-worker', messageId: 'crashed', receiveCount: 1 }, { expiresAt: past.getTime() + 1000 }, past)).toBeDefined();
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'rescuer'), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    const late = await store.markSucceeded(job.jobId, 'crashed-worker', { result: { stopReason: 'end_turn', usage: { inputTokens: 0, outputTokens: 0 }, modelId: 'm', text: 'stale' }, attempts: [] }, new Date());
    expect(late).toBeUndefined();
    expect((await store.get(job.jobId, new Date()))?.result?.text).toBe('the answer');
  });

  it('leaves a job with a live lease to its holder, and comes back on a new message when that lease ends', async () => {
    const job = await queuedJob();
    await store.claim(job.jobId, { owner: 'holder', messageId: 'holder', receiveCount: 1 }, { expiresAt: Date.now() + 60_000 }, new Date());
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'other'), h.deps)).toEqual({ kind: 'skipped', reason: 'held-by-another-worker' });
    expect(h.modelCalls()).toBe(0);
    expect(h.requeued).toEqual([{ jobId: job.jobId, delaySeconds: expect.any(Number) }]);
    expect(h.requeued[0].delaySeconds).toBeGreaterThanOrEqual(60);
  });

  it('retries a throttled model with jittered, growing backoff and succeeds without falling back', async () => {
    const job = await queuedJob();
    let n = 0;
    const h = harness(async () => (++n < 3 ? Promise.reject(throttled()) : answer()));
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.calls).toEqual(['model-a@us-east-1', 'model-a@us-east-1', 'model-a@us-east-1']);
    expect(h.slept).toEqual([50, 100]);
    const stored = await store.get(job.jobId, new Date());
    expect(stored?.attempts.map((a) => [a.outcome, a.errorCode])).toEqual([['failed', 'MODEL_THROTTLED'], ['failed', 'MODEL_THROTTLED'], ['succeeded', undefined]]);
    expect(h.breaker.records).toEqual(['model-a@us-east-1:failure', 'model-a@us-east-1:failure', 'model-a@us-east-1:success']);
  });

  it('fails over to the next region, then to the fallback model, when a model stays unavailable', async () => {
    const job = await queuedJob();
    const h = harness(async (id) => (id === 'model-b' ? answer('from b') : Promise.reject(unavailable())), {
      policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 2, baseDelayMs: 10, maxDelayMs: 10 } },
    });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.calls).toEqual(['model-a@us-east-1', 'model-a@us-east-1', 'model-a@us-west-2', 'model-a@us-west-2', 'model-b@us-east-1']);
    expect((await store.get(job.jobId, new Date()))?.result).toMatchObject({ text: 'from b', modelId: 'model-b' });
  });

  it('skips a model whose circuit is open without calling it', async () => {
    const job = await queuedJob();
    const h = harness(async () => answer('from b'));
    h.deps.breaker = { ...openGate(), admit: async (t) => (t.modelId === 'model-a' ? { admitted: false, state: 'OPEN', retryAt: Date.now() + 30_000 } : { admitted: true, probe: false }) };
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.calls).toEqual(['model-b@us-east-1']);
    expect((await store.get(job.jobId, new Date()))?.attempts.map((a) => [a.modelId, a.region, a.outcome, a.errorCode])).toEqual([
      ['model-a', 'us-east-1', 'skipped', 'CIRCUIT_OPEN'],
      ['model-a', 'us-west-2', 'skipped', 'CIRCUIT_OPEN'],
      ['model-b', 'us-east-1', 'succeeded', undefined],
    ]);
  });

  it('requeues a job no model can answer yet, recording its attempts, without failing it', async () => {
    const job = await queuedJob({ route: 'solo' });
    const h = harness(async () => Promise.reject(throttled()), { policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 1, baseDelayMs: 0, maxDelayMs: 0 }, requeue: { baseDelaySeconds: 4, maxDelaySeconds: 60, mode: 'requeue' } } });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'requeued', delaySeconds: 4 });
    expect(h.requeued).toEqual([{ jobId: job.jobId, delaySeconds: 4 }]);
    const stored = await store.get(job.jobId, new Date());
    expect(stored).toMatchObject({ status: 'QUEUED', requeues: 1 });
    expect(stored?.attempts).toHaveLength(2);
    expect(h.published).toHaveLength(0);
    // The next requeue waits twice as long.
    expect(await processDelivery(delivery(job.jobId, 'again'), h.deps)).toEqual({ kind: 'requeued', delaySeconds: 8 });
  });

  it('waits at least until an open circuit admits calls again before trying a requeued job', async () => {
    const job = await queuedJob({ route: 'solo' });
    const h = harness();
    h.deps.breaker = { ...openGate(), admit: async () => ({ admitted: false, state: 'OPEN', retryAt: Date.now() + 42_000 }) };
    const outcome = await processDelivery(delivery(job.jobId), h.deps);
    expect(outcome).toEqual({ kind: 'requeued', delaySeconds: expect.any(Number) });
    expect((outcome as { delaySeconds: number }).delaySeconds).toBeGreaterThanOrEqual(41);
    expect(h.modelCalls()).toBe(0);
  });

  it('ends FAILED with ALL_MODELS_UNAVAILABLE and every attempt once the model-call budget is spent', async () => {
    const job = await queuedJob({ route: 'solo' });
    const h = harness(async () => Promise.reject(unavailable()), { policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 2, baseDelayMs: 0, maxDelayMs: 0 }, maxModelCalls: 4 } });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    const stored = await store.get(job.jobId, new Date());
    expect(stored?.error).toEqual({ code: 'ALL_MODELS_UNAVAILABLE', message: expect.stringContaining('MODEL_UNAVAILABLE') });
    expect(stored?.attempts).toHaveLength(4);
    expect(h.published.map((j) => j.error?.code)).toEqual(['ALL_MODELS_UNAVAILABLE']);
  });

  it('ends FAILED (JOB_DEADLINE_EXCEEDED) without a model call when delivered past the job deadline', async () => {
    const job = await queuedJob({ route: 'solo', createdAt: new Date(Date.now() - 7200_000).toISOString() });
    const h = harness(async () => Promise.reject(throttled()));
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    expect((await store.get(job.jobId, new Date()))?.error?.code).toBe('JOB_DEADLINE_EXCEEDED');
    expect(h.modelCalls()).toBe(0);
    expect(h.published).toHaveLength(1);
  });

  it('serves a cached answer, marked servedFrom cache, when every model fails', async () => {
    const first = await queuedJob();
    const h = harness();
    await processDelivery(delivery(first.jobId), h.deps);
    expect(h.cache.size).toBe(1);
    const again = await queuedJob();
    const down = harness(async () => Promise.reject(unavailable()), { cache: { get: async (k) => h.cache.get(k), put: async () => {} } });
    expect(await processDelivery(delivery(again.jobId), down.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect((await store.get(again.jobId, new Date()))?.result).toMatchObject({ text: 'the answer', servedFrom: 'cache' });
    expect(responseCacheKey(first)).toBe(responseCacheKey(again));
    expect(responseCacheKey({ ...first, tenant: 'other' })).not.toBe(responseCacheKey(first));
    expect(responseCacheKey({ ...first, modelId: 'model-b' })).not.toBe(responseCacheKey(first));
  });

  it('fails a job at once on a validation error from the model: no retry, no fallback', async () => {
    const job = await queuedJob();
    const invalid = Object.assign(new Error('Malformed input request: max_tokens'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    const h = harness(async () => Promise.reject(invalid));
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    expect(h.calls).toEqual(['model-a@us-east-1']);
    expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'FAILED', error: { code: 'MODEL_VALIDATION_ERROR', message: 'Malformed input request: max_tokens' } });
    expect(h.published.map((j) => j.status)).toEqual(['FAILED']);
    expect(h.breaker.records).toEqual(['model-a@us-east-1:success']);
  });

  it('falls back to a model with a larger context window when the input is too long, skipping smaller ones', async () => {
    const job = await queuedJob();
    const tooLong = Object.assign(new Error('Input is too long for requested model.'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    const h = harness(async (id) => (id === 'model-a' ? Promise.reject(tooLong) : answer('long context')));
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.calls).toEqual(['model-a@us-east-1', 'model-b@us-east-1']);
    expect((await store.get(job.jobId, new Date()))?.attempts.map((a) => [a.modelId, a.region, a.outcome, a.errorCode])).toEqual([
      ['model-a', 'us-east-1', 'failed', 'CONTEXT_WINDOW_EXCEEDED'],
      ['model-a', 'us-west-2', 'skipped', 'CONTEXT_WINDOW_TOO_SMALL'],
      ['model-b', 'us-east-1', 'succeeded', undefined],
    ]);
  });

  it('requeues instead of starting a call the invocation has no time left for', async () => {
    const job = await queuedJob();
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'w', 1, 2_000), h.deps)).toEqual({ kind: 'requeued', delaySeconds: 5 });
    expect(h.modelCalls()).toBe(0);
  });

  it('offloads a result larger than the inline limit and keeps only a pointer and the summary', async () => {
    const job = await queuedJob();
    const big = 'y'.repeat(5000);
    const h = harness(async () => ({ text: big, stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 900 } }));
    await processDelivery(delivery(job.jobId), h.deps);
    const stored = await store.get(job.jobId, new Date());
    expect(h.offloaded).toEqual([{ jobId: job.jobId, result: expect.objectContaining({ text: big }) }]);
    expect(stored?.result).toEqual({ stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 900 }, modelId: 'model-a' });
    expect(stored?.resultLocation).toEqual({ bucket: 'b', key: `results/${job.jobId}.json`, bytes: 100 });
  });

  it('publishes an event still owed by a job that finished before a crash: its own redelivery does, once, without a model call', async () => {
    const job = await queuedJob();
    const failingEvents = harness(undefined, { events: { publishTerminal: async () => Promise.reject(new Error('sns down')) } });
    await expect(processDelivery(delivery(job.jobId, 'first', 1, shrinking(10_000)), failingEvents.deps)).rejects.toThrow('sns down');
    expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'SUCCEEDED' });
    const h = harness();
    expect(await processDelivery(delivery(job.jobId, 'first', 2), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.modelCalls()).toBe(0);
    expect(h.published).toHaveLength(1);
    expect(await processDelivery(delivery(job.jobId, 'again', 3), h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect(h.published).toHaveLength(1);
  });
});

describe('a message that outruns the record of its job (the submit sends it first)', () => {
  it('looks once more after a moment and runs the job when its record has landed', async () => {
    const job = { ...(await queuedJob()), jobId: `late-${Date.now()}` };
    const h = harness(undefined, { sleep: async () => void (await store.create(job, new Date())) });
    expect(await processDelivery({ ...delivery(job.jobId), request: job.request, requestHash: job.requestHash, createdAt: new Date().toISOString() }, h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
  });

  it('defers with a new message while its submit may still be writing the record, then drops it', async () => {
    const h = harness();
    const request = { messages: [{ role: 'user' as const, content: [{ text: 'hello' }] }] };
    const young = { ...delivery('never-recorded'), request, requestHash: 'h', createdAt: new Date(Date.now() - 9_000).toISOString() };
    expect(await processDelivery(young, h.deps)).toEqual({ kind: 'skipped', reason: 'not-yet-recorded' });
    expect(h.requeued).toEqual([{ jobId: 'never-recorded', delaySeconds: 5 }]);
    const old = { ...young, createdAt: new Date(Date.now() - 600_000).toISOString() };
    expect(await processDelivery(old, h.deps)).toEqual({ kind: 'skipped', reason: 'gone' });
    expect(h.requeued).toHaveLength(1);
    expect(h.modelCalls()).toBe(0);
  });
});

describe('a dead-lettered job', () => {
  it('goes back to the queue while it is within its deadline, then fails as poison (DEAD_LETTERED) naming the last error', async () => {
    const job = await queuedJob({ route: 'solo' });
    await processDelivery(delivery(job.jobId), harness(async () => Promise.reject(throttled()), { policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 1, baseDelayMs: 0, maxDelayMs: 0 } } }).deps);
    const h = harness(undefined, { policy: { ...DEFAULT_RESILIENCE, deadLetterRequeues: 2 } });
    expect(await handleDeadLetter({ jobId: job.jobId }, () => 30_000, h.deps)).toEqual({ kind: 'requeued', delaySeconds: 900 });
    expect(await handleDeadLetter({ jobId: job.jobId }, () => 30_000, h.deps)).toEqual({ kind: 'requeued', delaySeconds: 900 });
    expect(h.requeued.map((r) => r.jobId)).toEqual([job.jobId, job.jobId]);
    expect(h.published).toHaveLength(0);
    expect(await handleDeadLetter({ jobId: job.jobId }, () => 30_000, h.deps)).toEqual({ kind: 'failed', reason: 'poison' });
    const stored = await store.get(job.jobId, new Date());
    expect(stored?.error).toEqual({ code: 'DEAD_LETTERED', message: expect.stringContaining('MODEL_THROTTLED') });
    expect(h.published).toHaveLength(1);
  });

  it('fails a job past its deadline at once (JOB_DEADLINE_EXCEEDED)', async () => {
    const job = await queuedJob({ createdAt: new Date(Date.now() - 7200_000).toISOString() });
    const h = harness();
    expect(await handleDeadLetter({ jobId: job.jobId }, () => 30_000, h.deps)).toEqual({ kind: 'failed', reason: 'past-deadline' });
    expect((await store.get(job.jobId, new Date()))?.error?.code).toBe('JOB_DEADLINE_EXCEEDED');
    expect(h.published.map((j) => j.status)).toEqual(['FAILED']);
  });

  it('leaves a job that already succeeded as it is, and announces it (its message is dead-lettered only when its publish kept failing)', async () => {
    const job = await queuedJob();
    await processDelivery(delivery(job.jobId), harness().deps);
    const h = harness();
    expect(await handleDeadLetter({ jobId: job.jobId }, () => 30_000, h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect((await store.get(job.jobId, new Date()))?.status).toBe('SUCCEEDED');
    expect(h.published.map((j) => j.status)).toEqual(['SUCCEEDED']);
  });
});

describe('the job repository', () => {
  it('treats an expired record as absent and lets its id be reused', async () => {
    const job = await queuedJob({ expiresAt: Math.floor(Date.now() / 1000) - 10 });
    expect(await store.get(job.jobId, new Date())).toBeUndefined();
    expect(await store.create({ ...job, expiresAt: Math.floor(Date.now() / 1000) + 100 }, new Date())).toEqual({ created: true });
  });

  it('keeps the request apart from the state: state reads carry none, and transitions never rewrite it', async () => {
    const job = await queuedJob({ request: { messages: [{ role: 'user', content: [{ text: 'a long prompt '.repeat(200) }] }] } });
    expect((await store.get(job.jobId, new Date()))?.request).toBeUndefined();
    expect(await store.getRequest(job.jobId)).toEqual(job.request);
  });

  it('refuses to create over a live job and returns it', async () => {
    const job = await queuedJob();
    expect(await store.create({ ...job, requestHash: 'other' }, new Date())).toEqual({ created: false, existing: expect.objectContaining({ jobId: job.jobId, requestHash: 'hash' }) });
  });

  it("lets only a message of the job's own request claim it", async () => {
    const job = await queuedJob();
    expect(await store.claim(job.jobId, { owner: 'w', messageId: 'w', receiveCount: 1, requestHash: 'another' }, { expiresAt: Date.now() + 1000 }, new Date())).toBeUndefined();
    expect(await store.claim(job.jobId, { owner: 'w', messageId: 'w', receiveCount: 1, requestHash: 'hash' }, { expiresAt: Date.now() + 1000 }, new Date())).toMatchObject({ status: 'RUNNING' });
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

describe('a delivery that crashes', () => {
  it('gives the job back (QUEUED, lease released) before failing, so SQS redelivery can claim it', async () => {
    const job = await queuedJob();
    const h = harness(async () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'map')")));
    await expect(processDelivery(delivery(job.jobId), h.deps)).rejects.toThrow(TypeError);
    const stored = await store.get(job.jobId, new Date());
    expect(stored?.status).toBe('QUEUED');
    expect(stored?.lease).toBeUndefined();
    expect(await processDelivery(delivery(job.jobId, 'redelivery', 2), harness().deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
  });
});

describe('the model-call budget', () => {
  it('is never exceeded within one delivery, however long the chain', async () => {
    const job = await queuedJob();
    const h = harness(async () => Promise.reject(unavailable()), { policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 2, baseDelayMs: 0, maxDelayMs: 0 }, maxModelCalls: 3 } });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    expect(h.modelCalls()).toBe(3);
    expect((await store.get(job.jobId, new Date()))?.error?.code).toBe('ALL_MODELS_UNAVAILABLE');
  });
});

describe('quota-aware admission', () => {
  const busyRouting = routingTableSchema.parse({
    defaultRoute: 'generate',
    routes: { generate: { modelId: 'model-a', fallback: ['model-b'] }, eager: { modelId: 'model-a', fallback: ['model-b'], fallbackWhenBusy: true } },
    models: { 'model-a': { quota: { requestsPerMinute: 60 } } },
  });

  it('sends a job that finds no capacity back to the queue until its reserved slot, without calling Bedrock, then calls on time', async () => {
    const job = await queuedJob();
    const reserves: string[] = [];
    const h = harness(undefined, { routing: busyRouting });
    h.deps.capacity = { reserve: async (t) => (reserves.push(t.modelId), { kind: 'reserved', waitMs: 7_200 }), settle: async () => {} };
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'requeued', delaySeconds: 8 });
    expect(h.modelCalls()).toBe(0);
    const waiting = await store.get(job.jobId, new Date());
    expect(waiting?.reservation).toMatchObject({ modelId: 'model-a', region: 'us-east-1', requests: 1 });
    expect(waiting?.attempts).toEqual([]);

    // Back at its slot: the reservation is used, no new one is asked for.
    const onTime = harness(undefined, { routing: busyRouting, clock: () => new Date(waiting!.reservation!.notBefore) });
    onTime.deps.capacity = { reserve: async (t) => (reserves.push(t.modelId), { kind: 'refused', waitMs: 60_000 }), settle: async () => {} };
    expect(await processDelivery(delivery(job.jobId, 'later', 1), onTime.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(reserves).toEqual(['model-a']);
    expect(onTime.calls).toEqual(['model-a@us-east-1']);
  });

  it('moves on to the next model when the route allows it, giving the reservation back', async () => {
    const job = await queuedJob({ route: 'eager' });
    const settled: string[] = [];
    const h = harness(undefined, { routing: busyRouting });
    h.deps.capacity = {
      reserve: async (t) => (t.modelId === 'model-a' ? { kind: 'reserved', waitMs: 30_000 } : { kind: 'unlimited' }),
      settle: async (t, _c, o) => void settled.push(`${t.modelId}:${o.called}`),
    };
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.calls).toEqual(['model-b@us-east-1']);
    expect(settled).toEqual(['model-a:false']);
    expect((await store.get(job.jobId, new Date()))?.attempts[0]).toMatchObject({ modelId: 'model-a', outcome: 'skipped', errorCode: 'NO_CAPACITY' });
  });

  it('waits in the invocation for a slot due within a second, and settles the call with its real usage', async () => {
    const job = await queuedJob();
    const settled: unknown[] = [];
    const h = harness(undefined, { routing: busyRouting });
    h.deps.capacity = { reserve: async () => ({ kind: 'reserved', waitMs: 400 }), settle: async (_t, cost, outcome) => void settled.push({ cost, outcome }) };
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.slept).toEqual([400]);
    expect(settled).toEqual([{ cost: { requests: 1, tokens: 2 + 4096 }, outcome: { usage: { inputTokens: 2, outputTokens: 3 }, throttled: false, called: true } }]);
  });
});

describe('requeue mode "redeliver" (the classic setup, kept for comparison)', () => {
  it('gives the job back and leaves its message to SQS redelivery instead of requeueing it', async () => {
    const job = await queuedJob({ route: 'solo' });
    const h = harness(async () => Promise.reject(throttled()), {
      policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 1, baseDelayMs: 0, maxDelayMs: 0 }, requeue: { ...DEFAULT_RESILIENCE.requeue, mode: 'redeliver' } },
    });
    await expect(processDelivery(delivery(job.jobId), h.deps)).rejects.toThrow(RedeliverLater);
    expect(h.requeued).toEqual([]);
    expect((await store.get(job.jobId, new Date()))?.status).toBe('QUEUED');
  });
});

describe('requeueing near the deadline', () => {
  it('never delays a job past its deadline, even while a circuit stays open longer', async () => {
    const job = await queuedJob({ route: 'solo', createdAt: new Date(Date.now() - (DEFAULT_RESILIENCE.jobDeadlineSeconds - 20) * 1000).toISOString() });
    const h = harness();
    h.deps.breaker = { ...openGate(), admit: async () => ({ admitted: false, state: 'OPEN', retryAt: Date.now() + 300_000 }) };
    const outcome = await processDelivery(delivery(job.jobId), h.deps);
    expect(outcome).toEqual({ kind: 'requeued', delaySeconds: expect.any(Number) });
    expect((outcome as { delaySeconds: number }).delaySeconds).toBeLessThanOrEqual(20);
  });
});
