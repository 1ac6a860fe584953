import { Quarry, QuarryError, WaitTimeoutError, JobFailedError, type FetchLike, type StreamEvent } from '../../client/src';
import type { LocalRuntime } from '../../local/runtime';
import { MODELS, simulator, startPipeline } from './harness';

/*
 * The typed client (client/) against the local runtime: every call of the API, its typed errors (403 wrong key,
 * 400 naming the field, 404, 409 on a reused Idempotency-Key, 422), waitFor's Retry-After pacing and deadline, and
 * which failures it retries.
 */

let runtime: LocalRuntime;
let quarry: Quarry;

beforeAll(async () => {
  runtime = await startPipeline({
    tenants: { default: {}, other: {} },
    // Two jobs at a time, one message each: with a slow model, a third job waits on the queue (to be cancelled).
    worker: { batchSize: 1, maxConcurrency: 2 },
    models: { 'claude-haiku': { modelId: MODELS.haiku }, 'claude-sonnet': { modelId: MODELS.sonnet } },
    routes: { generate: { model: 'claude-sonnet' }, classify: { model: 'claude-haiku' } },
  });
  quarry = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKey });
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setModel = (modelId: string, settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);

/** The QuarryError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<QuarryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(QuarryError);
    return error as QuarryError;
  }
  throw new Error('expected the call to fail');
}

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

const textOf = (events: StreamEvent[]) => events.flatMap((e) => (e.event === 'delta' ? [e.data.text] : [])).join('');

/**
 * A fetch that counts the calls it passes on, and fails the first `failFirst` of them as a dropped connection
 * would: before the request reached the API, or (`afterSending`) once the API had answered, the answer lost.
 */
function countingFetch(failFirst = 0, afterSending = false) {
  const calls: string[] = [];
  const lost: unknown[] = [];
  const fetchLike: FetchLike = async (input, init) => {
    calls.push(`${init.method} ${new URL(input).pathname}`);
    if (calls.length > failFirst) return fetch(input, init);
    if (afterSending) lost.push(await (await fetch(input, init)).json());
    throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
  };
  return { calls, lost, fetch: fetchLike };
}

