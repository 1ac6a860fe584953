import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { LocalRuntime } from '../../local/runtime';
import { API_ERRORS } from '../../lambda/core/errors';
import { startPipeline } from './harness';

/**
 * Bad input of every kind, on the whole local pipeline: each request gets a 4xx with the API's one error shape and a
 * documented code; a 400 names the offending field; nothing is stored or queued, and nothing answers 5xx.
 */

let runtime: LocalRuntime;
beforeAll(async () => {
  runtime = await startPipeline({});
}, 120_000);
afterAll(() => runtime?.stop());

interface Case {
  label: string;
  method: string;
  path: string;
  /** A string is sent as is; an object as JSON. */
  body?: string | object | Uint8Array;
  /** Headers on top of the tenant's key and, with a body, `Content-Type: application/json`; undefined removes one. */
  headers?: Record<string, string | undefined>;
  status: number;
  code: keyof typeof API_ERRORS;
  /** Paths `details` must name (a 400 must name at least one). */
  paths?: string[];
  /** The `Allow` header a 405 must carry. */
  allow?: string;
}

const cases: Case[] = [];
const submit = (label: string, body: unknown, paths: string[], extra: Partial<Case> = {}) =>
  cases.push({ label, method: 'POST', path: '/jobs', body: body as Case['body'], status: 400, code: 'VALIDATION_ERROR', paths, ...extra });

const long = (n: number) => 'x'.repeat(n);
const user = (content: unknown) => ({ role: 'user', content });
const messages = (...list: unknown[]) => ({ messages: list });

// Wrong types, empty and too-long values, for every field.
const wrongTypes: Array<[string, unknown[]]> = [
  ['prompt', [42, true, null, [], {}, '', long(200_001)]],
  ['messages', ['hi', 5, null, {}, []]],
  ['system', [5, false, [], {}, '', long(200_001)]],
  ['route', [5, null, '', 'Has Spaces', 'UPPER', long(41)]],
  ['modelId', [5, null, [], '', long(2049)]],
  ['inferenceConfig', ['fast', 5, null, []]],
  ['metadata', ['x', 5, null, [], [{ a: 1 }], true]],
];
for (const [field, values] of wrongTypes) {
  for (const value of values) {
    const body = field === 'prompt' || field === 'messages' ? { [field]: value } : { prompt: 'x', [field]: value };
    submit(`${field}: ${JSON.stringify(value).slice(0, 30)}`, body, [field]);
  }
}
const inferenceValues: Array<[string, unknown[]]> = [
  ['maxTokens', [0, -1, 1.5, '10', 200_001, null, true]],
  ['temperature', [-0.1, 1.1, '0.5', null, []]],
  ['topP', [2, -1, '1', {}]],
  ['stopSequences', ['stop', ['a', 'b', 'c', 'd', 'e'], null, {}]],
];
for (const [field, values] of inferenceValues) {
  for (const value of values) submit(`inferenceConfig.${field}: ${JSON.stringify(value).slice(0, 30)}`, { prompt: 'x', inferenceConfig: { [field]: value } }, [`inferenceConfig.${field}`]);
}
for (const [label, stopSequences, path] of [['empty', ['ok', ''], 1], ['too long', [long(101)], 0], ['a number', ['ok', 'fine', 7], 2]] as const) {
  submit(`inferenceConfig.stopSequences item ${label}`, { prompt: 'x', inferenceConfig: { stopSequences } }, [`inferenceConfig.stopSequences.${path}`]);
}
submit('a temperature DynamoDB cannot store', '{"prompt":"x","inferenceConfig":{"temperature":1e-200}}', ['inferenceConfig.temperature']);
submit('a topP DynamoDB cannot store', '{"prompt":"x","inferenceConfig":{"topP":5e-324}}', ['inferenceConfig.topP']);
submit('maxTokens beyond 2^53', '{"prompt":"x","inferenceConfig":{"maxTokens":12345678901234567890}}', ['inferenceConfig.maxTokens']);

