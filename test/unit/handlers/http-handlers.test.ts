import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lambdaContext, setFunctionEnvironment } from './env';

setFunctionEnvironment();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const submit = require('../../../lambda/handlers/submit') as typeof import('../../../lambda/handlers/submit');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const status = require('../../../lambda/handlers/status') as typeof import('../../../lambda/handlers/status');

const dynamo = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
beforeEach(() => {
  dynamo.reset();
  sqs.reset();
});

function apiEvent(overrides: Partial<APIGatewayProxyEvent>): APIGatewayProxyEvent {
  return {
    resource: '/jobs',
    path: '/jobs',
    httpMethod: 'POST',
    headers: { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'r', identity: { apiKeyId: null } } as never,
    ...overrides,
  };
}

const call = async (h: (e: APIGatewayProxyEvent, c: never) => Promise<APIGatewayProxyResult>, e: APIGatewayProxyEvent) => {
  const res = await h(e, lambdaContext as never);
  return { ...res, json: JSON.parse(res.body) };
};

describe('POST /jobs', () => {
  it('answers 202 with the job id, status and Location, after sending the message then writing the record', async () => {
    dynamo.on(PutCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    const res = await call(submit.handler, apiEvent({ body: JSON.stringify({ prompt: 'hi', metadata: { ticket: 7 } }) }));
    expect(res.statusCode).toBe(202);
    expect(res.json).toEqual({ jobId: expect.any(String), status: 'QUEUED', createdAt: expect.any(String) });
    expect(res.headers?.Location).toBe(`/jobs/${res.json.jobId}`);
    const put = dynamo.commandCalls(PutCommand)[0].args[0].input;
    expect(put.Item).toMatchObject({ pk: `JOB#${res.json.jobId}`, status: 'QUEUED', route: 'generate', modelId: 'sonnet', metadata: { ticket: 7 } });
    const sent = sqs.commandCalls(SendMessageCommand)[0].args[0].input;
    expect(sent.QueueUrl).toBe(process.env.JOBS_QUEUE_URL);
    // A small request travels in the message only: the worker reads no item for it, and none is written.
    expect(JSON.parse(sent.MessageBody!)).toEqual({ jobId: res.json.jobId, tenant: 'default', requestHash: put.Item!.requestHash, createdAt: put.Item!.createdAt, request: { messages: [{ role: 'user', content: [{ text: 'hi' }] }] } });
    expect(dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item?.pk)).toEqual([`JOB#${res.json.jobId}`]);
    expect(put.Item).not.toHaveProperty('request');
    expect(put.Item).not.toHaveProperty('sweepAt');
  });

  it('submits to the route of a static path', async () => {
    dynamo.on(PutCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({});
    await call(submit.handler, apiEvent({ resource: '/api/classify', path: '/api/classify', body: '{"prompt":"spam?"}' }));
    expect(dynamo.commandCalls(PutCommand)[0].args[0].input.Item).toMatchObject({ route: 'classify', modelId: 'haiku' });
  });

  it.each([
    ['a text/plain body', { 'Content-Type': 'text/plain' }, '{"prompt":"x"}', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['broken JSON', { 'Content-Type': 'application/json' }, '{"prompt":', 400, 'MALFORMED_JSON'],
    ['a body over the size limit', { 'Content-Type': 'application/json' }, JSON.stringify({ prompt: 'x'.repeat(3000) }), 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown field', { 'Content-Type': 'application/json' }, '{"prompt":"x","extra":1}', 400, 'VALIDATION_ERROR'],
    ['an unknown route', { 'Content-Type': 'application/json' }, '{"prompt":"x","route":"nope"}', 422, 'UNKNOWN_ROUTE'],
    ['a bad Idempotency-Key', { 'Content-Type': 'application/json', 'Idempotency-Key': 'bad key' }, '{"prompt":"x"}', 400, 'VALIDATION_ERROR'],
  ])('answers %s with %s %s and writes nothing', async (_label, headers, body, code, errorCode) => {
    const res = await call(submit.handler, apiEvent({ headers, body }));
    expect(res.statusCode).toBe(code);
    expect(res.json.error).toMatchObject({ code: errorCode, message: expect.any(String) });
    expect(dynamo.calls()).toHaveLength(0);
    expect(sqs.calls()).toHaveLength(0);
  });

  it('answers 200 with the original job when an Idempotency-Key is replayed, and 409 for another body', async () => {
    const existing = { pk: 'JOB#x', jobId: 'x', status: 'RUNNING', createdAt: '2026-01-01T00:00:00.000Z', requestHash: '', attempts: [], expiresAt: 9_999_999_999 };
    dynamo.on(PutCommand).resolves({});
    dynamo.on(GetCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    const first = await call(submit.handler, apiEvent({ headers: { 'content-type': 'application/json', 'idempotency-key': 'k' }, body: '{"prompt":"a"}' }));
    expect(first.statusCode).toBe(202);
    sqs.reset();
    // Now the job exists, with the hash of the same body: the replay reads it and sends nothing.
    dynamo.on(GetCommand).resolves({ Item: { ...existing, requestHash: (dynamo.commandCalls(PutCommand)[0].args[0].input.Item as { requestHash: string }).requestHash } });
    const replay = await call(submit.handler, apiEvent({ headers: { 'content-type': 'application/json', 'idempotency-key': 'k' }, body: '{"prompt":"a"}' }));
    expect(replay.statusCode).toBe(200);
    expect(replay.json).toEqual({ jobId: 'x', status: 'RUNNING', createdAt: existing.createdAt });
    const conflict = await call(submit.handler, apiEvent({ headers: { 'content-type': 'application/json', 'idempotency-key': 'k' }, body: '{"prompt":"b"}' }));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(sqs.calls()).toHaveLength(0);
  });

  it('answers 503 and writes nothing when the queue refuses the message', async () => {
    dynamo.on(PutCommand).resolves({});
    sqs.on(SendMessageCommand).rejects(new Error('throttled'));
    const res = await call(submit.handler, apiEvent({ body: '{"prompt":"x"}' }));
    expect(res.statusCode).toBe(503);
    expect(res.json.error.code).toBe('ENQUEUE_FAILED');
    expect(dynamo.calls()).toHaveLength(0);
  });

  it('answers 503 when the record cannot be written after the message went out', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    dynamo.on(PutCommand).rejects(new Error('socket exploded at /var/task/index.js:1'));
    const res = await call(submit.handler, apiEvent({ body: '{"prompt":"x"}' }));
    expect(res.statusCode).toBe(503);
    expect(res.body).not.toContain('var/task');
    expect(res.json.error.code).toBe('ENQUEUE_FAILED');
  });

  it('never leaks internals when something unexpected breaks', async () => {
    sqs.on(SendMessageCommand).rejects(new Error('socket exploded at /var/task/index.js:1'));
    dynamo.on(GetCommand).rejects(new Error('socket exploded at /var/task/index.js:1'));
    const res = await call(submit.handler, apiEvent({ headers: { 'content-type': 'application/json', 'idempotency-key': 'k' }, body: '{"prompt":"x"}' }));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('var/task');
    expect(res.json.error.code).toBe('INTERNAL_ERROR');
  });
});

describe('GET /jobs/{jobId}', () => {
  const item = {
    pk: 'JOB#j1',
    jobId: 'j1',
    status: 'RUNNING',
    tenant: 'default',
    route: 'generate',
    modelId: 'sonnet',
    createdAt: 'c',
    updatedAt: 'u',
    request: { messages: [{ role: 'user', content: [{ text: 'private' }] }] },
    requestHash: 'h',
    attempts: [],
    leaseOwner: 'w',
    leaseExpiresAt: 1,
    expiresAt: 9_999_999_999,
  };
  const get = (jobId: string, apiKeyId: string | null = null) =>
    call(status.handler, apiEvent({ httpMethod: 'GET', resource: '/jobs/{jobId}', path: `/jobs/${jobId}`, pathParameters: { jobId }, requestContext: { requestId: 'r', identity: { apiKeyId } } as never }));

  it('returns the job without its request and with Retry-After while it runs', async () => {
    dynamo.on(GetCommand).resolves({ Item: item });
    const res = await get('j1');
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['Retry-After']).toBe('1');
    expect(res.json).toEqual({ jobId: 'j1', status: 'RUNNING', createdAt: 'c', updatedAt: 'u', route: 'generate', modelId: 'sonnet', attempts: [], metadata: {} });
  });

  it('returns a presigned URL for an offloaded result and no Retry-After once finished', async () => {
    dynamo.on(GetCommand).resolves({ Item: { ...item, status: 'SUCCEEDED', result: { stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 2 }, modelId: 'sonnet' }, resultLocation: { bucket: 'results', key: 'results/j1.json', bytes: 10 } } });
    const res = await get('j1');
    expect(res.headers?.['Retry-After']).toBeUndefined();
    expect(res.json.resultUrl).toMatch(/results\/j1\.json\?.*X-Amz-Signature=/);
    expect(res.json.resultUrl).toMatch(/X-Amz-Expires=900/);
  });

  it('answers 404 for unknown ids, malformed ids and other tenants\' jobs alike', async () => {
    dynamo.on(GetCommand).resolves({});
    expect((await get('nope')).statusCode).toBe(404);
    expect((await get('../../etc')).json.error.code).toBe('JOB_NOT_FOUND');
    dynamo.on(GetCommand).resolves({ Item: item });
    const other = await get('j1', 'someone-else');
    expect(other.statusCode).toBe(404);
    expect(other.json.error.code).toBe('JOB_NOT_FOUND');
  });
});