describe('jobs', () => {
  it('submits a job and waits for it, paced by Retry-After, reporting each status', async () => {
    const submitted = await quarry.jobs.submit({ prompt: 'Explain RAG in one line.', metadata: { ticket: 'T-1' } });
    expect(submitted).toEqual({ jobId: expect.any(String), status: 'QUEUED', createdAt: expect.any(String), location: `/v1/jobs/${submitted.jobId}` });
    const seen: string[] = [];
    const job = await quarry.jobs.waitFor(submitted.jobId, { timeoutMs: 30_000, onStatus: (j) => seen.push(j.status) });
    expect(job).toMatchObject({ jobId: submitted.jobId, status: 'SUCCEEDED', route: 'generate', metadata: { ticket: 'T-1' }, result: { text: expect.stringMatching(/\w+/), modelId: MODELS.sonnet } });
    expect(seen.at(-1)).toBe('SUCCEEDED');
    expect(await quarry.jobs.text(job)).toBe(job.result!.text);
    expect(await quarry.jobs.get(submitted.jobId)).toMatchObject({ status: 'SUCCEEDED', result: job.result });
  });

  it("rejects with a WaitTimeoutError at the caller's deadline, then resolves once the job ends", async () => {
    await setModel(MODELS.sonnet, { latencyMs: { firstToken: 4000, perToken: 0 } });
    const { jobId } = await quarry.jobs.submit({ prompt: 'slow one' });
    const started = Date.now();
    const error = await failure(quarry.jobs.waitFor(jobId, { timeoutMs: 1200 }));
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: 'WAIT_TIMEOUT', status: 0, lastStatus: expect.stringMatching(/^(QUEUED|RUNNING)$/) });
    // The job's first Retry-After is 2 s: the wait is cut at the deadline, not slept through.
    expect(waited).toBeGreaterThanOrEqual(1100);
    expect(waited).toBeLessThan(2000);
    expect((await quarry.jobs.waitFor(jobId, { deadline: Date.now() + 30_000 })).status).toBe('SUCCEEDED');
  });

  it('resolves with a FAILED job and its error code; run() rejects with it', async () => {
    await setModel(MODELS.haiku, { available: false });
    const { jobId } = await quarry.jobs.submit({ prompt: 'x', route: 'classify' });
    const job = await quarry.jobs.waitFor(jobId, { timeoutMs: 30_000 });
    expect(job).toMatchObject({ status: 'FAILED', error: { code: 'MODEL_ACCESS_DENIED' } });
    const error = await failure(quarry.jobs.run({ prompt: 'y', route: 'classify' }, { timeoutMs: 30_000 }));
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error).toMatchObject({ code: 'MODEL_ACCESS_DENIED', details: [{ path: 'status', message: 'FAILED' }] });
  });

  it('replays a submit with the same Idempotency-Key and body, and raises 409 IDEMPOTENCY_KEY_REUSED for another body', async () => {
    const idempotencyKey = `order-${Date.now()}`;
    const first = await quarry.jobs.submit({ prompt: 'once' }, { idempotencyKey });
    const again = await quarry.jobs.submit({ prompt: 'once' }, { idempotencyKey });
    expect(again.jobId).toBe(first.jobId);
    const error = await failure(quarry.jobs.submit({ prompt: 'another' }, { idempotencyKey }));
    expect(error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 409, requestId: expect.any(String) });
  });

  it('retries a submit (its default Idempotency-Key makes it safe) and a read after a dropped connection', async () => {
    // The API accepted the job but its answer was lost: the retry (same Idempotency-Key) gets that job, not a second one.
    const flaky = countingFetch(1, true);
    const client = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKey, fetch: flaky.fetch, backoff: { baseDelayMs: 10 } });
    const { jobId } = await client.jobs.submit({ prompt: 'through a flaky network' });
    expect(flaky.calls).toEqual(['POST /jobs', 'POST /jobs']);
    expect(flaky.lost).toEqual([expect.objectContaining({ jobId })]);
    const flakyRead = countingFetch(2);
    const reader = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKey, fetch: flakyRead.fetch, backoff: { baseDelayMs: 10 } });
    expect((await reader.jobs.get(jobId)).jobId).toBe(jobId);
    expect(flakyRead.calls).toHaveLength(3);
    // With maxRetries 0 (or without a key) the dropped connection is the caller's error, mapped to a code.
    const strict = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKey, fetch: countingFetch(1).fetch, maxRetries: 0 });
    expect(await failure(strict.jobs.get(jobId))).toMatchObject({ code: 'NETWORK_ERROR', status: 0, message: expect.stringContaining('socket hang up') });
  });

  it('raises typed errors: 403 for a wrong key, 400 naming each field, 404 for an unknown or another tenant\'s job, 422 for an unknown route', async () => {
    const stranger = new Quarry({ baseUrl: runtime.apiUrl, apiKey: 'not-a-key' });
    expect(await failure(stranger.jobs.get('anything'))).toMatchObject({ code: 'INVALID_API_KEY', status: 403 });
    expect(await failure(new Quarry({ baseUrl: runtime.apiUrl }).models.list())).toMatchObject({ code: 'INVALID_API_KEY', status: 403 });

    const invalid = await failure(quarry.jobs.submit({ prompt: 'x', model: 'gpt', inferenceConfig: { topP: 3 } } as never));
    expect(invalid).toMatchObject({ code: 'VALIDATION_ERROR', status: 400 });
    expect(invalid.details.map((d) => d.path).sort()).toEqual(['inferenceConfig.topP', 'model']);

    expect(await failure(quarry.jobs.get('no-such-job'))).toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
    const { jobId } = await quarry.jobs.submit({ prompt: 'mine' });
    const other = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKeys.other });
    expect(await failure(other.jobs.get(jobId))).toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
    expect(await failure(quarry.jobs.submit({ prompt: 'x', route: 'nowhere' }))).toMatchObject({ code: 'UNKNOWN_ROUTE', status: 422, details: [expect.objectContaining({ path: 'route' })] });
  });

  it('lists jobs a page at a time and all of them with listAll, newest first', async () => {
    const tenant = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKeys.other });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await tenant.jobs.submit({ prompt: `list ${i}`, route: 'classify' })).jobId);
    const page = await tenant.jobs.list({ limit: 2 });
    expect(page.jobs.map((j) => j.jobId)).toEqual([ids[2], ids[1]]);
    expect(page.nextToken).toEqual(expect.any(String));
    const all: string[] = [];
    for await (const job of tenant.jobs.listAll({ limit: 1 })) all.push(job.jobId);
    expect(all.slice(0, 3)).toEqual([...ids].reverse());
    expect(await failure(tenant.jobs.list({ limit: 1000 }))).toMatchObject({ code: 'VALIDATION_ERROR', details: [expect.objectContaining({ path: 'limit' })] });
  });

  it('cancels a queued job, and raises 409 JOB_NOT_CANCELLABLE for one that ended', async () => {
    await setModel(MODELS.sonnet, { latencyMs: { firstToken: 2500, perToken: 0 } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await quarry.jobs.submit({ prompt: `queue ${i}` })).jobId);
    const cancelled = await quarry.jobs.cancel(ids[3]);
    expect(cancelled).toMatchObject({ jobId: ids[3], status: 'CANCELLED' });
    const done = await quarry.jobs.waitFor(ids[0], { timeoutMs: 30_000 });
    expect(await failure(quarry.jobs.cancel(done.jobId))).toMatchObject({ code: 'JOB_NOT_CANCELLABLE', status: 409, details: [{ path: 'status', message: 'SUCCEEDED' }] });
  });
});

