import type { LocalRuntime } from '../../local/runtime';
import { MODELS, finished, http, simulator, startPipeline } from './harness';

/*
 * Conversations on the local runtime: create, post turns as a job (the default), synchronously and streamed, read
 * and delete the history; the history sent to the model, trimmed to its context window; one turn in flight; other
 * tenants see nothing.
 */

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;

let runtime: LocalRuntime;
let otherKey: string;

beforeAll(async () => {
  runtime = await startPipeline({
    // A small context window, so a long history is trimmed.
    models: { 'claude-haiku': { modelId: HAIKU, contextWindow: 2000, maxOutputTokens: 200 }, 'claude-sonnet': { modelId: SONNET } },
    routes: { generate: { model: 'claude-sonnet' }, small: { model: 'claude-haiku' } },
    tenants: { default: {}, other: {} },
  });
  otherKey = runtime.apiKeys.other;
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

async function create(body: unknown = {}): Promise<string> {
  const res = await http(runtime, 'POST', '/conversations', body);
  expect(res.status).toBe(201);
  expect(res.headers.get('location')).toBe(`/v1/conversations/${res.json.conversationId}`);
  return res.json.conversationId as string;
}

it('keeps a history across synchronous turns, each sent with the turns before it', async () => {
  const id = await create({ system: 'You are terse.', metadata: { user: 'u1' } });
  const first = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'My name is Ada.', mode: 'sync' });
  expect(first.status).toBe(200);
  expect(first.json).toMatchObject({ turn: 1, text: expect.any(String), modelId: SONNET, usage: { inputTokens: expect.any(Number) } });
  const second = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'What is my name?', mode: 'sync' });
  expect(second.json.turn).toBe(2);
  // The second call carried the first turn: more input tokens than the first.
  expect(second.json.usage.inputTokens).toBeGreaterThan(first.json.usage.inputTokens);

  const history = await http(runtime, 'GET', `/conversations/${id}`);
  expect(history.status).toBe(200);
  expect(history.json).toMatchObject({ conversationId: id, system: 'You are terse.', metadata: { user: 'u1' } });
  expect(history.json.messages.map((m: { role: string; turn: number }) => `${m.turn}:${m.role}`)).toEqual(['1:user', '1:assistant', '2:user', '2:assistant']);
  expect(history.json.messages[0].content).toBe('My name is Ada.');
  expect(history.json.messages[1].content).toBe(first.json.text);
});

it('answers a turn as a job by default, and records it once the job finished', async () => {
  const id = await create();
  const posted = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'Summarize the news.' });
  expect(posted.status).toBe(202);
  expect(posted.json).toEqual({ jobId: expect.any(String), turn: 1 });
  const job = await finished(runtime, posted.json.jobId);
  expect(job.json).toMatchObject({ status: 'SUCCEEDED', metadata: { conversationId: id, turn: 1 } });
  const history = await http(runtime, 'GET', `/conversations/${id}`);
  expect(history.json.messages).toEqual([
    { role: 'user', content: 'Summarize the news.', turn: 1, jobId: posted.json.jobId },
    { role: 'assistant', content: job.json.result.text, turn: 1, usage: job.json.result.usage, jobId: posted.json.jobId },
  ]);
  expect(history.json.pendingTurn).toBeUndefined();
});

it('refuses a second turn while one is in flight (409 TURN_IN_PROGRESS), and takes it once the first is answered', async () => {
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(SONNET)}`, { latencyMs: { firstToken: 1500 } });
  const id = await create();
  const slow = http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'slow one', mode: 'sync' });
  await new Promise((r) => setTimeout(r, 500));
  const busy = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'too soon', mode: 'sync' });
  expect(busy.status).toBe(409);
  expect(busy.json.error.code).toBe('TURN_IN_PROGRESS');
  expect(busy.headers.get('retry-after')).toBe('1');
  const pending = await http(runtime, 'GET', `/conversations/${id}`);
  expect(pending.json.pendingTurn).toEqual({ turn: 1 });
  expect((await slow).status).toBe(200);
  const next = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'now', mode: 'sync' });
  expect(next.status).toBe(200);
  expect(next.json.turn).toBe(2);
});

it('streams a turn as server-sent events and records it', async () => {
  const id = await create();
  const response = await fetch(`${runtime.apiUrl}/conversations/${id}/messages`, {
    method: 'POST',
    headers: { 'x-api-key': runtime.apiKey!, 'Content-Type': 'application/json' },
    body: JSON.stringify({ content: 'stream this', mode: 'stream' }),
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const blocks = (await response.text()).split('\n\n').filter((b) => b.trim());
  const types = blocks.map((b) => /^event: (.*)$/m.exec(b)![1]);
  expect(types[0]).toBe('start');
  expect(types.at(-1)).toBe('stop');
  const text = blocks.filter((b) => b.startsWith('event: delta')).map((b) => JSON.parse(/^data: (.*)$/m.exec(b)![1]).text).join('');
  const history = await http(runtime, 'GET', `/conversations/${id}`);
  expect(history.json.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
  expect(history.json.messages[1].content).toBe(text);
});

it('trims the oldest turns to fit the context window, keeping the system prompt', async () => {
  const id = await create({ route: 'small', system: 'Be kind.' });
  // Each turn's user message is ~1,000 characters (~250 tokens): the window (2,000 less 200 of output) holds a few.
  const usages: number[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: `${i} ${'word '.repeat(200)}`, mode: 'sync' });
    expect(res.status).toBe(200);
    usages.push(res.json.usage.inputTokens);
  }
  // The input grows with the history, then stops growing once turns are dropped from the front.
  expect(usages[3]).toBeGreaterThan(usages[0]);
  expect(Math.max(...usages)).toBeLessThanOrEqual(1800);
  const history = await http(runtime, 'GET', `/conversations/${id}`);
  expect(history.json.messages).toHaveLength(16);
});

it("shows another tenant's conversation to nobody else, and deletes it", async () => {
  const id = await create();
  const other = { 'x-api-key': otherKey };
  expect((await http(runtime, 'GET', `/conversations/${id}`, undefined, other)).status).toBe(404);
  expect((await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'hi', mode: 'sync' }, other)).json.error.code).toBe('CONVERSATION_NOT_FOUND');
  expect((await http(runtime, 'DELETE', `/conversations/${id}`, undefined, other)).status).toBe(404);
  expect((await http(runtime, 'DELETE', `/conversations/${id}`)).status).toBe(204);
  expect((await http(runtime, 'GET', `/conversations/${id}`)).status).toBe(404);
});

it('refuses bad input naming the field', async () => {
  const bad = await http(runtime, 'POST', '/conversations', { route: 'nope' });
  expect(bad.status).toBe(422);
  expect(bad.json.error.code).toBe('UNKNOWN_ROUTE');
  const id = await create();
  const cases: Array<[unknown, string]> = [
    [{}, 'content'],
    [{ content: '' }, 'content'],
    [{ content: 'x', mode: 'later' }, 'mode'],
    [{ content: 'x', extra: 1 }, 'extra'],
  ];
  for (const [body, field] of cases) {
    const res = await http(runtime, 'POST', `/conversations/${id}/messages`, body);
    expect(res.status).toBe(400);
    expect(res.json.error.details.map((d: { path: string }) => d.path)).toEqual([field]);
  }
  expect((await http(runtime, 'GET', '/conversations/not-a-conversation')).status).toBe(404);
});
