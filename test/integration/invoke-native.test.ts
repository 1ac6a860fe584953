import type { LocalRuntime } from '../../local/runtime';
import { MODELS, http, modelRequests, simulator, startPipeline } from './harness';

/*
 * Native bodies on POST /invoke and /invoke/stream: InvokeModel / InvokeModelWithResponseStream with the model's own
 * body (Anthropic Messages, Amazon Nova), through the same admission and breakers, falling back only within the
 * provider family.
 */

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;
const NOVA = MODELS.novaMicro;

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startPipeline({
    models: { 'claude-haiku': { modelId: HAIKU }, 'claude-sonnet': { modelId: SONNET }, 'nova-micro': { modelId: NOVA } },
    // Both families on one chain: a native body may only fall back to its own.
    routes: { generate: { model: 'claude-sonnet', fallback: ['nova-micro', 'claude-haiku'] } },
    resilience: {
      retry: { attemptsPerModel: 1, baseDelayMs: 20, maxDelayMs: 100 },
      breaker: { windowSeconds: 60, minimumCalls: 1000, failureRateThreshold: 0.5, cooldownSeconds: 2, maxCooldownSeconds: 4 },
    },
  });
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setModel = (modelId: string, settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);
const anthropicBody = (text = 'Hello') => ({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: text }] });
const novaBody = { messages: [{ role: 'user', content: [{ text: 'Hello' }] }], inferenceConfig: { maxTokens: 32 } };

it("answers an Anthropic Messages body with the model's own response, its usage and stop reason", async () => {
  await setModel(SONNET, { outputTokens: 9 });
  const res = await http(runtime, 'POST', '/invoke', { modelId: SONNET, nativeBody: anthropicBody() });
  expect(res.status).toBe(200);
  expect(res.json).toMatchObject({
    nativeResponse: { type: 'message', role: 'assistant', content: [{ type: 'text', text: expect.any(String) }], stop_reason: 'end_turn', usage: { output_tokens: 9 } },
    stopReason: 'end_turn',
    usage: { inputTokens: expect.any(Number), outputTokens: 9 },
    modelId: SONNET,
    route: 'generate',
    routing: { candidates: [SONNET, HAIKU], chosen: SONNET },
  });
  expect(res.json.text).toBeUndefined();
});

it('answers a Nova body, and names a model of another family in no fallback', async () => {
  const res = await http(runtime, 'POST', '/invoke', { modelId: NOVA, nativeBody: novaBody });
  expect(res.status).toBe(200);
  expect(res.json.nativeResponse.output.message.content[0].text.length).toBeGreaterThan(0);
  expect(res.json.usage.outputTokens).toBeGreaterThan(0);
  expect(res.json.routing.candidates).toEqual([NOVA]);
});

it('falls back only to a model of the same provider family', async () => {
  await setModel(SONNET, { faults: { unavailable: 1 } });
  const res = await http(runtime, 'POST', '/invoke', { modelId: SONNET, nativeBody: anthropicBody() });
  expect(res.status).toBe(200);
  expect(res.json.modelId).toBe(HAIKU);
  expect(await modelRequests(runtime, NOVA)).toBe(0);

  await setModel(NOVA, { faults: { unavailable: 1 } });
  const alone = await http(runtime, 'POST', '/invoke', { modelId: NOVA, nativeBody: novaBody });
  expect(alone.status).toBe(503);
  expect(alone.json.error.code).toBe('MODELS_UNAVAILABLE');
  expect(await modelRequests(runtime, HAIKU)).toBe(1);
});

it('streams a native body as chunk events, with the usage in stop', async () => {
  await setModel(SONNET, { outputTokens: 6, latencyMs: { perToken: 10 } });
  const response = await fetch(`${runtime.apiUrl}/invoke/stream`, {
    method: 'POST',
    headers: { 'x-api-key': runtime.apiKey!, 'Content-Type': 'application/json' },
    body: JSON.stringify({ modelId: SONNET, nativeBody: anthropicBody('stream it') }),
  });
  expect(response.status).toBe(200);
  const events = (await response.text())
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => ({ type: /^event: (.*)$/m.exec(block)![1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) }));
  expect(events[0]).toEqual({ type: 'start', data: { route: 'generate', modelId: SONNET, routing: { strategy: 'static', candidates: [SONNET, HAIKU], chosen: SONNET, reason: "the route's model" } } });
  const chunks = events.filter((e) => e.type === 'chunk').map((e) => e.data);
  expect(chunks[0].type).toBe('message_start');
  expect(chunks.some((c) => c.type === 'content_block_delta' && c.delta.text)).toBe(true);
  expect(events.at(-1)).toEqual({ type: 'stop', data: { stopReason: 'end_turn', usage: { inputTokens: expect.any(Number), outputTokens: 6 }, modelId: SONNET, routing: { strategy: 'static', candidates: [SONNET, HAIKU], chosen: SONNET, reason: "the route's model" }, latencyMs: expect.any(Number) } });
});

it('refuses a malformed native request naming the field, and passes the model its own refusal', async () => {
  const cases: Array<[unknown, number, string, string]> = [
    [{ nativeBody: anthropicBody() }, 400, 'VALIDATION_ERROR', 'modelId'],
    [{ modelId: SONNET, nativeBody: 'text' }, 400, 'VALIDATION_ERROR', 'nativeBody'],
    [{ modelId: SONNET, nativeBody: anthropicBody(), prompt: 'both' }, 400, 'VALIDATION_ERROR', 'prompt'],
    [{ modelId: 'some.unknown-model', nativeBody: anthropicBody() }, 422, 'MODEL_NOT_ALLOWED', 'modelId'],
  ];
  for (const [body, status, code, field] of cases) {
    const res = await http(runtime, 'POST', '/invoke', body);
    expect({ status: res.status, code: res.json.error.code, paths: res.json.error.details.map((d: { path: string }) => d.path) }).toEqual({ status, code, paths: [field] });
  }
  const refused = await http(runtime, 'POST', '/invoke', { modelId: SONNET, nativeBody: { messages: 'not a list' } });
  expect(refused.status).toBe(422);
  expect(refused.json.error.code).toBe('MODEL_REJECTED_REQUEST');
  expect(refused.json.error.message).toContain('Malformed input request');
});
