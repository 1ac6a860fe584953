import type { SQSRecord } from 'aws-lambda';
import { recordsToDelete, toSqsRecord } from '../../local/event-source-poller';
import { displayName, formatFunctionLogLine } from '../../local/function-host';
import { buildProxyEvent, mapProxyResult } from '../../local/proxy-event';
import { matchRoute, renderGatewayError, type ApiMethod, type RestApiDefinition } from '../../local/rest-api';

const method = (resourcePath: string, httpMethod: string): ApiMethod => ({
  resourcePath,
  httpMethod,
  functionLogicalId: `${httpMethod}${resourcePath}`,
  apiKeyRequired: false,
  validateBody: false,
  validateParameters: false,
  models: {},
  requestParameters: {},
});

describe('the API Gateway REST proxy event', () => {
  const event = buildProxyEvent(
    {
      method: 'POST',
      path: '/jobs/abc',
      query: 'tag=a&tag=b&x=1',
      rawHeaders: ['Content-Type', 'application/json', 'X-Multi', 'one', 'x-multi', 'two', 'User-Agent', 'curl/8', 'x-api-key', 'k1'],
      body: '{"prompt":"hi"}',
      sourceIp: '127.0.0.1',
    },
    { resourcePath: '/jobs/{jobId}', pathParameters: { jobId: 'abc' }, stage: 'v1', apiId: 'Api' },
    { requestId: 'req-1', requestTimeEpoch: Date.UTC(2025, 3, 9, 12, 34, 56), apiKey: 'k1', apiKeyId: 'TenantKey' },
  );

  it('carries the resource, path, method, path parameters and body as a string', () => {
    expect(event).toMatchObject({
      resource: '/jobs/{jobId}',
      path: '/jobs/abc',
      httpMethod: 'POST',
      pathParameters: { jobId: 'abc' },
      stageVariables: null,
      body: '{"prompt":"hi"}',
      isBase64Encoded: false,
    });
  });

  it('keeps the last value of a repeated header or query parameter in the single-value maps and all of them in the multi-value ones', () => {
    expect(event.headers['X-Multi']).toBe('two');
    expect(event.multiValueHeaders['X-Multi']).toEqual(['one', 'two']);
    expect(event.queryStringParameters).toEqual({ tag: 'b', x: '1' });
    expect(event.multiValueQueryStringParameters).toEqual({ tag: ['a', 'b'], x: ['1'] });
  });

  it('fills the request context: request id, stage, resource path, stage-prefixed path, identity with the API key', () => {
    expect(event.requestContext).toMatchObject({
      requestId: 'req-1',
      resourcePath: '/jobs/{jobId}',
      httpMethod: 'POST',
      stage: 'v1',
      path: '/v1/jobs/abc',
      requestTimeEpoch: Date.UTC(2025, 3, 9, 12, 34, 56),
      requestTime: '09/Apr/2025:12:34:56 +0000',
      identity: { sourceIp: '127.0.0.1', userAgent: 'curl/8', apiKey: 'k1', apiKeyId: 'TenantKey' },
    });
  });

  it('sends null, not empty maps, when there is no query string and no body', () => {
    const bare = buildProxyEvent(
      { method: 'GET', path: '/jobs/x', query: '', rawHeaders: ['Host', 'localhost'], body: '', sourceIp: '::1' },
      { resourcePath: '/jobs/{jobId}', pathParameters: { jobId: 'x' }, stage: 'v1', apiId: 'Api' },
      { requestId: 'r', requestTimeEpoch: 0 },
    );
    expect(bare.queryStringParameters).toBeNull();
    expect(bare.multiValueQueryStringParameters).toBeNull();
    expect(bare.body).toBeNull();
    expect(bare.requestContext.identity.apiKey).toBeNull();
  });
});

