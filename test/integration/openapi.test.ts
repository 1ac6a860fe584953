import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import type { LocalRuntime } from '../../local/runtime';
import { OPENAPI_FILE } from '../../lib/openapi-file';
import { MODELS, finished, simulator, startPipeline, until } from './harness';

/*
 * The live local API against its OpenAPI document (openapi.json): every documented operation is called, every answer
 * must be one the document lists for that operation (status and content type), and its body must match the
 * documented schema, whose objects are closed: a field the document does not name fails. Streamed answers are
 * checked event by event against the StreamEvent* schemas.
 */

interface Operation {
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: unknown }> }>;
}
type Document = { paths: Record<string, Record<string, Operation>>; components: { responses: Record<string, Operation['responses'][string]>; schemas: Record<string, unknown> } };

const document: Document = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const BASE = 'https://quarry.invalid/openapi.json';
ajv.addSchema({ ...document, $id: BASE });

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Checks one answer of `method path` (a documented path template) against the document; returns its JSON or events. */
function conform(method: string, path: string, status: number, contentType: string | null, text: string) {
  const operation = document.paths[path]?.[method.toLowerCase()];
  if (!operation) throw new Error(`${method} ${path} is not documented`);
  let response = operation.responses[String(status)];
  let where = `#/${pointer('paths', path, method.toLowerCase(), 'responses', String(status))}`;
  if (!response) throw new Error(`${method} ${path} answered ${status}, which the document does not list (${Object.keys(operation.responses).join(', ')}): ${text.slice(0, 300)}`);
  if (response.$ref) {
    where = response.$ref;
    response = document.components.responses[response.$ref.split('/').pop()!];
  }
  covered.add(`${method.toUpperCase()} ${path} ${status}`);
  if (!response.content) {
    expect([method, path, status, text]).toEqual([method, path, status, '']);
    return undefined;
  }
  const type = (contentType ?? '').split(';')[0].trim();
  if (!response.content[type]) throw new Error(`${method} ${path} ${status} answered ${type}; documented: ${Object.keys(response.content).join(', ')}`);
  if (type === 'text/event-stream') return events(method, path, text);
  const body = JSON.parse(text);
  const validate = ajv.getSchema(`${BASE}${where}/${pointer('content', type, 'schema')}`)!;
  if (!validate(body)) throw new Error(`${method} ${path} ${status} does not match its schema: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 600)}`);
  return body;
}

/** The events of a stream, each checked against its StreamEvent* schema (for the operations that stream them). */
function events(method: string, path: string, text: string) {
  const parsed = text
    .split(/\n\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event = /^event: (.+)$/m.exec(block)?.[1] ?? 'message';
      const data = block.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
      return { event, data };
    });
  if (path === '/chat/completions') return parsed;
  for (const { event, data } of parsed) {
    const name = `StreamEvent${event[0].toUpperCase()}${event.slice(1)}`;
    if (!document.components.schemas[name]) throw new Error(`${method} ${path} sent a "${event}" event, which the document does not describe`);
    const validate = ajv.getSchema(`${BASE}#/components/schemas/${name}`)!;
    if (!validate(JSON.parse(data))) throw new Error(`${method} ${path}: "${event}" event does not match ${name}: ${ajv.errorsText(validate.errors)}\n${data}`);
  }
  return parsed;
}

const covered = new Set<string>();
let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startPipeline({});
}, 180_000);

afterAll(() => runtime?.stop());

