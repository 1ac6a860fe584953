import OpenAI from 'openai';
import type { LocalRuntime } from '../../local/runtime';
import { MODELS, http, modelRequests, simulator, startPipeline } from './harness';

/*
 * POST /chat/completions through the official `openai` npm client, unmodified, against the local runtime: baseURL
 * `<api>/v1` (the stage prefix) and the tenant's key in `x-api-key`, as the README tells its users.
 */

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;

let runtime: LocalRuntime;
let client: OpenAI;

beforeAll(async () => {
  runtime = await startPipeline({
    models: { 'claude-haiku': { modelId: HAIKU }, 'claude-sonnet': { modelId: SONNET } },
    routes: { generate: { model: 'claude-sonnet', fallback: ['claude-haiku'] } },
    resilience: {
      retry: { attemptsPerModel: 1, baseDelayMs: 20, maxDelayMs: 100 },
      breaker: { windowSeconds: 60, minimumCalls: 1000, failureRateThreshold: 0.5, cooldownSeconds: 2, maxCooldownSeconds: 4 },
    },
  });
  // The client insists on an API key of its own (sent as a bearer token, which the API ignores).
  client = new OpenAI({ baseURL: `${runtime.apiUrl}/v1`, apiKey: 'not-used', defaultHeaders: { 'x-api-key': runtime.apiKey! }, maxRetries: 0 });
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setModel = (modelId: string, settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);

it('answers a chat.completion: the text, the model, finish_reason and usage', async () => {
  await setModel(SONNET, { outputTokens: 10 });
  const completion = await client.chat.completions.create({
    model: 'generate',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello there' },
    ],
    max_tokens: 50,
    temperature: 0.2,
  });
  expect(completion.object).toBe('chat.completion');
  expect(completion.id).toMatch(/^chatcmpl-/);
  expect(completion.model).toBe(SONNET);
  expect(completion.choices).toHaveLength(1);
  expect(completion.choices[0].message.role).toBe('assistant');
  expect(completion.choices[0].message.content!.length).toBeGreaterThan(0);
  expect(completion.choices[0].finish_reason).toBe('stop');
  expect(completion.usage).toEqual({ prompt_tokens: expect.any(Number), completion_tokens: 10, total_tokens: completion.usage!.prompt_tokens + 10 });
});

it('takes a route, a model key or a model id as `model`, and says finish_reason "length" when max_tokens cut the answer', async () => {
  const byKey = await client.chat.completions.create({ model: 'claude-haiku', messages: [{ role: 'user', content: 'hi' }] });
  expect(byKey.model).toBe(HAIKU);
  const byId = await client.chat.completions.create({ model: HAIKU, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_completion_tokens: 3 });
  expect(byId.model).toBe(HAIKU);
  expect(byId.choices[0].finish_reason).toBe('length');
  expect(byId.usage!.completion_tokens).toBe(3);
});

it('streams chat.completion.chunk events: the role first, the text as it comes, the finish reason, the usage, then [DONE]', async () => {
  await setModel(SONNET, { outputTokens: 8, latencyMs: { perToken: 20 } });
  const stream = await client.chat.completions.create({ model: 'generate', messages: [{ role: 'user', content: 'stream please' }], stream: true, stream_options: { include_usage: true } });
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks[0].choices[0].delta.role).toBe('assistant');
  const text = chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? '')).join('');
  expect(text.length).toBeGreaterThan(0);
  expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(3);
  const finish = chunks.find((c) => c.choices[0]?.finish_reason);
  expect(finish?.choices[0].finish_reason).toBe('stop');
  expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: expect.any(Number), completion_tokens: 8, total_tokens: expect.any(Number) });
  expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === SONNET)).toBe(true);
  // The raw stream ends with the sentinel the client stops on.
  const raw = await fetch(`${runtime.apiUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'x-api-key': runtime.apiKey!, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'generate', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect((await raw.text()).trimEnd().endsWith('data: [DONE]')).toBe(true);
});

it('raises the API error in the client when the stream breaks after text was sent, and does not retry the model', async () => {
  await setModel(SONNET, { outputTokens: 20, faults: { streamError: 1 } });
  const stream = await client.chat.completions.create({ model: 'generate', messages: [{ role: 'user', content: 'break' }], stream: true });
  let text = '';
  const failure = await (async () => {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  })().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(text.length).toBeGreaterThan(0);
  expect(failure).toBeInstanceOf(OpenAI.APIError);
  expect((failure as InstanceType<typeof OpenAI.APIError>).code).toBe('MODEL_STREAM_INTERRUPTED');
  expect(await modelRequests(runtime, SONNET)).toBe(1);
  expect(await modelRequests(runtime, HAIKU)).toBe(0);
});

it('refuses what it cannot serve with a 4xx the client raises, naming the chat request field', async () => {
  const refusal = async (body: Record<string, unknown>) => {
    const error = await client.chat.completions.create(body as never).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return { status: error!.status, code: error!.code, paths: ((error!.error as { details?: { path: string }[] }).details ?? []).map((d) => d.path) };
  };
  expect(await refusal({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).toEqual({ status: 422, code: 'MODEL_NOT_ALLOWED', paths: ['model'] });
  expect(await refusal({ model: 'generate', messages: [{ role: 'user', content: 'x' }], temperature: 1.5 })).toEqual({ status: 400, code: 'VALIDATION_ERROR', paths: ['temperature'] });
  expect(await refusal({ model: 'generate', messages: [{ role: 'user', content: 'x' }], n: 2 })).toEqual({ status: 400, code: 'VALIDATION_ERROR', paths: ['n'] });
  expect(await refusal({ model: 'generate', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] })).toEqual({ status: 400, code: 'VALIDATION_ERROR', paths: ['tools'] });
  expect(await refusal({ model: 'generate', messages: [{ role: 'system', content: 'only a system prompt' }] })).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
  expect(await refusal({ model: 'generate', messages: [{ role: 'user', content: 'x' }], max_tokens: 100_000 })).toEqual({ status: 400, code: 'VALIDATION_ERROR', paths: ['max_tokens'] });
  const stats = (await simulator(runtime, 'GET', '/_sim/stats')) as { models: Record<string, { requests: number }> };
  expect(Object.values(stats.models).reduce((n, m) => n + m.requests, 0)).toBe(0);
  const wrongMethod = await http(runtime, 'GET', '/v1/chat/completions');
  expect(wrongMethod.status).toBe(405);
});

it('falls back like every path, the chunks naming the model that answered', async () => {
  await setModel(SONNET, { faults: { unavailable: 1 } });
  const completion = await client.chat.completions.create({ model: 'generate', messages: [{ role: 'user', content: 'fall back' }] });
  expect(completion.model).toBe(HAIKU);
  const stream = await client.chat.completions.create({ model: 'generate', messages: [{ role: 'user', content: 'fall back' }], stream: true });
  const models = new Set<string>();
  for await (const chunk of stream) if (chunk.choices[0]?.delta.content) models.add(chunk.model);
  expect([...models]).toEqual([HAIKU]);
});
