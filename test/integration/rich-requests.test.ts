import type { LocalRuntime } from '../../local/runtime';
import { GUARDRAIL_DIRECTIVE, GUARDRAIL_MESSAGE } from '../../local/bedrock-sim/converse';
import { pngBase64, pngOf } from '../support/images';
import { MODELS, finished, http, modelRequests, startPipeline } from './harness';

/*
 * Rich Converse requests on every path, on the local runtime over HTTP: images and documents (inline, or uploaded to
 * the stack's inputs bucket through POST /inputs and named by s3Location), tool use answered over two turns,
 * guardrails, model-specific fields and service tiers. The simulator counts images as tokens, calls tools and lets a
 * guardrail intervene as Bedrock does (local/bedrock-sim/README.md).
 */

let runtime: LocalRuntime;
let otherKey: string;

beforeAll(async () => {
  runtime = await startPipeline({
    models: { 'claude-haiku': { modelId: MODELS.haiku } },
    routes: { generate: { model: 'claude-haiku' } },
    guardrails: [{ id: 'abc123', description: 'the simulator intervenes on [[sim:guardrail]]' }],
    tenants: { default: {}, other: {} },
  });
  otherKey = runtime.apiKeys.other;
}, 120_000);
afterAll(() => runtime?.stop());

const weather = { toolSpec: { name: 'get_weather', description: 'The weather in a city', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } } };
const toolConfig = { tools: [weather] };

async function job(body: unknown, key?: string) {
  const submitted = await http(runtime, 'POST', '/jobs', body, key ? { 'x-api-key': key } : {});
  expect(submitted.status).toBe(202);
  return (await finished(runtime, submitted.json.jobId)).json;
}

/** Uploads bytes through POST /inputs and its presigned PUT; the s3Uri to name them by. */
async function upload(bytes: Uint8Array, contentType: string, key?: string): Promise<string> {
  const placed = await http(runtime, 'POST', '/inputs', { contentType }, key ? { 'x-api-key': key } : {});
  expect(placed.status).toBe(201);
  expect(placed.json).toEqual({ s3Uri: expect.stringMatching(/^s3:\/\/[^/]+\/(default|other)\/[0-9a-f-]{36}$/), uploadUrl: expect.any(String), method: 'PUT', headers: { 'content-type': contentType }, expiresAt: expect.any(String) });
  const put = await fetch(placed.json.uploadUrl, { method: 'PUT', headers: placed.json.headers, body: bytes });
  expect(put.status).toBe(200);
  return placed.json.s3Uri;
}

describe('images and documents', () => {
  it('runs a job with an inline image, counted as tokens by its size', async () => {
    const plain = await job({ messages: [{ role: 'user', content: 'What is in the picture?' }] });
    const done = await job({ messages: [{ role: 'user', content: [{ text: 'What is in the picture?' }, { image: { format: 'png', source: { bytes: pngBase64(300, 250) } } }] }] });
    expect(done.status).toBe('SUCCEEDED');
    // (300 x 250) / 750 = 100 tokens more than the text alone.
    expect(done.result.usage.inputTokens - plain.result.usage.inputTokens).toBe(100);
  });

  it('uploads an image to the inputs bucket and runs a job and an invocation that name it by s3Location', async () => {
    const uri = await upload(pngOf(600, 500), 'image/png');
    const image = { image: { format: 'png', source: { s3Location: { uri } } } };
    const done = await job({ messages: [{ role: 'user', content: [{ text: 'Describe it.' }, image] }] });
    expect(done.status).toBe('SUCCEEDED');
    const invoked = await http(runtime, 'POST', '/invoke', { messages: [{ role: 'user', content: [{ text: 'Describe it.' }, image] }] });
    expect(invoked.status).toBe(200);
    expect(invoked.json.usage.inputTokens).toBe(done.result.usage.inputTokens);
    expect(invoked.json.usage.inputTokens).toBeGreaterThanOrEqual(400);
  });

  it('runs a job with a text document, which reaches the model (its text counted as input)', async () => {
    const plain = await job({ messages: [{ role: 'user', content: 'Summarize.' }] });
    const done = await job({ messages: [{ role: 'user', content: [{ text: 'Summarize.' }, { document: { format: 'md', name: 'release notes', source: { bytes: Buffer.from('x'.repeat(400)).toString('base64') } } }] }] });
    expect(done.status).toBe('SUCCEEDED');
    expect(done.result.usage.inputTokens - plain.result.usage.inputTokens).toBeGreaterThanOrEqual(100);
  });

  it("fails a job whose stored attachment does not exist with INPUT_NOT_READABLE (no model call), and refuses another tenant's object", async () => {
    const uri = await upload(pngOf(10, 10), 'image/png');
    const missing = uri.replace(/[0-9a-f-]{36}$/, '00000000-0000-4000-8000-000000000000');
    const calls = await modelRequests(runtime, MODELS.haiku);
    const failed = await job({ messages: [{ role: 'user', content: [{ text: 'a' }, { image: { format: 'png', source: { s3Location: { uri: missing } } } }] }] });
    expect(await modelRequests(runtime, MODELS.haiku)).toBe(calls);
    expect(failed.status).toBe('FAILED');
    expect(failed.error.code).toBe('INPUT_NOT_READABLE');
    expect(failed.attempts.every((a: { outcome: string; errorCode?: string }) => a.outcome === 'failed' && a.errorCode === 'INPUT_NOT_READABLE')).toBe(true);
    const invoked = await http(runtime, 'POST', '/invoke', { messages: [{ role: 'user', content: [{ text: 'a' }, { image: { format: 'png', source: { s3Location: { uri: missing } } } }] }] });
    expect(invoked.status).toBe(422);
    expect(invoked.json.error.code).toBe('INPUT_NOT_READABLE');

    // The default tenant's object, named by the other tenant: refused before anything runs.
    const foreign = await http(runtime, 'POST', '/jobs', { messages: [{ role: 'user', content: [{ text: 'a' }, { image: { format: 'png', source: { s3Location: { uri } } } }] }] }, { 'x-api-key': otherKey });
    expect(foreign.status).toBe(400);
    expect(foreign.json.error.details).toEqual([{ path: 'messages.0.content.1.image.source.s3Location.uri', message: expect.stringContaining('other/') }]);
  });

  it('answers POST /inputs with a 400 naming the field for a bad content type', async () => {
    const res = await http(runtime, 'POST', '/inputs', { contentType: 'not a type' });
    expect(res.status).toBe(400);
    expect(res.json.error.details[0].path).toBe('contentType');
  });
});