/** Calls the API as the default tenant and checks the answer against `path`'s documentation. */
async function call(method: string, path: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${runtime.apiUrl}${url}`, {
    method,
    headers: { 'x-api-key': runtime.apiKey!, ...(body !== undefined && { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: conform(method, path, response.status, response.headers.get('content-type'), text) };
}

describe('the conformance check', () => {
  it('refuses a field the document does not name, a missing one, and an undocumented status', () => {
    const job = { jobId: 'j', status: 'QUEUED', createdAt: '2026-12-08T00:00:00.000Z', updatedAt: '2026-12-08T00:00:00.000Z', route: 'r', modelId: 'm', attempts: [], metadata: {} };
    expect(conform('GET', '/jobs/{jobId}', 200, 'application/json', JSON.stringify(job))).toEqual(job);
    expect(() => conform('GET', '/jobs/{jobId}', 200, 'application/json', JSON.stringify({ ...job, tenant: 'acme' }))).toThrow(/must NOT have additional properties/);
    expect(() => conform('GET', '/jobs/{jobId}', 200, 'application/json', JSON.stringify({ ...job, route: undefined }))).toThrow(/must have required property 'route'/);
    expect(() => conform('GET', '/jobs/{jobId}', 418, 'application/json', '{}')).toThrow(/does not list/);
    expect(() => conform('GET', '/jobs/{jobId}', 200, 'text/html', '<p>')).toThrow(/answered text\/html/);
    covered.clear();
  });
});

describe('the local API answers as its OpenAPI document says', () => {
  it('jobs: submit (and its replay and conflict), get while running and done, list, cancel, errors', async () => {
    const submitted = await call('POST', '/jobs', '/jobs', { prompt: 'hello', metadata: { team: 'a' } }, { 'Idempotency-Key': 'openapi-1' });
    expect(submitted.status).toBe(202);
    expect((await call('POST', '/jobs', '/jobs', { prompt: 'hello', metadata: { team: 'a' } }, { 'Idempotency-Key': 'openapi-1' })).status).toBe(200);
    expect((await call('POST', '/jobs', '/jobs', { prompt: 'other' }, { 'Idempotency-Key': 'openapi-1' })).status).toBe(409);
    const { jobId } = submitted.body;
    await call('GET', '/jobs/{jobId}', `/jobs/${jobId}`);
    await finished(runtime, jobId);
    const done = await call('GET', '/jobs/{jobId}', `/jobs/${jobId}`);
    expect(done.body.status).toBe('SUCCEEDED');
    expect((await call('DELETE', '/jobs/{jobId}', `/jobs/${jobId}`)).status).toBe(409);
    const page = await call('GET', '/jobs', '/jobs?limit=1');
    expect(page.body.nextToken).toEqual(expect.any(String));
    await call('GET', '/jobs', `/jobs?status=SUCCEEDED&nextToken=${encodeURIComponent(page.body.nextToken)}`);
    expect((await call('GET', '/jobs', '/jobs?limit=abc')).status).toBe(400);
    expect((await call('GET', '/jobs/{jobId}', '/jobs/no-such-job')).status).toBe(404);
    expect((await call('POST', '/jobs', '/jobs', { prompt: 1 })).status).toBe(400);
    expect((await call('POST', '/jobs', '/jobs', '{not json')).status).toBe(400);
    expect((await call('POST', '/jobs', '/jobs', { prompt: 'x', route: 'no-such-route' })).status).toBe(422);
    expect((await call('GET', '/jobs', '/jobs', undefined, { 'x-api-key': 'wrong' })).status).toBe(403);
  });

  it("an async model's job (completed and failed), every route path, a batch cancelled while it runs", async () => {
    const video = { modelId: 'nova-reel', modelInput: { taskType: 'TEXT_VIDEO', textToVideoParams: { text: 'a quarry at dawn' } } };
    await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent('amazon.nova-reel-v1:1')}`, { async: { durationMs: 200 } });
    const made = await call('POST', '/jobs', '/jobs', video);
    await finished(runtime, made.body.jobId, 60_000);
    const output = await call('GET', '/jobs/{jobId}', `/jobs/${made.body.jobId}`);
    expect(output.body.result.output.files.length).toBeGreaterThan(0);
    await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent('amazon.nova-reel-v1:1')}`, { async: { durationMs: 200, failure: 1, failureMessage: 'no' } });
    const failing = await call('POST', '/jobs', '/jobs', video);
    await finished(runtime, failing.body.jobId, 60_000);
    expect((await call('GET', '/jobs/{jobId}', `/jobs/${failing.body.jobId}`)).body.error.code).toBe('ASYNC_INVOCATION_FAILED');
    await simulator(runtime, 'POST', '/_sim/reset');
    for (const path of Object.keys(document.paths).filter((p) => p.startsWith('/api/'))) {
      expect((await call('POST', path, path, { prompt: 'is this spam?' })).status).toBe(202);
    }
    const batch = await call('POST', '/batches', '/batches', { requests: Array.from({ length: 200 }, (_, i) => ({ customId: `c${i}`, prompt: `line ${i}` })) });
    const waiting = await until('a queued job of the batch', async () => (await call('GET', '/jobs', `/jobs?batchId=${batch.body.batchId}&status=QUEUED&limit=1`)).body.jobs[0]);
    const one = await call('DELETE', '/jobs/{jobId}', `/jobs/${waiting.jobId}`);
    expect([one.status, one.body.status]).toEqual([200, 'CANCELLED']);
    const cancelled = await call('DELETE', '/batches/{batchId}', `/batches/${batch.body.batchId}`);
    expect(cancelled.status).toBe(200);
    const page = await call('GET', '/jobs', `/jobs?batchId=${batch.body.batchId}&status=CANCELLED&limit=5`);
    expect(page.body.jobs.every((job: { status: string }) => job.status === 'CANCELLED')).toBe(true);
  }, 120_000);

  it('invoke (Converse and native bodies), stream (both), chat completions (both)', async () => {
    expect((await call('POST', '/invoke', '/invoke', { prompt: 'hi' })).status).toBe(200);
    const native = { modelId: MODELS.haiku, nativeBody: { anthropic_version: 'bedrock-2023-05-31', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] } };
    expect((await call('POST', '/invoke', '/invoke', native)).body.nativeResponse).toBeDefined();
    expect((await call('POST', '/invoke', '/invoke', { messages: [] })).status).toBe(400);
    const streamed = await call('POST', '/invoke/stream', '/invoke/stream', { prompt: 'stream me' });
    expect(streamed.body!.map((e: { event: string }) => e.event)).toEqual(expect.arrayContaining(['start', 'delta', 'stop']));
    const chunks = await call('POST', '/invoke/stream', '/invoke/stream', native);
    expect(chunks.body!.map((e: { event: string }) => e.event)).toContain('chunk');
    expect((await call('POST', '/invoke/stream', '/invoke/stream', { prompt: '' })).status).toBe(400);
    const chat = { model: MODELS.haiku, messages: [{ role: 'user', content: 'hi' }] };
    expect((await call('POST', '/chat/completions', '/chat/completions', chat)).body.object).toBe('chat.completion');
    const chatStream = await call('POST', '/chat/completions', '/chat/completions', { ...chat, stream: true });
    expect(chatStream.body!.at(-1)).toEqual({ event: 'message', data: '[DONE]' });
    expect((await call('POST', '/chat/completions', '/chat/completions', { model: MODELS.haiku })).status).toBe(400);
  });

  it('conversations: create, a turn of each mode, a turn while one is in flight, history, delete', async () => {
    const created = await call('POST', '/conversations', '/conversations', { system: 'be brief', metadata: { a: 1 } });
    expect(created.status).toBe(201);
    const id = created.body.conversationId;
    const messages = '/conversations/{conversationId}/messages';
    expect((await call('POST', messages, `/conversations/${id}/messages`, { content: 'hi', mode: 'sync' })).status).toBe(200);
    const streamed = await call('POST', messages, `/conversations/${id}/messages`, { content: 'again', mode: 'stream' });
    expect(streamed.body!.at(-1)!.event).toBe('stop');
    const queued = await call('POST', messages, `/conversations/${id}/messages`, { content: 'and again' });
    expect(queued.status).toBe(202);
    const busy = await call('POST', messages, `/conversations/${id}/messages`, { content: 'too soon' });
    expect([202, 409]).toContain(busy.status);
    await finished(runtime, queued.body.jobId);
    await call('GET', '/conversations/{conversationId}', `/conversations/${id}`);
    expect((await call('POST', messages, `/conversations/${id}/messages`, { content: 'x', mode: 'later' })).status).toBe(400);
    expect((await call('DELETE', '/conversations/{conversationId}', `/conversations/${id}`)).status).toBe(204);
    expect((await call('GET', '/conversations/{conversationId}', `/conversations/${id}`)).status).toBe(404);
  });

  it('batches, inputs, models, and the document itself (with this API as its server)', async () => {
    const batch = await call('POST', '/batches', '/batches', { requests: [{ customId: 'a', prompt: 'x' }, { customId: 'b', prompt: 'y' }] });
    expect(batch.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await call('GET', '/batches/{batchId}', `/batches/${batch.body.batchId}`);
    expect((await call('POST', '/batches', '/batches', { requests: [] })).status).toBe(400);
    expect((await call('GET', '/batches/{batchId}', '/batches/no-such-batch')).status).toBe(404);
    expect((await call('POST', '/inputs', '/inputs', { contentType: 'image/png' })).status).toBe(201);
    expect((await call('POST', '/inputs', '/inputs', { contentType: 'not a type' })).status).toBe(400);
    expect((await call('GET', '/models', '/models')).body.models.length).toBeGreaterThan(0);
    const served = await call('GET', '/openapi.json', '/openapi.json');
    const { servers, ...rest } = served.body;
    expect(rest).toEqual(document);
    // Its server is where this API answers.
    expect(servers).toEqual([{ url: expect.stringMatching(/^http:\/\/localhost:\d+\/v1$/) }]);
    const again = await fetch(`${servers[0].url}/openapi.json`, { headers: { 'x-api-key': runtime.apiKey! } });
    expect(again.status).toBe(200);
  });

  afterAll(() => {
    // Every documented operation was seen answering with success at least once.
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.filter((op) => ![...covered].some((c) => c.startsWith(`${op} 2`)))).toEqual([]);
  });
});