// Messages: their items, roles, contents and blocks.
const messageCases: Array<[string, unknown, string]> = [
  ['a message that is a string', messages('hi'), 'messages.0'],
  ['a message that is null', messages(null), 'messages.0'],
  ['a message without content', messages({ role: 'user' }), 'messages.0.content'],
  ['a message without role', messages({ content: 'hi' }), 'messages.0.role'],
  ['role "system"', messages({ role: 'system', content: 'hi' }), 'messages.0.role'],
  ['role "USER"', messages({ role: 'USER', content: 'hi' }), 'messages.0.role'],
  ['role 5', messages({ role: 5, content: 'hi' }), 'messages.0.role'],
  ['content 5', messages(user(5)), 'messages.0.content'],
  ['content null', messages(user(null)), 'messages.0.content'],
  ['content {}', messages(user({})), 'messages.0.content'],
  ['content ""', messages(user('')), 'messages.0.content'],
  ['content []', messages(user([])), 'messages.0.content'],
  ['content too long', messages(user(long(200_001))), 'messages.0.content'],
  ['a block with no member', messages(user([{}])), 'messages.0.content.0'],
  ['a block with two members', messages(user([{ text: 'a', image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } }])), 'messages.0.content.0'],
  ['a block with empty text', messages(user([{ text: '' }])), 'messages.0.content.0.text'],
  ['a block with text 5', messages(user([{ text: 'a' }, { text: 5 }])), 'messages.0.content.1.text'],
  ['a block with text too long', messages(user([{ text: long(200_001) }])), 'messages.0.content.0.text'],
  ['a block that is a string', messages(user(['hi'])), 'messages.0.content.0'],
  ['101 blocks', messages(user(Array.from({ length: 101 }, () => ({ text: 'a' })))), 'messages.0.content'],
  ['201 messages', messages(...Array.from({ length: 201 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'a' }))), 'messages'],
  ['two user turns in a row', messages(user('a'), user('b')), 'messages.1.role'],
  ['an assistant first', messages({ role: 'assistant', content: 'a' }, user('b')), 'messages.0.role'],
  ['an assistant last', messages(user('a'), { role: 'assistant', content: 'b' }), 'messages.1.role'],
  ['both prompt and messages', { prompt: 'a', messages: [user('b')] }, 'prompt'],
  ['neither prompt nor messages', { system: 'be brief' }, 'prompt'],
  ['an empty object', {}, 'prompt'],
];
for (const [label, body, path] of messageCases) submit(label, body, [path]);

// Unknown fields at every level, each named on its own.
const unknownFields: Array<[string, unknown, string[]]> = [
  ['model', { prompt: 'x', model: 'claude' }, ['model']],
  ['stream', { prompt: 'x', stream: true }, ['stream']],
  ['toolConfig.tools.0.function', { prompt: 'x', toolConfig: { tools: [{ function: { name: 'f' } }] } }, ['toolConfig.tools.0.function', 'toolConfig.tools.0.toolSpec']],
  ['temperature at the top', { prompt: 'x', temperature: 0.2 }, ['temperature']],
  ['a field in the wrong case', { Prompt: 'x' }, ['Prompt']],
  ['several at once', { prompt: 'x', a: 1, b: 2 }, ['a', 'b']],
  ['inferenceConfig.foo', { prompt: 'x', inferenceConfig: { foo: 1 } }, ['inferenceConfig.foo']],
  ['inferenceConfig.max_tokens', { prompt: 'x', inferenceConfig: { max_tokens: 10 } }, ['inferenceConfig.max_tokens']],
  ['a message field', messages({ role: 'user', content: 'a', name: 'bob' }), ['messages.0.name']],
  ['a block field', messages(user([{ text: 'a', cachePoint: {} }])), ['messages.0.content.0.cachePoint']],
  ['an image url (not a Converse source)', messages(user([{ image: { format: 'png', source: { url: 'https://example.com/a.png' } } }])), ['messages.0.content.0.image.source.url']],
];
for (const [label, body, paths] of unknownFields) submit(`unknown field: ${label}`, body, paths);

