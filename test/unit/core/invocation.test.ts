import { QuarryError } from '../../../lambda/core/errors';
import { invokeNow, type InvocationDeps } from '../../../lambda/core/invocation';
import type { JobResult } from '../../../lambda/core/job';
import { DEFAULT_RESILIENCE, routingTableSchema } from '../../../lambda/core/settings';

/*
 * What POST /invoke answers for each way a walk of the fallback chain can end, with fake ports (the walk itself is
 * the jobs' one, tested with them; the HTTP contract end to end is test/integration/invoke.test.ts).
 */

const routing = routingTableSchema.parse({
  defaultRoute: 'generate',
  routes: { generate: { modelId: 'model-a', fallback: ['model-b'] }, cached: { modelId: 'model-a', cacheResponses: true } },
  models: { 'model-a': { quota: { requestsPerMinute: 60 } }, 'model-b': {} },
});
const tenant = { name: 'default' };
const NOW = Date.parse('2026-12-07T06:00:00Z');
const answer = { text: 'hi', stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 2 } };
const modelError = (name: string, message = name) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });

function deps(overrides: Partial<InvocationDeps> = {}) {
  const settled: unknown[] = [];
  const cache = new Map<string, JobResult>();
  const calls: string[] = [];
  const d: InvocationDeps = {
    model: { converse: async (id) => (calls.push(id), answer) },
    breaker: { admit: async () => ({ admitted: true, probe: false }), record: async () => undefined },
    capacity: { reserve: async () => ({ kind: 'unlimited' }), settle: async (...args) => void settled.push(args) },
    cache: { get: async (key) => cache.get(key), put: async (key, result) => void cache.set(key, result) },
    observer: { observe: () => {} },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    clock: () => new Date(NOW),
    sleep: async () => {},
    random: () => 0.5,
    routing,
    policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 1, baseDelayMs: 1, maxDelayMs: 1 } },
    homeRegion: 'us-east-1',
    ...overrides,
  };
  return { deps: d, settled, cache, calls };
}

const budget = (ms = 20_000) => ({ remainingMillis: () => ms, seconds: 29 });

async function refusal(promise: Promise<unknown>): Promise<{ code: string; status: number; retryAfter?: number; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof QuarryError)) throw new Error(`expected a QuarryError, got ${String(error)}`);
  return { code: error.code, status: error.httpStatus, retryAfter: error.retryAfterSeconds, message: error.message };
}

it('answers with the model, the route and how it was chosen', async () => {
  const { deps: d } = deps();
  const answered = await invokeNow({ body: { prompt: 'hello' }, tenant, invocationId: 'inv-1' }, budget(), d);
  expect(answered).toMatchObject({ text: 'hi', modelId: 'model-a', route: 'generate', routing: { strategy: 'static', candidates: ['model-a', 'model-b'], chosen: 'model-a' } });
  expect(answered.attempts).toHaveLength(1);
});

it('names the fallback and the failure that led to it', async () => {
  const { deps: d } = deps({ model: { converse: async (id) => (id === 'model-a' ? Promise.reject(Object.assign(new Error('down'), { name: 'ServiceUnavailableException' })) : answer) } });
  const answered = await invokeNow({ body: { prompt: 'hello' }, tenant, invocationId: 'inv-2' }, budget(), d);
  expect(answered.routing).toEqual({ strategy: 'static', candidates: ['model-a', 'model-b'], chosen: 'model-b', reason: "the route's model; fallback: model-a MODEL_UNAVAILABLE" });
});

it('gives back a reservation it will not use and answers 429 MODEL_BUSY with the wait', async () => {
  const { deps: d, settled, calls } = deps();
  // A slot within a second is waited for; one 7.2 s away is not: the reservation is returned, the caller told when.
  d.capacity = { reserve: async () => ({ kind: 'reserved', waitMs: 7_200 }), settle: async (...args) => void settled.push(args) };
  expect(await refusal(invokeNow({ body: { prompt: 'x' }, tenant, invocationId: 'inv-3' }, budget(), d))).toMatchObject({ code: 'MODEL_BUSY', status: 429, retryAfter: 8 });
  expect(settled).toEqual([[expect.objectContaining({ modelId: 'model-a' }), { requests: 1, tokens: expect.any(Number) }, { throttled: false, called: false }, new Date(NOW)]]);
  expect(calls).toEqual([]);
});

it('answers 504 INVOKE_TIMEOUT without a call when the time left cannot fit one', async () => {
  const { deps: d, calls } = deps();
  expect(await refusal(invokeNow({ body: { prompt: 'x' }, tenant, invocationId: 'inv-4' }, budget(2_000), d))).toMatchObject({ code: 'INVOKE_TIMEOUT', status: 504 });
  expect(calls).toEqual([]);
});

it('answers 503 with Retry-After until the first open circuit lets a probe through', async () => {
  const { deps: d } = deps({ breaker: { admit: async (t) => ({ admitted: false, state: 'OPEN', retryAt: NOW + (t.modelId === 'model-a' ? 30_000 : 12_500) }), record: async () => undefined } });
  expect(await refusal(invokeNow({ body: { prompt: 'x' }, tenant, invocationId: 'inv-5' }, budget(), d))).toMatchObject({ code: 'MODELS_UNAVAILABLE', status: 503, retryAfter: 13 });
});

it.each([
  ['ValidationException', 'Malformed input request', 422, 'MODEL_REJECTED_REQUEST'],
  ['ValidationException', 'Input is too long for requested model', 422, 'CONTEXT_WINDOW_EXCEEDED'],
  ['ModelErrorException', 'The model failed', 502, 'MODEL_FAILED'],
])('answers a final %s (%s) with %i %s', async (name, message, status, code) => {
  const { deps: d } = deps({ model: { converse: async () => Promise.reject(modelError(name, message)) } });
  expect(await refusal(invokeNow({ body: { prompt: 'x' }, tenant, invocationId: 'inv-6' }, budget(), d))).toMatchObject({ code, status });
});

it("serves a caching route's answer when every model fails, and fills the cache when one answers", async () => {
  const healthy = deps();
  await invokeNow({ body: { prompt: 'same', route: 'cached' }, tenant, invocationId: 'inv-7' }, budget(), healthy.deps);
  expect(healthy.cache.size).toBe(1);
  const down = { ...healthy.deps, model: { converse: async () => Promise.reject(Object.assign(new Error('down'), { name: 'ServiceUnavailableException' })) } };
  const served = await invokeNow({ body: { prompt: 'same', route: 'cached' }, tenant, invocationId: 'inv-8' }, budget(), down);
  expect(served).toMatchObject({ text: 'hi', servedFrom: 'cache' });
});

it('refuses a bad body before any model is called', async () => {
  const { deps: d, calls } = deps();
  expect(await refusal(invokeNow({ body: { prompt: 'x', route: 'nope' }, tenant, invocationId: 'inv-9' }, budget(), d))).toMatchObject({ code: 'UNKNOWN_ROUTE', status: 422 });
  expect(calls).toEqual([]);
});