describe('tool use', () => {
  it('returns a tool call from a job (stopReason tool_use) and takes its result in the next job', async () => {
    const question = { role: 'user', content: 'Use get_weather for Paris.' };
    const first = await job({ messages: [question], toolConfig });
    expect(first.status).toBe('SUCCEEDED');
    expect(first.result.stopReason).toBe('tool_use');
    const call = first.result.content.find((b: { toolUse?: unknown }) => b.toolUse).toolUse;
    expect(call).toEqual({ toolUseId: expect.any(String), name: 'get_weather', input: { city: 'sim-city' } });

    const second = await job({
      messages: [question, { role: 'assistant', content: first.result.content }, { role: 'user', content: [{ toolResult: { toolUseId: call.toolUseId, content: [{ json: { celsius: 21 } }] } }] }],
      toolConfig,
    });
    expect(second.status).toBe('SUCCEEDED');
    expect(second.result.stopReason).toBe('end_turn');
    expect(second.result.content).toBeUndefined();
  });

  it('returns the tool call from POST /invoke and in the stop event of POST /invoke/stream', async () => {
    const invoked = await http(runtime, 'POST', '/invoke', { prompt: 'Use get_weather.', toolConfig });
    expect(invoked.status).toBe(200);
    expect(invoked.json.stopReason).toBe('tool_use');
    expect(invoked.json.content).toContainEqual({ toolUse: expect.objectContaining({ name: 'get_weather' }) });

    const streamed = await fetch(`${runtime.apiUrl}/invoke/stream`, { method: 'POST', headers: { 'x-api-key': runtime.apiKey!, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Use get_weather.', toolConfig }) });
    const text = await streamed.text();
    const stop = JSON.parse(/event: stop\ndata: (.*)/.exec(text)![1]);
    expect(stop.stopReason).toBe('tool_use');
    expect(stop.content).toContainEqual({ toolUse: { toolUseId: expect.any(String), name: 'get_weather', input: { city: 'sim-city' } } });
  });

  it('carries a tool call and its result through a conversation', async () => {
    const created = await http(runtime, 'POST', '/conversations', {});
    const id = created.json.conversationId;
    const first = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: 'Use get_weather for Oslo.', mode: 'sync', toolConfig });
    expect(first.status).toBe(200);
    expect(first.json.stopReason).toBe('tool_use');
    const call = first.json.content.find((b: { toolUse?: unknown }) => b.toolUse).toolUse;
    // A result for another call is refused, naming the field of the turn.
    const wrong = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: [{ toolResult: { toolUseId: 'nope', content: [{ text: '3' }] } }], mode: 'sync', toolConfig });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.details.map((d: { path: string }) => d.path)).toEqual(['content.0.toolResult.toolUseId', 'content']);
    const second = await http(runtime, 'POST', `/conversations/${id}/messages`, { content: [{ toolResult: { toolUseId: call.toolUseId, content: [{ text: '3 degrees' }] } }], mode: 'sync', toolConfig });
    expect(second.status).toBe(200);
    expect(second.json.stopReason).toBe('end_turn');
    const history = await http(runtime, 'GET', `/conversations/${id}`);
    expect(history.json.messages.map((m: { role: string; content: unknown }) => [m.role, typeof m.content === 'string' ? 'text' : 'blocks'])).toEqual([
      ['user', 'text'],
      ['assistant', 'blocks'],
      ['user', 'blocks'],
      ['assistant', 'text'],
    ]);
  });

  it('refuses inline bytes in a conversation turn (the history keeps them), naming the field', async () => {
    const created = await http(runtime, 'POST', '/conversations', {});
    const res = await http(runtime, 'POST', `/conversations/${created.json.conversationId}/messages`, { content: [{ text: 'a' }, { image: { format: 'png', source: { bytes: pngBase64(2, 2) } } }] });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ path: 'content.1.image.source.bytes', message: expect.stringContaining('s3Location') }]);
  });
});