// Rich requests: attachments, tools, guardrails, model fields and service tiers, each rule naming its field.
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==';
const tools = { tools: [{ toolSpec: { name: 'lookup', inputSchema: { json: { type: 'object' } } } }] };
const toolCall = { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'lookup', input: {} } }] };
const richCases: Array<[string, unknown, string]> = [
  ['an image format', messages(user([{ image: { format: 'bmp', source: { bytes: png } } }])), 'messages.0.content.0.image.format'],
  ['an image without source', messages(user([{ image: { format: 'png' } }])), 'messages.0.content.0.image.source'],
  ['an image with two sources', messages(user([{ image: { format: 'png', source: { bytes: png, s3Location: { uri: 's3://b/k' } } } }])), 'messages.0.content.0.image.source'],
  ['image bytes not base64', messages(user([{ image: { format: 'png', source: { bytes: 'not base64!' } } }])), 'messages.0.content.0.image.source.bytes'],
  ['an image in another bucket', messages(user([{ image: { format: 'png', source: { s3Location: { uri: 's3://someone-elses-bucket/a.png' } } } }])), 'messages.0.content.0.image.source.s3Location.uri'],
  ['an image URI that is not s3://', messages(user([{ image: { format: 'png', source: { s3Location: { uri: 'https://example.com/a.png' } } } }])), 'messages.0.content.0.image.source.s3Location.uri'],
  ['an image from the assistant', messages(user('a'), { role: 'assistant', content: [{ image: { format: 'png', source: { bytes: png } } }] }, user('b')), 'messages.1.content.0.image'],
  ['21 images', messages(user(Array.from({ length: 21 }, () => ({ image: { format: 'png', source: { bytes: png } } })))), 'messages'],
  ['a document name', messages(user([{ document: { format: 'txt', name: 'notes.txt', source: { bytes: 'aGk=' } } }])), 'messages.0.content.0.document.name'],
  ['a document format', messages(user([{ document: { format: 'exe', name: 'notes', source: { bytes: 'aGk=' } } }])), 'messages.0.content.0.document.format'],
  ['tool use from the user', { ...messages(user([{ toolUse: { toolUseId: 't1', name: 'lookup', input: {} } }])), toolConfig: tools }, 'messages.0.content.0.toolUse'],
  ['tool use without toolConfig', messages(user('a'), toolCall, user([{ toolResult: { toolUseId: 't1', content: [{ text: 'r' }] } }])), 'toolConfig'],
  ['a tool result answering nothing', { ...messages(user('a'), toolCall, user([{ toolResult: { toolUseId: 't9', content: [{ text: 'r' }] } }])), toolConfig: tools }, 'messages.2.content.0.toolResult.toolUseId'],
  ['a tool call left unanswered', { ...messages(user('a'), toolCall, user('never mind')), toolConfig: tools }, 'messages.2.content'],
  ['a tool result without content', { ...messages(user('a'), toolCall, user([{ toolResult: { toolUseId: 't1', content: [] } }])), toolConfig: tools }, 'messages.2.content.0.toolResult.content'],
  ['a tool name', { prompt: 'x', toolConfig: { tools: [{ toolSpec: { name: 'has space', inputSchema: { json: {} } } }] } }, 'toolConfig.tools.0.toolSpec.name'],
  ['no tools', { prompt: 'x', toolConfig: { tools: [] } }, 'toolConfig.tools'],
  ['two tools of one name', { prompt: 'x', toolConfig: { tools: [tools.tools[0], tools.tools[0]] } }, 'toolConfig.tools.1.toolSpec.name'],
  ['a tool input schema that is not an object', { prompt: 'x', toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: 'object' } } }] } }, 'toolConfig.tools.0.toolSpec.inputSchema.json'],
  ['a toolChoice naming no tool', { prompt: 'x', toolConfig: { ...tools, toolChoice: { tool: { name: 'other' } } } }, 'toolConfig.toolChoice.tool.name'],
  ['a toolChoice of two kinds', { prompt: 'x', toolConfig: { ...tools, toolChoice: { auto: {}, any: {} } } }, 'toolConfig.toolChoice'],
  ['a guardrail not configured', { prompt: 'x', guardrailConfig: { guardrailIdentifier: 'notlisted1', guardrailVersion: '1' } }, 'guardrailConfig.guardrailIdentifier'],
  ['a guardrail version', { prompt: 'x', guardrailConfig: { guardrailIdentifier: 'abc123', guardrailVersion: 'latest' } }, 'guardrailConfig.guardrailVersion'],
  ['a guardrail trace', { prompt: 'x', guardrailConfig: { guardrailIdentifier: 'abc123', guardrailVersion: '1', trace: 'on' } }, 'guardrailConfig.trace'],
  ['a service tier', { prompt: 'x', serviceTier: 'fast' }, 'serviceTier'],
  ['a service tier as an object', { prompt: 'x', serviceTier: { type: 'flex' } }, 'serviceTier'],
  ['model fields that are a list', { prompt: 'x', additionalModelRequestFields: [1] }, 'additionalModelRequestFields'],
];
for (const [label, body, path] of richCases) submit(`rich: ${label}`, body, [path]);