describe('invoke and stream', () => {
  it('invokes synchronously, and streams the same text as typed events', async () => {
    const answer = await quarry.invoke({ prompt: 'Say hello.' });
    expect(answer).toMatchObject({ text: expect.stringMatching(/\w+/), stopReason: 'end_turn', modelId: MODELS.sonnet, route: 'generate', routing: { chosen: MODELS.sonnet } });
    const events = await collect(quarry.stream({ prompt: 'Say hello.' }));
    expect(events[0]).toMatchObject({ event: 'start', data: { route: 'generate', modelId: MODELS.sonnet } });
    expect(events.at(-1)).toMatchObject({ event: 'stop', data: { stopReason: 'end_turn', modelId: MODELS.sonnet, usage: answer.usage } });
    expect(textOf(events)).toBe(answer.text);
  });

  it('does not retry an /invoke that failed on the models (a retry could spend model calls again), and gives its code', async () => {
    await setModel(MODELS.sonnet, { faults: { unavailable: 1 } });
    const counted = countingFetch();
    const client = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKey, fetch: counted.fetch });
    const error = await failure(client.invoke({ prompt: 'x' }));
    expect(error).toMatchObject({ code: 'MODELS_UNAVAILABLE', status: 503 });
    expect(counted.calls).toEqual(['POST /invoke']);
  });

  it('throws a refused stream as a QuarryError and ends a broken one with an error event', async () => {
    expect(await failure(collect(quarry.stream({ prompt: '' })))).toMatchObject({ code: 'VALIDATION_ERROR', details: [expect.objectContaining({ path: 'prompt' })] });
    await setModel(MODELS.sonnet, { outputTokens: 20, faults: { streamError: 1 } });
    const events = await collect(quarry.stream({ prompt: 'break' }));
    expect(events.some((e) => e.event === 'delta')).toBe(true);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'MODEL_STREAM_INTERRUPTED', incomplete: true } });
  });

  it('gives up on an answer slower than timeoutMs with REQUEST_TIMEOUT', async () => {
    await setModel(MODELS.sonnet, { latencyMs: { firstToken: 3000 } });
    const impatient = new Quarry({ baseUrl: runtime.apiUrl, apiKey: runtime.apiKey, timeoutMs: 300 });
    expect(await failure(impatient.invoke({ prompt: 'x' }))).toMatchObject({ code: 'REQUEST_TIMEOUT', status: 0 });
  });
});

