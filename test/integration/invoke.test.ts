import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { LocalRuntime } from '../../local/runtime';
import { ITEM_KINDS } from '../../lambda/core/item-keys';
import { MODELS, http, modelRequests, simulator, startPipeline } from './harness';

/*
 * POST /invoke on the local runtime: a synchronous answer through the same routing, admission, circuit breaker
 * and fallback chain as a job, within the integration's timeout (5 s here); faults come from the simulator.
 */

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;
const NOVA = MODELS.novaMicro;
const OPUS = MODELS.opus;
const INVOKE_TIMEOUT_SECONDS = 5;

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startPipeline({
    api: { invokeTimeoutSeconds: INVOKE_TIMEOUT_SECONDS },
    models: {
      // Claude 3 Haiku's limit claimed above the simulator's 4096, so the model itself refuses a larger maxTokens.
      'claude-haiku': { modelId: HAIKU, maxOutputTokens: 8192 },
      'claude-sonnet': { modelId: SONNET },
      'claude-opus': { modelId: OPUS },
      // One request a minute: the second call within the minute has no slot within a second.
      'nova-micro': { modelId: NOVA, quota: { requestsPerMinute: 1 } },
    },
    routes: {
      generate: { model: 'claude-sonnet', fallback: ['claude-haiku'] },
      classify: { model: 'claude-haiku', path: '/api/classify' },
      scarce: { model: 'nova-micro' },
      analyze: { model: 'claude-opus' },
    },
    resilience: {
      retry: { attemptsPerModel: 2, baseDelayMs: 20, maxDelayMs: 100 },
      // No breaker opens in these tests: each starts from healthy models.
      breaker: { windowSeconds: 60, minimumCalls: 1000, failureRateThreshold: 0.5, cooldownSeconds: 2, maxCooldownSeconds: 4 },
    },
  });
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setModel = (modelId: string, settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);

it('answers at once with the text, usage, model, route, routing and attempts, and keeps no job', async () => {
  const res = await http(runtime, 'POST', '/invoke', { prompt: 'Say hello.', inferenceConfig: { maxTokens: 50 } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  expect(res.json).toEqual({
    text: expect.any(String),
    stopReason: expect.any(String),
    usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
    modelId: SONNET,
    route: 'generate',
    routing: { strategy: 'static', candidates: [SONNET, HAIKU], chosen: SONNET, reason: "the route's model" },
    attempts: [expect.objectContaining({ modelId: SONNET, outcome: 'succeeded', latencyMs: expect.any(Number) })],
    latencyMs: expect.any(Number),
  });
  expect(res.json.text.length).toBeGreaterThan(0);
  expect(res.json.usage.outputTokens).toBeGreaterThan(0);
  expect(await modelRequests(runtime, SONNET)).toBe(1);
  // Nothing was kept or queued: an invocation is answered, not accepted.
  expect(res.headers.get('location')).toBeNull();
  const jobs = await runtime.clients.dynamodb.send(
    new ScanCommand({ TableName: runtime.resources.jobsTable, FilterExpression: 'begins_with(pk, :job) OR begins_with(pk, :input)', ExpressionAttributeValues: { ':job': { S: ITEM_KINDS.job }, ':input': { S: ITEM_KINDS.input } } }),
  );
  expect(jobs.Items).toEqual([]);
  const queue = await runtime.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: runtime.resources.jobsQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }));
  expect(Object.values(queue.Attributes ?? {}).map(Number)).toEqual([0, 0, 0]);
});

it('takes the same body as jobs: a route, a configured model, messages and a system prompt', async () => {
  const res = await http(runtime, 'POST', '/invoke', {
    route: 'classify',
    system: 'Answer in one word.',
    messages: [
      { role: 'user', content: 'Is the sky blue?' },
      { role: 'assistant', content: 'Yes.' },
      { role: 'user', content: 'And grass?' },
    ],
  });
  expect(res.status).toBe(200);
  expect(res.json).toMatchObject({ route: 'classify', modelId: HAIKU });
  const named = await http(runtime, 'POST', '/invoke', { prompt: 'hi', modelId: HAIKU });
  expect(named.status).toBe(200);
  expect(named.json).toMatchObject({ route: 'generate', modelId: HAIKU, routing: { chosen: HAIKU, reason: 'the model the request named' } });
});