// Metadata: numbers DynamoDB cannot hold, depth, size, keys.
const metadataCases: Array<[string, string, string]> = [
  ['an integer beyond 2^53', '{"a":{"b":12345678901234567890}}', 'metadata.a.b'],
  ['-2^53-1', '{"n":-9007199254740993}', 'metadata.n'],
  ['1e-200', '{"n":1e-200}', 'metadata.n'],
  ['-1e-131', '{"n":-1e-131}', 'metadata.n'],
  ['1e308', '{"n":1e308}', 'metadata.n'],
  ['1e126', '{"n":1e126}', 'metadata.n'],
  ['1e400 (Infinity)', '{"n":1e400}', 'metadata.n'],
  ['a bad number in a list', '{"l":[1,{"x":1e-300}]}', 'metadata.l.1.x'],
  ['six levels', '{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}', 'metadata.a.b.c.d.e'],
  ['six levels of lists', '{"a":[[[[[1]]]]]}', 'metadata.a.0.0.0.0'],
  ['33 keys', JSON.stringify(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]))), 'metadata'],
  ['33 nested keys', JSON.stringify({ inner: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }), 'metadata.inner'],
  ['2049 bytes', JSON.stringify({ s: long(2049 - '{"s":""}'.length) }), 'metadata'],
  ['2049 bytes of multi-byte text', JSON.stringify({ s: `${'é'.repeat(1020)}x` }), 'metadata'],
  ['an empty key', '{"":1}', 'metadata'],
  ['an empty nested key', '{"a":{"":"v"}}', 'metadata.a'],
  ['a key of 129 characters', JSON.stringify({ [long(129)]: 1 }), `metadata.${long(129)}`],
  ['a "__proto__" key', '{"__proto__":{"admin":true}}', 'metadata.__proto__'],
  ['an unpaired surrogate', '{"s":"\\ud800"}', 'metadata.s'],
];
for (const [label, metadata, path] of metadataCases) submit(`metadata: ${label}`, `{"prompt":"x","metadata":${metadata}}`, [path]);
submit('a prompt with an unpaired surrogate', '{"prompt":"a\\udc00"}', ['prompt']);

// Bodies that are not a JSON object.
for (const root of ['[]', '[{"prompt":"x"}]', '"prompt"', '1', '-0.5', 'true', 'null']) submit(`root ${root}`, root, ['(body)']);

// Bodies that are not JSON at all.
const notJson = [
  '{',
  '{"prompt":',
  '{"prompt":"x"',
  "{'prompt':'x'}",
  '{prompt:"x"}',
  '{"prompt":"x",}',
  '{"prompt":"x"}}',
  '{"prompt":"x"} {"prompt":"y"}',
  '[1,]',
  'nul',
  'undefined',
  'NaN',
  '{"n":Infinity}',
  '{"n":01}',
  '{"n":+1}',
  '{"n":.5}',
  '{"prompt":"\\x"}',
  '{"prompt":"\\u12"}',
  '{"prompt":"a\nb"}',
  '\ufeff{"prompt":"x"}',
  '// comment\n{"prompt":"x"}',
  '<prompt>x</prompt>',
  'prompt=x',
  ' ',
  '',
];
for (const body of notJson) cases.push({ label: `not JSON: ${JSON.stringify(body)}`, method: 'POST', path: '/jobs', body, status: 400, code: 'MALFORMED_JSON', paths: ['(body)'] });
cases.push({ label: 'no body at all', method: 'POST', path: '/jobs', headers: { 'Content-Type': 'application/json' }, status: 400, code: 'MALFORMED_JSON', paths: ['(body)'] });