describe('mapping a Lambda proxy result back to HTTP', () => {
  it('sends status, single and multi-value headers and the body', () => {
    const r = mapProxyResult({ statusCode: 202, headers: { Location: '/jobs/1', 'Content-Type': 'application/json' }, multiValueHeaders: { 'Set-Cookie': ['a=1', 'b=2'] }, body: '{"ok":true}' });
    expect(r.statusCode).toBe(202);
    expect(r.headers).toEqual(expect.arrayContaining([['Location', '/jobs/1'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]));
    expect(r.body.toString()).toBe('{"ok":true}');
  });

  it('decodes a base64 body', () => {
    expect(mapProxyResult({ statusCode: 200, body: Buffer.from('bin').toString('base64'), isBase64Encoded: true }).body.toString()).toBe('bin');
  });

  it('answers 502 Internal server error for a malformed proxy response, as API Gateway does', () => {
    for (const malformed of [undefined, 'text', { statusCode: 'abc' }, { statusCode: 200, body: { not: 'a string' } }, { statusCode: 200, headers: { a: { b: 1 } } }]) {
      const r = mapProxyResult(malformed);
      expect(r.statusCode).toBe(502);
      expect(JSON.parse(r.body.toString())).toEqual({ message: 'Internal server error' });
    }
  });
});

describe('route matching', () => {
  const methods = [method('/jobs', 'POST'), method('/jobs/{jobId}', 'GET'), method('/jobs/latest', 'GET'), method('/files/{path+}', 'ANY'), method('/', 'GET')];

  it('prefers a literal path part over a path parameter', () => {
    expect(matchRoute(methods, 'GET', '/jobs/latest')).toMatchObject({ resourcePath: '/jobs/latest', pathParameters: null });
    expect(matchRoute(methods, 'GET', '/jobs/abc')).toMatchObject({ resourcePath: '/jobs/{jobId}', pathParameters: { jobId: 'abc' } });
  });

  it('decodes path parameters and lets {proxy+} take the rest of the path for any method', () => {
    expect(matchRoute(methods, 'GET', '/jobs/a%20b').pathParameters).toEqual({ jobId: 'a b' });
    expect(matchRoute(methods, 'DELETE', '/files/a/b/c')).toMatchObject({ resourcePath: '/files/{path+}', pathParameters: { path: 'a/b/c' } });
  });

  it('tells an unknown path from a known path with the wrong method', () => {
    expect(matchRoute(methods, 'GET', '/nope')).toMatchObject({ method: undefined, methodNotAllowed: false });
    expect(matchRoute(methods, 'DELETE', '/jobs')).toMatchObject({ method: undefined, methodNotAllowed: true, resourcePath: '/jobs' });
    expect(matchRoute(methods, 'GET', '/jobs/a/b').method).toBeUndefined();
    expect(matchRoute(methods, 'GET', '/').resourcePath).toBe('/');
  });
});

describe('gateway error responses', () => {
  const api: RestApiDefinition = {
    logicalId: 'Api',
    stage: 'v1',
    methods: [],
    apiKeys: [],
    usagePlans: [],
    gatewayResponses: {
      BAD_REQUEST_BODY: {
        headers: { 'Content-Type': 'application/json' },
        template: '{"error":{"code":"INVALID_REQUEST","message":$context.error.messageString,"details":"$context.error.validationErrorString"}}',
      },
      DEFAULT_4XX: { headers: {}, template: '{"error":{"code":"$context.error.responseType","message":$context.error.messageString}}' },
    },
  };
  const ctx = { requestId: 'r', path: '/jobs', httpMethod: 'POST', stage: 'v1', sourceIp: '127.0.0.1' };

  it("renders the template's response for the type, with the error context filled in", () => {
    const r = renderGatewayError(api, { ...ctx, responseType: 'BAD_REQUEST_BODY', message: 'Invalid request body', validationErrorString: '[/prompt must be string]' }, { statusCode: 400, body: '' });
    expect(r.statusCode).toBe(400);
    expect(JSON.parse(r.body.toString())).toEqual({ error: { code: 'INVALID_REQUEST', message: 'Invalid request body', details: '[/prompt must be string]' } });
  });

  it('falls back to DEFAULT_4XX, then to the built-in answer', () => {
    const r = renderGatewayError(api, { ...ctx, responseType: 'INVALID_API_KEY', message: 'Forbidden' }, { statusCode: 403, body: '{"message":"Forbidden"}' });
    expect(r.statusCode).toBe(403);
    expect(JSON.parse(r.body.toString())).toEqual({ error: { code: 'INVALID_API_KEY', message: 'Forbidden' } });
    const bare = renderGatewayError({ ...api, gatewayResponses: {} }, { ...ctx, responseType: 'DEFAULT_5XX', message: 'Internal server error' }, { statusCode: 502, body: '{"message":"Internal server error"}' });
    expect(bare.statusCode).toBe(502);
  });
});

describe('SQS event source semantics', () => {
  const records = ['a', 'b', 'c'].map(
    (id) => toSqsRecord({ MessageId: id, ReceiptHandle: `rh-${id}`, Body: `body-${id}`, MD5OfBody: 'md5', Attributes: { ApproximateReceiveCount: '1' } }, 'arn:aws:sqs:us-east-1:000000000000:Q', 'us-east-1'),
  );
  const ids = (rs: SQSRecord[]) => rs.map((r) => r.messageId);

  it('builds records as Lambda delivers them', () => {
    expect(records[0]).toMatchObject({
      messageId: 'a',
      receiptHandle: 'rh-a',
      body: 'body-a',
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {},
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:Q',
      awsRegion: 'us-east-1',
    });
  });

  it('deletes every record of a successful batch, and none of a failed invocation', () => {
    expect(ids(recordsToDelete(records, { ok: true, value: null }, false))).toEqual(['a', 'b', 'c']);
    expect(ids(recordsToDelete(records, { ok: true, value: { batchItemFailures: [{ itemIdentifier: 'b' }] } }, false))).toEqual(['a', 'b', 'c']);
    expect(recordsToDelete(records, { ok: false }, true)).toEqual([]);
  });

  it('with ReportBatchItemFailures keeps only the reported records', () => {
    expect(ids(recordsToDelete(records, { ok: true, value: { batchItemFailures: [{ itemIdentifier: 'b' }] } }, true))).toEqual(['a', 'c']);
    expect(ids(recordsToDelete(records, { ok: true, value: { batchItemFailures: [] } }, true))).toEqual(['a', 'b', 'c']);
    expect(ids(recordsToDelete(records, { ok: true, value: undefined }, true))).toEqual(['a', 'b', 'c']);
  });

  it('treats an unknown or empty item identifier as a failure of the whole batch, as Lambda does', () => {
    expect(recordsToDelete(records, { ok: true, value: { batchItemFailures: [{ itemIdentifier: 'zzz' }] } }, true)).toEqual([]);
    expect(recordsToDelete(records, { ok: true, value: { batchItemFailures: [{ itemIdentifier: '' }] } }, true)).toEqual([]);
  });
});

describe('function log lines', () => {
  it('prints Powertools JSON as level, message and the keys that matter, prefixed with the function name', () => {
    const line = JSON.stringify({ level: 'INFO', message: 'job queued', timestamp: 't', service: 'quarry', cold_start: true, function_request_id: 'r', jobId: 'j1' });
    expect(formatFunctionLogLine('Submit', line)).toBe('[Submit] INFO job queued {"jobId":"j1"}');
  });

  it('names functions and queues without the hash suffix CDK adds to logical ids', () => {
    expect(displayName('JobWorkerFunction7BB1B3D2')).toBe('JobWorkerFunction');
    expect(displayName('JobQueue67926FCA')).toBe('JobQueue');
    expect(displayName('my-named-queue')).toBe('my-named-queue');
    expect(displayName('ABCDEF12')).toBe('ABCDEF12');
  });

  it('drops metrics (EMF) lines and prints plain text as is', () => {
    expect(formatFunctionLogLine('Worker', JSON.stringify({ _aws: {}, Jobs: 1 }))).toBeUndefined();
    expect(formatFunctionLogLine('Worker', 'plain text')).toBe('[Worker] plain text');
  });
});