describe('guardrails, model fields and service tiers', () => {
  it('returns a configured guardrail intervention as the answer (stopReason guardrail_intervened)', async () => {
    const guardrailConfig = { guardrailIdentifier: 'abc123', guardrailVersion: '1' };
    const blocked = await job({ prompt: `Something risky ${GUARDRAIL_DIRECTIVE}`, guardrailConfig });
    expect(blocked.status).toBe('SUCCEEDED');
    expect(blocked.result).toMatchObject({ stopReason: 'guardrail_intervened', text: GUARDRAIL_MESSAGE });
    const traced = await http(runtime, 'POST', '/invoke', { prompt: `Something risky ${GUARDRAIL_DIRECTIVE}`, guardrailConfig: { ...guardrailConfig, trace: 'enabled' } });
    expect(traced.json).toMatchObject({ stopReason: 'guardrail_intervened', trace: { guardrail: { inputAssessment: { abc123: expect.any(Object) } } } });
    expect(blocked.result.trace).toBeUndefined();
    const streamed = await fetch(`${runtime.apiUrl}/invoke/stream`, {
      method: 'POST',
      headers: { 'x-api-key': runtime.apiKey!, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `Something risky ${GUARDRAIL_DIRECTIVE}`, guardrailConfig: { ...guardrailConfig, trace: 'enabled' } }),
    });
    const stop = JSON.parse(/event: stop\ndata: (.*)/.exec(await streamed.text())![1]);
    expect(stop).toMatchObject({ stopReason: 'guardrail_intervened', trace: { guardrail: { inputAssessment: { abc123: expect.any(Object) } } } });
    const passed = await http(runtime, 'POST', '/invoke', { prompt: 'Something fine.', guardrailConfig: { ...guardrailConfig, guardrailIdentifier: 'arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123' } });
    expect(passed.status).toBe(200);
    expect(passed.json.stopReason).toBe('end_turn');
  });

  it('passes serviceTier to the model and says which tier served the answer', async () => {
    const res = await http(runtime, 'POST', '/invoke', { prompt: 'Hello.', serviceTier: 'flex' });
    expect(res.status).toBe(200);
    expect(res.json.serviceTier).toBe('flex');
    const done = await job({ prompt: 'Hello.', serviceTier: 'priority' });
    expect(done.result.serviceTier).toBe('priority');
  });

  it('passes additionalModelRequestFields to the model, which reads them (a top_k it cannot use is refused)', async () => {
    expect((await http(runtime, 'POST', '/invoke', { prompt: 'Hello.', additionalModelRequestFields: { top_k: 50 } })).status).toBe(200);
    const refused = await http(runtime, 'POST', '/invoke', { prompt: 'Hello.', additionalModelRequestFields: { top_k: 'many' } });
    expect(refused.status).toBe(422);
    expect(refused.json.error).toMatchObject({ code: 'MODEL_REJECTED_REQUEST', message: expect.stringContaining('top_k') });
    const failed = await job({ prompt: 'Hello.', additionalModelRequestFields: { top_k: -1 } });
    expect(failed.status).toBe('FAILED');
    expect(failed.error.code).toBe('MODEL_VALIDATION_ERROR');
  });
});