describe('conversations', () => {
  it('creates one, answers turns synchronously, streamed and as a job, keeps the history, and deletes it', async () => {
    const { conversationId } = await quarry.conversations.create({ system: 'You are terse.' });
    const first = await quarry.conversations.send(conversationId, { content: 'My name is Ada.' }, { mode: 'sync' });
    expect(first).toMatchObject({ text: expect.stringMatching(/\w+/), turn: 1 });
    const streamed = await collect(quarry.conversations.stream(conversationId, { content: 'And yours?' }));
    expect(streamed.at(-1)).toMatchObject({ event: 'stop', data: { turn: 2 } });
    const asJob = await quarry.conversations.send(conversationId, { content: 'Bye.' });
    expect(asJob).toEqual({ jobId: expect.any(String), turn: 3 });
    expect((await quarry.jobs.waitFor(asJob.jobId, { timeoutMs: 30_000 })).status).toBe('SUCCEEDED');

    const history = await quarry.conversations.get(conversationId);
    expect(history).toMatchObject({ conversationId, system: 'You are terse.' });
    expect(history.messages.map((m) => [m.role, m.turn])).toEqual([['user', 1], ['assistant', 1], ['user', 2], ['assistant', 2], ['user', 3], ['assistant', 3]]);
    expect(history.messages[1].content).toBe(first.text);
    expect(history.messages[3].content).toBe(textOf(streamed));

    await quarry.conversations.delete(conversationId);
    expect(await failure(quarry.conversations.get(conversationId))).toMatchObject({ code: 'CONVERSATION_NOT_FOUND', status: 404 });
  });
});

describe('batches and models', () => {
  it('runs a batch with progress reports and reads its results in input order', async () => {
    const requests = ['a', 'b', 'c'].map((name) => ({ customId: `row-${name}`, prompt: `Classify ${name}`, route: 'classify' }));
    const submitted = await quarry.batches.submit({ requests, metadata: { source: 'client-test' } });
    expect(submitted).toMatchObject({ batchId: expect.any(String), status: 'IN_PROGRESS', total: 3 });
    const progress: number[] = [];
    const batch = await quarry.batches.waitFor(submitted.batchId, { timeoutMs: 60_000, minIntervalMs: 250, onProgress: (b) => progress.push(b.counts.succeeded) });
    expect(batch).toMatchObject({ status: 'COMPLETED', counts: { succeeded: 3, failed: 0 }, resultsUrl: expect.any(String) });
    expect(progress.at(-1)).toBe(3);
    const results = await quarry.batches.results(submitted.batchId);
    expect(results.map((r) => [r.customId, r.status])).toEqual([['row-a', 'SUCCEEDED'], ['row-b', 'SUCCEEDED'], ['row-c', 'SUCCEEDED']]);
    expect(await failure(quarry.batches.cancel(submitted.batchId))).toMatchObject({ code: 'BATCH_NOT_CANCELLABLE', status: 409 });
    expect(await failure(quarry.batches.get('no-such-batch'))).toMatchObject({ code: 'BATCH_NOT_FOUND', status: 404 });
  });

  it('lists the models with their routes and breakers', async () => {
    const { models } = await quarry.models.list();
    expect(models).toEqual(expect.arrayContaining([expect.objectContaining({ modelId: MODELS.sonnet, routes: ['generate'], regions: [expect.objectContaining({ state: 'CLOSED' })] })]));
  });

  it('maps a refused connection to NETWORK_ERROR', async () => {
    const nowhere = new Quarry({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k', maxRetries: 0 });
    expect(await failure(nowhere.models.list())).toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
  });
});
