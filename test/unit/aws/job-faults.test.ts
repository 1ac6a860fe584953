import type { Job } from '../../../lambda/core/job';
import { MAX_RECORDED_SKIPS } from '../../../lambda/core/candidate-call';
import { chainFor } from '../../../lambda/core/chain-walk';
import { processDelivery } from '../../../lambda/core/job-processing';
import { sweepDueJobs } from '../../../lambda/core/job-sweep';
import type { JobStore } from '../../../lambda/core/ports';
import { DEFAULT_RESILIENCE } from '../../../lambda/core/settings';
import { answer, delivery, harness, openGate, queuedJob, routing, shrinking, store, useJobsTable } from './processing-harness';

/*
 * Faults between a job's claim and its announcement, against real conditional writes (dynalite): the lifecycle
 * invariants of ARCHITECTURE.md must hold whichever write fails and for how long.
 */

useJobsTable();

const awsDown = () => Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } });

/** The real store, with `method` failing its next `times` calls (Infinity: until `heal()`). */
function failing<K extends keyof JobStore>(method: K, times: number) {
  let left = times;
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== method || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        if (left > 0) {
          left--;
          throw awsDown();
        }
        return value.apply(target, args);
      };
    },
  }) as JobStore;
  return { store: wrapped, heal: () => (left = 0) };
}

const policy = { ...DEFAULT_RESILIENCE, sweepGraceSeconds: 60 };