// Bodies over the limits (api.maxRequestBytes: 256,000 by default; API Gateway's 10 MB).
cases.push(
  { label: 'a body over api.maxRequestBytes', method: 'POST', path: '/jobs', body: { prompt: long(150_000), system: long(150_000) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { label: 'multi-byte text over api.maxRequestBytes', method: 'POST', path: '/jobs', body: { prompt: '€'.repeat(100_000) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { label: 'a body over 10 MB', method: 'POST', path: '/jobs', body: { prompt: long(11 * 1024 * 1024) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { label: 'a route path body over the limit', method: 'POST', path: '/api/classify', body: { prompt: long(300_000) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
);

// The same rules on a static route path and under the stage prefix.
for (const path of ['/api/classify', '/v1/jobs', '/v1/api/analyze', '/jobs/']) {
  submit(`unknown field on ${path}`, { prompt: 'x', model: 'y' }, ['model'], { path });
  submit(`metadata number on ${path}`, '{"prompt":"x","metadata":{"id":12345678901234567890}}', ['metadata.id'], { path });
  cases.push({ label: `not JSON on ${path}`, method: 'POST', path, body: '{"prompt"', status: 400, code: 'MALFORMED_JSON', paths: ['(body)'] });
}
submit('a body route that contradicts the path', { prompt: 'x', route: 'generate' }, ['route'], { path: '/api/classify' });
cases.push(
  { label: 'an unknown route', method: 'POST', path: '/jobs', body: { prompt: 'x', route: 'nope' }, status: 422, code: 'UNKNOWN_ROUTE', paths: ['route'] },
  { label: 'a model outside the configuration', method: 'POST', path: '/jobs', body: { prompt: 'x', modelId: 'meta.llama3-70b-instruct-v1:0' }, status: 422, code: 'MODEL_NOT_ALLOWED', paths: ['modelId'] },
);

// Headers: media type, Idempotency-Key, API key.
const mediaTypes: Array<string | undefined> = [undefined, 'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'json', 'application/jsonx', 'application/javascript', 'text/json'];
for (const type of mediaTypes) {
  const body = type === undefined ? new TextEncoder().encode('{"prompt":"x"}') : '{"prompt":"x"}';
  cases.push({ label: `Content-Type ${type ?? '(none)'}`, method: 'POST', path: '/jobs', body, headers: { 'Content-Type': type }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', paths: ['headers.Content-Type'] });
}
for (const key of ['', 'has space', 'k'.repeat(256), 'tab\there', 'caf\u00e9', 'a"quote"and space']) {
  submit(`Idempotency-Key ${JSON.stringify(key).slice(0, 20)}`, { prompt: 'x' }, ['headers.Idempotency-Key'], { headers: { 'Idempotency-Key': key } });
}
const keyCases: Array<[string, string | undefined]> = [
  ['no x-api-key', undefined],
  ['an empty x-api-key', ''],
  ['a wrong x-api-key', 'not-a-key'],
  ['the key with a letter appended', 'KEY+x'],
  ['the key in lower case', 'KEY.lower'],
];
for (const [label, key] of keyCases) {
  for (const [method, path, body] of [['POST', '/jobs', { prompt: 'x' }], ['GET', '/jobs/00000000-0000-4000-8000-000000000000'], ['GET', '/models'], ['POST', '/api/generate', { prompt: 'x' }], ['DELETE', '/jobs']] as const) {
    cases.push({ label: `${label} on ${method} ${path}`, method, path, body, headers: { 'x-api-key': key }, status: 403, code: 'INVALID_API_KEY' });
  }
}

// Paths: unknown paths, bad job ids, trailing parts.
for (const path of ['/', '/job', '/jobs/a/b', '/JOBS', '/v2/jobs', '/v1', '/v1/v1/jobs', '/api', '/api/unknown', '/models/x', '/jobs/a/b/', '/.env', '/jobs%2Fx']) {
  for (const method of ['GET', 'POST']) cases.push({ label: `${method} ${path}`, method, path, body: method === 'POST' ? { prompt: 'x' } : undefined, status: 404, code: 'NOT_FOUND' });
}
for (const id of ['00000000-0000-4000-8000-000000000000', 'x'.repeat(65), 'a.b', 'a%20b', '%00', '%2F', '%', 'not_valid', 'DROP%20TABLE', '%E2%82%AC', encodeURIComponent('{"a":1}')]) {
  cases.push({ label: `GET /jobs/${id.slice(0, 20)}`, method: 'GET', path: `/jobs/${id}`, status: 404, code: 'JOB_NOT_FOUND' });
  cases.push({ label: `GET /v1/jobs/${id.slice(0, 20)}`, method: 'GET', path: `/v1/jobs/${id}`, status: 404, code: 'JOB_NOT_FOUND' });
}

// Methods: every other method on every path.
const resources: Array<[string, string[]]> = [
  ['/jobs', ['GET', 'POST']],
  ['/jobs/00000000-0000-4000-8000-000000000000', ['DELETE', 'GET']],
  ['/batches', ['POST']],
  ['/batches/00000000-0000-4000-8000-000000000000', ['DELETE', 'GET']],
  ['/models', ['GET']],
  ['/api/classify', ['POST']],
  ['/api/generate', ['POST']],
  ['/api/analyze', ['POST']],
];
for (const [path, allowed] of resources) {
  for (const prefix of ['', '/v1']) {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !allowed.includes(m))) {
      cases.push({ label: `${method} ${prefix}${path}`, method, path: `${prefix}${path}`, body: method === 'GET' ? undefined : { prompt: 'x' }, status: 405, code: 'METHOD_NOT_ALLOWED', allow: `${allowed.join(', ')}, OPTIONS` });
    }
  }
}
cases.push({ label: 'PATCH /jobs/ (trailing slash)', method: 'PATCH', path: '/jobs/', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, POST, OPTIONS' });
cases.push({ label: 'PUT /jobs with a text body', method: 'PUT', path: '/jobs', body: 'x', headers: { 'Content-Type': 'text/plain' }, status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, POST, OPTIONS' });
cases.push({ label: 'PUT /jobs with an image body', method: 'PUT', path: '/jobs', body: 'x', headers: { 'Content-Type': 'image/png' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });

async function send(c: Case) {
  const body = c.body === undefined || typeof c.body === 'string' || c.body instanceof Uint8Array ? c.body : JSON.stringify(c.body);
  const headers: Record<string, string | undefined> = { 'x-api-key': runtime.apiKey, ...(body !== undefined && { 'Content-Type': 'application/json' }) };
  const keyVariants: Record<string, string> = { 'KEY+x': `${runtime.apiKey}x`, 'KEY.lower': runtime.apiKey!.toLowerCase() };
  for (const [name, value] of Object.entries(c.headers ?? {})) headers[name] = name === 'x-api-key' && value !== undefined ? (keyVariants[value] ?? value) : value;
  const response = await fetch(`${runtime.apiUrl}${c.path}`, {
    method: c.method,
    headers: Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined)),
    body,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function inParallel<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i]);
      }
    }),
  );
  return results;
}

const itemCount = async () => (await runtime.clients.dynamodb.send(new ScanCommand({ TableName: runtime.resources.jobsTable, Select: 'COUNT' }))).Count ?? 0;

/** What is wrong with an answer to a case: [] when it is what the contract says. */
function problemsWith(c: Case, r: Awaited<ReturnType<typeof send>>): string[] {
  const problems: string[] = [];
  if (r.status !== c.status) problems.push(`status ${r.status}, expected ${c.status}`);
  if (!/^application\/json/.test(r.headers.get('content-type') ?? '')) problems.push(`content-type ${r.headers.get('content-type')}`);
  const error = (r.json as { error?: Record<string, unknown> } | undefined)?.error;
  if (!error || Object.keys(r.json as object).length !== 1) return [...problems, `not the error shape: ${r.text.slice(0, 200)}`];
  const extra = Object.keys(error).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length) problems.push(`extra keys ${extra.join(', ')}`);
  if (error.code !== c.code) problems.push(`code ${String(error.code)}, expected ${c.code}`);
  const documented = API_ERRORS[error.code as keyof typeof API_ERRORS];
  if (!documented) problems.push(`undocumented code ${String(error.code)}`);
  else if (documented.status !== r.status) problems.push(`code ${String(error.code)} is documented as ${documented.status}, answered ${r.status}`);
  if (typeof error.message !== 'string' || error.message === '') problems.push('no message');
  if (/\bat .+:\d+:\d+\)?/.test(r.text) || /node_modules|\/var\/task/.test(r.text)) problems.push('a stack trace');
  const details = error.details as Array<{ path?: unknown; message?: unknown }> | undefined;
  if (details !== undefined && (!Array.isArray(details) || details.some((d) => typeof d.path !== 'string' || typeof d.message !== 'string' || Object.keys(d).length !== 2))) {
    problems.push(`details not [{path, message}]: ${JSON.stringify(details).slice(0, 200)}`);
  }
  if (r.status === 400 && !(Array.isArray(details) && details.length > 0)) problems.push('a 400 without details');
  const named = Array.isArray(details) ? details.map((d) => d.path) : [];
  for (const path of c.paths ?? []) if (!named.includes(path)) problems.push(`details name ${JSON.stringify(named).slice(0, 200)}, not ${path}`);
  if (c.allow !== undefined && r.headers.get('allow') !== c.allow) problems.push(`Allow ${r.headers.get('allow')}, expected ${c.allow}`);
  return problems;
}

describe('a corpus of malformed requests', () => {
  it('has at least 200 cases of every kind', () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const labels = new Set(cases.map((c) => `${c.method} ${c.path} ${c.label}`));
    expect(labels.size).toBe(cases.length);
  });

  it('gets only 4xx JSON errors of the one shape, with a documented code and the offending field named, and changes nothing', async () => {
    const itemsBefore = await itemCount();
    const answers = await inParallel(cases, 6, async (c) => ({ c, r: await send(c) }));
    const failures = answers.flatMap(({ c, r }) => problemsWith(c, r).map((p) => `${c.method} ${c.path.slice(0, 60)} [${c.label}]: ${p}`));
    expect(failures).toEqual([]);
    expect(answers.filter(({ r }) => r.status >= 500)).toEqual([]);

    expect(await itemCount()).toBe(itemsBefore);
    const { Attributes } = await runtime.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: runtime.resources.jobsQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
    );
    expect(Object.values(Attributes ?? {}).map(Number)).toEqual([0, 0, 0]);
  }, 120_000);

  it('answers HEAD on a path without it with 405 and Allow, and no body', async () => {
    const r = await send({ label: 'HEAD', method: 'HEAD', path: '/api/classify', status: 405, code: 'METHOD_NOT_ALLOWED' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('POST, OPTIONS');
    expect(r.text).toBe('');
  });
});

describe('OPTIONS', () => {
  it.each([
    ['/jobs', 'GET, POST, OPTIONS'],
    ['/v1/jobs/abc', 'DELETE, GET, OPTIONS'],
    ['/models', 'GET, OPTIONS'],
    ['/api/classify', 'POST, OPTIONS'],
  ])('on %s answers 204 with Allow: %s', async (path, allow) => {
    const r = await send({ label: 'OPTIONS', method: 'OPTIONS', path, status: 204, code: 'NOT_FOUND' });
    expect(r.status).toBe(204);
    expect(r.headers.get('allow')).toBe(allow);
  });

  it('wants the API key like every method', async () => {
    const r = await send({ label: 'OPTIONS', method: 'OPTIONS', path: '/jobs', headers: { 'x-api-key': undefined }, status: 403, code: 'INVALID_API_KEY' });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: { code: 'INVALID_API_KEY' } });
  });
});

describe('Location', () => {
  it.each(['/jobs', '/v1/jobs', '/api/classify', '/v1/api/classify'])('from POST %s carries the stage prefix and can be followed as given', async (path) => {
    const submitted = await send({ label: 'submit', method: 'POST', path, body: { prompt: 'Where is my job?' }, status: 202, code: 'NOT_FOUND' });
    expect(submitted.status).toBe(202);
    const { jobId } = submitted.json as { jobId: string };
    const location = submitted.headers.get('location')!;
    expect(location).toBe(`/v1/jobs/${jobId}`);
    const followed = await fetch(new URL(location, `${runtime.apiUrl}${path}`), { headers: { 'x-api-key': runtime.apiKey! } });
    expect(followed.status).toBe(200);
    expect(((await followed.json()) as { jobId: string }).jobId).toBe(jobId);
  });
});
