import { submitJob, type SubmissionDeps } from '../../../lambda/core/job-submission';
import type { Job } from '../../../lambda/core/job';
import type { JobMessage, JobStore } from '../../../lambda/core/ports';
import { routingTableSchema, type RoutingTable } from '../../../lambda/core/settings';
import { QuarryError } from '../../../lambda/core/errors';

const routing: RoutingTable = routingTableSchema.parse({
  defaultRoute: 'generate',
  routes: {
    classify: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', path: '/api/classify' },
    generate: { modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0', path: '/api/generate' },
  },
});

/** A store that keeps jobs in a map with the repository's create semantics (tests of the use case, not of DynamoDB). */
function recordingStore() {
  const jobs = new Map<string, Job>();
  const requests: string[] = [];
  const store: Pick<JobStore, 'create' | 'get' | 'putRequest'> = {
    async putRequest(job) {
      requests.push(job.jobId);
    },
    async get(jobId) {
      return jobs.get(jobId);
    },
    async create(job) {
      const existing = jobs.get(job.jobId);
      if (existing) return { created: false, existing };
      jobs.set(job.jobId, job);
      return { created: true };
    },
  };
  return { jobs, requests, store: store as JobStore };
}

function deps(overrides: Partial<SubmissionDeps> = {}) {
  const { jobs, requests, store } = recordingStore();
  const sent: JobMessage[] = [];
  /** What the store held when each message was sent. */
  const recordedWhenSent: number[] = [];
  const d: SubmissionDeps = {
    store,
    queue: { enqueue: async (m) => void (sent.push(m), recordedWhenSent.push(jobs.size)) },
    routing,
    jobTtlDays: 7,
    clock: () => new Date('2026-11-25T10:00:00Z'),
    log: { info: () => {}, warn: () => {}, error: () => {} },
    ...overrides,
  };
  return { d, jobs, sent, requests, recordedWhenSent };
}

async function rejection(promise: Promise<unknown>): Promise<QuarryError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof QuarryError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('submitJob', () => {
  it('queues the job with its request, then records it QUEUED (a small request is stored nowhere else)', async () => {
    const { d, jobs, sent, requests, recordedWhenSent } = deps();
    const { httpStatus, job } = await submitJob({ body: { prompt: 'Explain RAG' }, tenant: { name: 'default' } }, d);
    expect(httpStatus).toBe(202);
    expect(job).toMatchObject({ status: 'QUEUED', route: 'generate', modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0', attempts: [] });
    expect(job.request?.messages).toEqual([{ role: 'user', content: [{ text: 'Explain RAG' }] }]);
    expect(job.expiresAt).toBe(Date.parse('2026-11-25T10:00:00Z') / 1000 + 7 * 86400);
    expect(jobs.get(job.jobId)).toBe(job);
    expect(sent).toEqual([{ jobId: job.jobId, tenant: 'default', requestHash: job.requestHash, createdAt: job.createdAt, request: job.request }]);
    expect(recordedWhenSent).toEqual([0]);
    expect(requests).toEqual([]);
    expect(job.sweepAt).toBeUndefined();
  });

  it('writes a request too large for the message as an item of its own before sending the message without it', async () => {
    const { d, sent, requests } = deps();
    const { job } = await submitJob({ body: { prompt: 'x'.repeat(60_000) }, tenant: { name: 't' } }, d);
    expect(requests).toEqual([job.jobId]);
    expect(sent).toEqual([{ jobId: job.jobId, tenant: 't', requestHash: job.requestHash, createdAt: job.createdAt }]);
  });

  it('takes the route from a static path', async () => {
    const { d } = deps();
    const { job } = await submitJob({ body: { prompt: 'spam?' }, tenant: { name: 't' }, pathRoute: 'classify' }, d);
    expect(job).toMatchObject({ route: 'classify', modelId: 'anthropic.claude-3-haiku-20240307-v1:0' });
  });

  it('rejects a body route that contradicts the static path', async () => {
    const { d, jobs } = deps();
    const error = await rejection(submitJob({ body: { prompt: 'x', route: 'generate' }, tenant: { name: 't' }, pathRoute: 'classify' }, d));
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', httpStatus: 400 });
    expect(jobs.size).toBe(0);
  });

  it.each([
    [{}, 'prompt'],
    [{ prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, 'prompt'],
    [{ prompt: '' }, 'prompt'],
    [{ prompt: 'a', temperature: 0.2 }, 'temperature'],
    [{ prompt: 'a', inferenceConfig: { maxTokens: 0 } }, 'inferenceConfig.maxTokens'],
    [{ messages: [{ role: 'assistant', content: 'hi' }] }, 'messages.0.role'],
    [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }, 'messages.1.role'],
    ['just a string', '(body)'],
  ])('answers 400 VALIDATION_ERROR naming the field for %j', async (body, path) => {
    const { d, jobs, sent } = deps();
    const error = await rejection(submitJob({ body, tenant: { name: 't' } }, d));
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', httpStatus: 400 });
    expect((error.details as { path: string }[]).map((i) => i.path)).toContain(path);
    expect(jobs.size).toBe(0);
    expect(sent).toHaveLength(0);
  });

  it('answers 422 for an unknown route and for a model outside the configuration', async () => {
    const { d } = deps();
    expect(await rejection(submitJob({ body: { prompt: 'a', route: 'nope' }, tenant: { name: 't' } }, d))).toMatchObject({ code: 'UNKNOWN_ROUTE', httpStatus: 422 });
    expect(await rejection(submitJob({ body: { prompt: 'a', modelId: 'meta.llama3-70b' }, tenant: { name: 't' } }, d))).toMatchObject({ code: 'MODEL_NOT_ALLOWED', httpStatus: 422 });
  });

  it('replays the same job for the same Idempotency-Key and body without sending another message', async () => {
    const { d, sent } = deps();
    const first = await submitJob({ body: { prompt: 'same' }, tenant: { name: 't' }, idempotencyKey: 'k-1' }, d);
    const again = await submitJob({ body: { prompt: 'same' }, tenant: { name: 't' }, idempotencyKey: 'k-1' }, d);
    expect(first.httpStatus).toBe(202);
    expect(again).toMatchObject({ httpStatus: 200, job: { jobId: first.job.jobId } });
    expect(sent).toHaveLength(1);
  });

  it('answers a replay that raced the first submit past its read: its message carries the same fingerprint', async () => {
    const { d, sent, jobs } = deps();
    d.store = { ...d.store, get: async () => undefined };
    const first = await submitJob({ body: { prompt: 'same' }, tenant: { name: 't' }, idempotencyKey: 'k-3' }, d);
    const again = await submitJob({ body: { prompt: 'same' }, tenant: { name: 't' }, idempotencyKey: 'k-3' }, d);
    expect(again).toMatchObject({ httpStatus: 200, job: { jobId: first.job.jobId } });
    expect(sent.map((m) => m.requestHash)).toEqual([first.job.requestHash, first.job.requestHash]);
    expect(jobs.size).toBe(1);
    const conflict = await rejection(submitJob({ body: { prompt: 'other' }, tenant: { name: 't' }, idempotencyKey: 'k-3' }, d));
    expect(conflict).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', httpStatus: 409 });
    // Its message went out with another fingerprint: no worker runs the job from it (lambda/core/job-lifecycle.ts).
    expect(sent[2].requestHash).not.toBe(first.job.requestHash);
  });

  it('answers 503 and records nothing when the job cannot be queued; a retry with the key runs it', async () => {
    let queueUp = false;
    const { d, jobs, sent } = deps();
    const enqueue = d.queue.enqueue;
    d.queue = { enqueue: async (m) => (queueUp ? enqueue(m) : Promise.reject(new Error('sqs down'))) };
    expect(await rejection(submitJob({ body: { prompt: 'p' }, tenant: { name: 't' }, idempotencyKey: 'k-9' }, d))).toMatchObject({ code: 'ENQUEUE_FAILED', httpStatus: 503 });
    expect(jobs.size).toBe(0);
    queueUp = true;
    const retry = await submitJob({ body: { prompt: 'p' }, tenant: { name: 't' }, idempotencyKey: 'k-9' }, d);
    expect(retry.httpStatus).toBe(202);
    expect(sent.map((m) => m.jobId)).toEqual([retry.job.jobId]);
  });

  it('answers 503 when the record cannot be written after the message went out (its worker drops that message)', async () => {
    const { d, sent } = deps();
    d.store = { ...d.store, create: async () => Promise.reject(new Error('dynamodb down')) };
    expect(await rejection(submitJob({ body: { prompt: 'p' }, tenant: { name: 't' } }, d))).toMatchObject({ code: 'ENQUEUE_FAILED', httpStatus: 503 });
    expect(sent).toHaveLength(1);
  });

  it('refuses maxTokens above the chosen model\'s output limit, naming the field', async () => {
    const { d } = deps({ routing: { ...routing, models: { 'anthropic.claude-3-haiku-20240307-v1:0': { regions: [], maxOutputTokens: 4096 } } } });
    const error = await rejection(submitJob({ body: { prompt: 'x', inferenceConfig: { maxTokens: 5000 } }, tenant: { name: 't' }, pathRoute: 'classify' }, d));
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', httpStatus: 400, details: [{ path: 'inferenceConfig.maxTokens', message: expect.stringContaining('at most 4096') }] });
  });

  it('keeps a tenant to the routes and models of its plan', async () => {
    const { d } = deps({ routing: { ...routing, routes: { ...routing.routes, generate: { ...routing.routes.generate, fallback: ['anthropic.claude-3-haiku-20240307-v1:0'] } } } });
    const haikuOnly = { name: 'small', routes: ['generate', 'classify'], models: ['anthropic.claude-3-haiku-20240307-v1:0'] };
    expect(await rejection(submitJob({ body: { prompt: 'x', route: 'analyze' }, tenant: { name: 'small', routes: ['classify'] } }, d))).toMatchObject({ code: 'UNKNOWN_ROUTE' });
    expect(await rejection(submitJob({ body: { prompt: 'x' }, tenant: { name: 'small', routes: ['classify'] } }, d))).toMatchObject({ code: 'ROUTE_NOT_IN_PLAN', httpStatus: 403, details: [{ path: 'route' }] });
    expect(await rejection(submitJob({ body: { prompt: 'x', modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0' }, tenant: haikuOnly }, d))).toMatchObject({ code: 'MODEL_NOT_IN_PLAN', httpStatus: 403, details: [{ path: 'modelId' }] });
    // A route whose own model the plan excludes is served by the first model of its chain the plan allows.
    const { job } = await submitJob({ body: { prompt: 'x' }, tenant: haikuOnly }, d);
    expect(job).toMatchObject({ route: 'generate', modelId: 'anthropic.claude-3-haiku-20240307-v1:0', tenant: 'small' });
  });

  it('answers 409 for the same Idempotency-Key with a different body', async () => {
    const { d } = deps();
    await submitJob({ body: { prompt: 'one' }, tenant: { name: 't' }, idempotencyKey: 'k-2' }, d);
    expect(await rejection(submitJob({ body: { prompt: 'two' }, tenant: { name: 't' }, idempotencyKey: 'k-2' }, d))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', httpStatus: 409 });
  });

  it('keeps Idempotency-Keys apart per tenant', async () => {
    const { d } = deps();
    const a = await submitJob({ body: { prompt: 'one' }, tenant: { name: 'a' }, idempotencyKey: 'k' }, d);
    const b = await submitJob({ body: { prompt: 'two' }, tenant: { name: 'b' }, idempotencyKey: 'k' }, d);
    expect(a.job.jobId).not.toBe(b.job.jobId);
  });
});