it('refuses bad input with a 4xx naming the field, and calls no model', async () => {
  const cases: Array<[unknown, number, string, string]> = [
    [{ prompt: 5 }, 400, 'VALIDATION_ERROR', 'prompt'],
    [{}, 400, 'VALIDATION_ERROR', 'prompt'],
    [{ prompt: 'x', inferenceConfig: { temperature: 7 } }, 400, 'VALIDATION_ERROR', 'inferenceConfig.temperature'],
    [{ prompt: 'x', surprise: true }, 400, 'VALIDATION_ERROR', 'surprise'],
    [{ prompt: 'x', route: 'nope' }, 422, 'UNKNOWN_ROUTE', 'route'],
    [{ prompt: 'x', modelId: 'some.other-model' }, 422, 'MODEL_NOT_ALLOWED', 'modelId'],
  ];
  for (const [body, status, code, field] of cases) {
    const res = await http(runtime, 'POST', '/invoke', body);
    expect({ body, status: res.status, code: res.json?.error?.code }).toEqual({ body, status, code });
    expect(res.json.error.details.map((d: { path: string }) => d.path)).toContain(field);
  }
  const malformed = await http(runtime, 'POST', '/invoke', '{"prompt": ');
  expect(malformed.status).toBe(400);
  expect(malformed.json.error.code).toBe('MALFORMED_JSON');
  const wrongMethod = await http(runtime, 'GET', '/invoke');
  expect(wrongMethod.status).toBe(405);
  expect(wrongMethod.headers.get('allow')).toContain('POST');
  const stats = (await simulator(runtime, 'GET', '/_sim/stats')) as { models: Record<string, { requests: number }> };
  expect(Object.values(stats.models).reduce((n, m) => n + m.requests, 0)).toBe(0);
});

it('retries and falls back like a job, and says why in routing and attempts', async () => {
  await setModel(SONNET, { faults: { unavailable: 1 } });
  const res = await http(runtime, 'POST', '/invoke', { prompt: 'fall back please' });
  expect(res.status).toBe(200);
  expect(res.json.modelId).toBe(HAIKU);
  expect(res.json.routing).toEqual({ strategy: 'static', candidates: [SONNET, HAIKU], chosen: HAIKU, reason: `the route's model; fallback: ${SONNET} MODEL_UNAVAILABLE` });
  expect(res.json.attempts.map((a: { modelId: string; outcome: string }) => `${a.modelId}:${a.outcome}`)).toEqual([`${SONNET}:failed`, `${SONNET}:failed`, `${HAIKU}:succeeded`]);
});

it('answers 504 INVOKE_TIMEOUT before the integration timeout when no model answers in time, suggesting POST /jobs', async () => {
  await setModel('*', { latencyMs: { firstToken: 20_000 } });
  const started = Date.now();
  const res = await http(runtime, 'POST', '/invoke', { prompt: 'too slow' });
  const tookMs = Date.now() - started;
  expect(res.status).toBe(504);
  expect(res.json.error.code).toBe('INVOKE_TIMEOUT');
  expect(res.json.error.message).toContain('POST /jobs');
  expect(tookMs).toBeLessThan(INVOKE_TIMEOUT_SECONDS * 1000);
});

it("answers 429 MODEL_BUSY with the schedule's Retry-After when the quota has no room soon, staggered per caller", async () => {
  const first = await http(runtime, 'POST', '/invoke', { prompt: 'one', route: 'scarce' });
  expect(first.status).toBe(200);
  const busy = await http(runtime, 'POST', '/invoke', { prompt: 'two', route: 'scarce' });
  expect(busy.status).toBe(429);
  expect(busy.json.error.code).toBe('MODEL_BUSY');
  const retryAfter = Number(busy.headers.get('retry-after'));
  // One request a minute, paced at 94%: the next slot is about 64 s after the first call.
  expect(retryAfter).toBeGreaterThan(50);
  expect(retryAfter).toBeLessThanOrEqual(70);
  // Each refused caller takes a place in the model's line, as a waiting job does: callers told to come back are
  // spread over the slots to come (one a minute here) instead of all coming back for the same one.
  const again = await http(runtime, 'POST', '/invoke', { prompt: 'three', route: 'scarce' });
  expect(again.status).toBe(429);
  const nextRetryAfter = Number(again.headers.get('retry-after'));
  expect(nextRetryAfter).toBeGreaterThan(retryAfter + 50);
  expect(nextRetryAfter).toBeLessThanOrEqual(retryAfter + 70);
  expect(await modelRequests(runtime, NOVA)).toBe(1);
});

it('answers 503 MODELS_UNAVAILABLE with a Retry-After when every model keeps failing', async () => {
  await setModel(OPUS, { faults: { internal: 1 } });
  const res = await http(runtime, 'POST', '/invoke', { prompt: 'nobody home', route: 'analyze' });
  expect(res.status).toBe(503);
  expect(res.json.error.code).toBe('MODELS_UNAVAILABLE');
  expect(res.json.error.message).toContain('MODEL_INTERNAL_ERROR');
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  // Two calls of the pipeline's policy (attemptsPerModel), each with the SDK's one retry (resilience.sdkMaxAttempts 2).
  expect(await modelRequests(runtime, OPUS)).toBe(4);
});

it('answers 422 MODEL_REJECTED_REQUEST when the model refuses the request itself', async () => {
  // Claude 3 Haiku's real output limit is 4096 tokens; the simulator refuses more, as Bedrock does.
  const res = await http(runtime, 'POST', '/invoke', { prompt: 'long answer', route: 'classify', inferenceConfig: { maxTokens: 8000 } });
  expect(res.status).toBe(422);
  expect(res.json.error.code).toBe('MODEL_REJECTED_REQUEST');
});