describe('an error after the answer', () => {
  it('retries the terminal write within the invocation: SUCCEEDED, announced once, one model call', async () => {
    const job = await queuedJob();
    const h = harness(undefined, { store: failing('markSucceeded', 4).store, policy });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.modelCalls()).toBe(1);
    expect(h.published.map((j) => j.jobId)).toEqual([job.jobId]);
    expect(h.slept.length).toBeGreaterThanOrEqual(4);
  });

  it('retries a failed S3 offload of a large result', async () => {
    const job = await queuedJob();
    let failures = 2;
    const h = harness(async () => answer('z'.repeat(5000)), { policy });
    const put = h.deps.results.put;
    h.deps.results = { put: async (id, result) => (failures-- > 0 ? Promise.reject(awsDown()) : put(id, result)) };
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect((await store.get(job.jobId, new Date()))?.resultLocation).toBeDefined();
  });

  it('when the terminal write and the release both fail for the whole invocation, the same message\'s redelivery takes the lease over at once and finishes the job', async () => {
    const job = await queuedJob();
    const down = failing('markSucceeded', Infinity);
    const releaseDown = new Proxy(down.store, { get: (t, p, r) => (p === 'release' ? async () => Promise.reject(awsDown()) : Reflect.get(t, p, r)) }) as JobStore;
    const first = harness(undefined, { store: releaseDown, policy });
    await expect(processDelivery(delivery(job.jobId, 'msg-7:req-1', 1, shrinking(20_000)), first.deps)).rejects.toThrow('internal error');
    expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'RUNNING' });

    // Another message for the same job (a duplicate) must not take a live lease...
    const duplicate = harness(undefined, { policy });
    expect(await processDelivery(delivery(job.jobId, 'msg-8:req-1'), duplicate.deps)).toEqual({ kind: 'skipped', reason: 'held-by-another-worker' });
    // ...but the failed delivery's own message, received again, may.
    const again = harness(undefined, { policy });
    expect(await processDelivery(delivery(job.jobId, 'msg-7:req-2', 2), again.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(first.published).toHaveLength(0);
    expect(again.published.map((j) => j.status)).toEqual(['SUCCEEDED']);
    // A concurrent receive of the same message with the same count is a duplicate, not a takeover.
    const job2 = await queuedJob();
    await store.claim(job2.jobId, { owner: 'a', messageId: 'same', receiveCount: 2 }, { expiresAt: Date.now() + 60_000 }, new Date());
    expect(await processDelivery(delivery(job2.jobId, 'same:req-b', 2), harness(undefined, { policy }).deps)).toEqual({ kind: 'skipped', reason: 'held-by-another-worker' });
  });

  it('a duplicate delivery never publishes a job another message finished; the finisher\'s own redelivery does, once', async () => {
    const job = await queuedJob();
    const failingEvents = harness(undefined, { events: { publishTerminal: async () => Promise.reject(awsDown()) }, policy });
    await expect(processDelivery(delivery(job.jobId, 'msg-9:r1', 1, shrinking(30_000)), failingEvents.deps)).rejects.toThrow();
    const duplicate = harness(undefined, { policy });
    expect(await processDelivery(delivery(job.jobId, 'msg-10:r1'), duplicate.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
    expect(duplicate.published).toHaveLength(0);
    // The finisher's message was not acknowledged (its delivery failed): it comes back and publishes.
    const own = harness(undefined, { policy });
    expect(await processDelivery(delivery(job.jobId, 'msg-9:r2', 2), own.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(own.published.map((j) => j.jobId)).toEqual([job.jobId]);
    expect(own.modelCalls()).toBe(0);
    // A worker's terminal write takes the job out of the sweep index: nothing more is owed through it.
    expect((await store.get(job.jobId, new Date()))?.sweepAt).toBeUndefined();
  });
});

describe('a model call that outlives the invocation', () => {
  it('is neutral for the circuit breaker, and the next delivery continues the chain after that model', async () => {
    const job = await queuedJob({ route: 'generate' });
    const slow = harness((_id, _req, options) => new Promise((_, reject) => options.abortSignal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })))), { policy });
    const outcome = await processDelivery(delivery(job.jobId, 'm1:r1', 1, 1_600 + 1_000 + 50), slow.deps);
    expect(outcome.kind).toBe('requeued');
    expect(slow.breaker.records).toEqual([]);
    const stored = (await store.get(job.jobId, new Date()))!;
    expect(stored.attempts.map((a) => [a.modelId, a.region, a.errorCode])).toEqual([['model-a', 'us-east-1', 'CALL_ABANDONED']]);

    const next = harness(undefined, { policy });
    expect(await processDelivery(delivery(job.jobId, 'm2:r1'), next.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(next.calls).toEqual(['model-a@us-west-2']);
  });

  it('wraps around to the start of the chain after its last candidate', () => {
    const base = { route: 'generate', modelId: 'model-a', tenant: 't' };
    const abandonedLast = { modelId: 'model-b', region: 'us-east-1', outcome: 'failed' as const, errorCode: 'CALL_ABANDONED', latencyMs: 1, startedAt: '' };
    const chain = chainFor({ ...base, attempts: [abandonedLast] }, { routing, homeRegion: 'us-east-1' });
    expect(chain.map((c) => `${c.modelId}@${c.region}`)).toEqual(['model-a@us-east-1', 'model-a@us-west-2', 'model-b@us-east-1']);
  });
});

describe('a model the deployment cannot use', () => {
  const denied = () => Object.assign(new Error('You don\'t have access to the model with the specified model ID.'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });

  it('moves down the fallback chain on AccessDenied (one call, no retry), and fails at once when no model is usable', async () => {
    const job = await queuedJob();
    const h = harness(async (id) => (id === 'model-a' ? Promise.reject(denied()) : answer('from b')), { policy });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(h.calls).toEqual(['model-a@us-east-1', 'model-a@us-west-2', 'model-b@us-east-1']);
    expect(h.breaker.records).toEqual(['model-a@us-east-1:success', 'model-a@us-west-2:success', 'model-b@us-east-1:success']);

    const none = await queuedJob();
    const all = harness(async () => Promise.reject(denied()), { policy });
    expect(await processDelivery(delivery(none.jobId), all.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
    expect((await store.get(none.jobId, new Date()))?.error).toEqual({ code: 'MODEL_ACCESS_DENIED', message: expect.stringContaining('can be used by this deployment') });
    expect(all.requeued).toHaveLength(0);
  });
});

describe('tenants and output limits', () => {
  it('walks only the models the tenant\'s plan allows', () => {
    const chain = chainFor({ route: 'generate', modelId: 'model-a', tenant: 'team-b', attempts: [] }, { routing, homeRegion: 'us-east-1', allowedModels: (t) => (t === 'team-b' ? ['model-b'] : undefined) });
    expect(chain.map((c) => c.modelId)).toEqual(['model-b']);
  });

  it('clamps maxTokens to a fallback model\'s lower output limit', async () => {
    const limited = { ...routing, models: { ...routing.models, 'model-b': { ...routing.models['model-b'], maxOutputTokens: 512 } } };
    const job = await queuedJob({ request: { messages: [{ role: 'user', content: [{ text: 'hi' }] }], inferenceConfig: { maxTokens: 2000 } } });
    const seen: (number | undefined)[] = [];
    const h = harness(async (id, req) => (seen.push(req.inferenceConfig?.maxTokens), id === 'model-a' ? Promise.reject(Object.assign(new Error('x'), { name: 'ServiceUnavailableException', $metadata: { httpStatusCode: 503 } })) : answer()), {
      routing: limited,
      policy: { ...policy, retry: { attemptsPerModel: 1, baseDelayMs: 0, maxDelayMs: 0 } },
    });
    expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
    expect(seen).toEqual([2000, 2000, 512]);
  });
});

describe('the sweep', () => {
  const sweep = (at: Date, overrides = {}) => {
    const h = harness(undefined, { policy, clock: () => at, ...overrides });
    return { h, run: () => sweepDueJobs(() => 30_000, { ...h.deps, index: store }) };
  };
  const due = (job: Pick<Job, 'jobId'>) => store.get(job.jobId, new Date()).then((j) => j!.sweepAt!);

  it('leaves a QUEUED job past its sweep time to its message (sending none), and looks again at its deadline', async () => {
    const waiting = await queuedJob({ sweepAt: Date.now() - 1 });
    const { h, run } = sweep(new Date());
    await run();
    expect(h.requeued).toEqual([]);
    expect(await due(waiting)).toBe(Date.parse(waiting.createdAt) + policy.jobDeadlineSeconds * 1000);
    expect((await store.get(waiting.jobId, new Date()))?.status).toBe('QUEUED');
  });

  it('looks again at a live lease after it ends, and at a dead one at the deadline (its message comes back meanwhile)', async () => {
    const dead = await queuedJob({ sweepAt: Date.now() - 1 });
    const past = Date.now() - 120_000;
    await store.claim(dead.jobId, { owner: 'dead', messageId: 'dead', receiveCount: 1 }, { expiresAt: past }, new Date(past - 1000));
    const live = await queuedJob({ sweepAt: Date.now() - 1 });
    await store.claim(live.jobId, { owner: 'live', messageId: 'live', receiveCount: 1 }, { expiresAt: Date.now() + 600_000 }, new Date());
    const { h, run } = sweep(new Date());
    await run();
    expect(h.requeued).toEqual([]);
    expect(await due(dead)).toBe(Date.parse(dead.createdAt) + policy.jobDeadlineSeconds * 1000);
    expect(await due(live)).toBeGreaterThan(Date.now() + 600_000);
  });

  it('fails a job past its deadline with JOB_DEADLINE_EXCEEDED and announces it', async () => {
    const old = await queuedJob({ createdAt: new Date(Date.now() - 7200_000).toISOString(), sweepAt: Date.now() - 1 });
    const { h, run } = sweep(new Date());
    expect((await run()).pastDeadline).toBeGreaterThanOrEqual(1);
    expect(await store.get(old.jobId, new Date())).toMatchObject({ status: 'FAILED', error: { code: 'JOB_DEADLINE_EXCEEDED' } });
    expect(h.published.filter((j) => j.jobId === old.jobId)).toHaveLength(1);
    expect((await store.get(old.jobId, new Date()))?.sweepAt).toBeUndefined();
  });

  it('keeps a job due when the topic is down, and counts the error', async () => {
    const owed = await queuedJob({ createdAt: new Date(Date.now() - 7200_000).toISOString(), sweepAt: Date.now() - 1 });
    const down = harness(undefined, { policy, events: { publishTerminal: async () => Promise.reject(awsDown()) } });
    // The publish is retried while the run has time (each reading of its clock a second less), then counted as an error.
    expect((await sweepDueJobs(shrinking(30_000), { ...down.deps, index: store })).errors).toBeGreaterThanOrEqual(1);
    expect((await store.get(owed.jobId, new Date()))?.sweepAt).toBeDefined();
    const { h, run: retry } = sweep(new Date(Date.now() + 120_000));
    await retry();
    expect(h.published.map((j) => j.jobId)).toContain(owed.jobId);
  });

});

describe('the job item', () => {
  it('records at most MAX_RECORDED_SKIPS skipped candidates, however often the job is requeued past open circuits', async () => {
    const job = await queuedJob({ route: 'generate' });
    const h = harness(undefined, { policy });
    h.deps.breaker = { ...openGate(), admit: async () => ({ admitted: false, state: 'OPEN', retryAt: Date.now() + 1_000 }) };
    for (let i = 0; i < 12; i++) expect((await processDelivery(delivery(job.jobId, `m${i}:r`), h.deps)).kind).toBe('requeued');
    const stored = (await store.get(job.jobId, new Date()))!;
    expect(stored.attempts.filter((a) => a.outcome === 'skipped')).toHaveLength(MAX_RECORDED_SKIPS);
  });
});

describe('admission order', () => {
  it('asks the breaker before capacity, so a candidate whose circuit is open reserves nothing', async () => {
    const job = await queuedJob({ route: 'solo' });
    const reserved: string[] = [];
    const h = harness(undefined, { policy, capacity: { reserve: async (t) => (reserved.push(t.modelId), { kind: 'reserved', waitMs: 0 }), settle: async () => {} } });
    h.deps.breaker = { ...openGate(), admit: async () => ({ admitted: false, state: 'OPEN', retryAt: Date.now() + 5_000 }) };
    expect((await processDelivery(delivery(job.jobId), h.deps)).kind).toBe('requeued');
    expect(reserved).toEqual([]);
  });
});
