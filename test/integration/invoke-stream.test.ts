import type { LocalRuntime } from '../../local/runtime';
import { MODELS, http, modelRequests, simulator, startPipeline } from './harness';

/*
 * POST /invoke/stream on the local runtime: server-sent events through the streaming integration (the function host
 * provides Lambda's streaming globals, the local API relays the bytes as they come), with faults from the simulator.
 */

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;
const OPUS = MODELS.opus;

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startPipeline({
    api: { streamTimeoutSeconds: 6 },
    models: { 'claude-haiku': { modelId: HAIKU }, 'claude-sonnet': { modelId: SONNET }, 'claude-opus': { modelId: OPUS } },
    routes: {
      generate: { model: 'claude-sonnet', fallback: ['claude-haiku'] },
      analyze: { model: 'claude-opus' },
    },
    resilience: {
      retry: { attemptsPerModel: 2, baseDelayMs: 20, maxDelayMs: 100 },
      breaker: { windowSeconds: 60, minimumCalls: 1000, failureRateThreshold: 0.5, cooldownSeconds: 2, maxCooldownSeconds: 4 },
    },
  });
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setModel = (modelId: string, settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);

interface Received {
  status: number;
  contentType: string | null;
  events: { type: string; data: any; atMs: number }[];
}

/** POSTs to /invoke/stream and reads the server-sent events as they arrive, noting when each came. */
async function stream(body: unknown): Promise<Received> {
  const started = Date.now();
  const response = await fetch(`${runtime.apiUrl}/invoke/stream`, {
    method: 'POST',
    headers: { 'x-api-key': runtime.apiKey!, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const events: Received['events'] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      events.push({ type, data: data === undefined ? undefined : JSON.parse(data), atMs: Date.now() - started });
    }
  }
  if (buffered.trim() !== '' && events.length === 0) events.push({ type: 'body', data: JSON.parse(buffered), atMs: Date.now() - started });
  return { status: response.status, contentType: response.headers.get('content-type'), events };
}

const types = (r: Received) => r.events.map((e) => e.type);
const text = (r: Received) => r.events.filter((e) => e.type === 'delta').map((e) => e.data.text).join('');

it('streams start, the deltas as the model produces them, and stop with usage and latency', async () => {
  await setModel(SONNET, { outputTokens: 12, latencyMs: { firstToken: 50, perToken: 60 } });
  const r = await stream({ prompt: 'Tell me something.' });
  expect(r.status).toBe(200);
  expect(r.contentType).toMatch(/^text\/event-stream/);
  expect(types(r)[0]).toBe('start');
  expect(r.events[0].data).toEqual({ route: 'generate', modelId: SONNET, routing: { strategy: 'static', candidates: [SONNET, HAIKU], chosen: SONNET, reason: "the route's model" } });
  expect(types(r).at(-1)).toBe('stop');
  const deltas = r.events.filter((e) => e.type === 'delta');
  expect(deltas.length).toBeGreaterThan(3);
  expect(text(r).length).toBeGreaterThan(0);
  const stop = r.events.at(-1)!;
  expect(stop.data).toEqual({ stopReason: 'end_turn', usage: { inputTokens: expect.any(Number), outputTokens: 12 }, modelId: SONNET, routing: { strategy: 'static', candidates: [SONNET, HAIKU], chosen: SONNET, reason: "the route's model" }, latencyMs: expect.any(Number) });
  // Tokens come 60 ms apart: the first delta reached the client well before the last one was produced.
  expect(stop.atMs - deltas[0].atMs).toBeGreaterThan(300);
});

it('falls back before the first token, and says so in a fallback event', async () => {
  await setModel(SONNET, { faults: { unavailable: 1 } });
  const r = await stream({ prompt: 'fall back' });
  expect(r.status).toBe(200);
  expect(types(r)[0]).toBe('start');
  expect(types(r)[1]).toBe('fallback');
  expect(r.events[1].data).toEqual({ from: SONNET, to: HAIKU, reason: 'MODEL_UNAVAILABLE' });
  expect(types(r).slice(2).every((t) => t === 'delta' || t === 'stop')).toBe(true);
  expect(r.events.at(-1)!.data.modelId).toBe(HAIKU);
});

it('ends with an incomplete error event when the stream breaks after text was sent, and never retries it', async () => {
  await setModel(SONNET, { outputTokens: 20, faults: { streamError: 1 } });
  const r = await stream({ prompt: 'break halfway' });
  expect(r.status).toBe(200);
  expect(text(r).length).toBeGreaterThan(0);
  expect(types(r).at(-1)).toBe('error');
  expect(r.events.at(-1)!.data).toMatchObject({ code: 'MODEL_STREAM_INTERRUPTED', incomplete: true });
  expect(types(r)).not.toContain('fallback');
  expect(await modelRequests(runtime, SONNET)).toBe(1);
  expect(await modelRequests(runtime, HAIKU)).toBe(0);
});

it('ends with an error event that is not incomplete when no model answers before the first token', async () => {
  await setModel(OPUS, { faults: { internal: 1 } });
  const r = await stream({ prompt: 'nobody', route: 'analyze' });
  expect(r.status).toBe(200);
  expect(types(r)).toEqual(['start', 'error']);
  expect(r.events[1].data).toMatchObject({ code: 'MODELS_UNAVAILABLE', incomplete: false, retryAfterSeconds: expect.any(Number) });
});

it('ends with INVOKE_TIMEOUT before the stream timeout when the model is too slow to start', async () => {
  await setModel('*', { latencyMs: { firstToken: 20_000 } });
  const r = await stream({ prompt: 'slow' });
  expect(types(r)).toEqual(['start', 'error']);
  expect(r.events[1].data).toMatchObject({ code: 'INVOKE_TIMEOUT', incomplete: false });
  expect(r.events[1].atMs).toBeLessThan(6_000);
});

it('answers a bad request with its 4xx JSON error naming the field, not a stream', async () => {
  const r = await http(runtime, 'POST', '/invoke/stream', { prompt: 'x', inferenceConfig: { topP: 3 } });
  expect(r.status).toBe(400);
  expect(r.headers.get('content-type')).toMatch(/application\/json/);
  expect(r.json.error.code).toBe('VALIDATION_ERROR');
  expect(r.json.error.details.map((d: { path: string }) => d.path)).toEqual(['inferenceConfig.topP']);
  const unknown = await http(runtime, 'POST', '/invoke/stream', { prompt: 'x', route: 'nope' });
  expect(unknown.status).toBe(422);
  expect(unknown.json.error.code).toBe('UNKNOWN_ROUTE');
});
