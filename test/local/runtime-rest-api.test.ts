import { answerMock, startApiServer, type ApiMethod, type ApiServer, type GatewayErrorContext, type MockIntegration, type RestApiDefinition } from '../../local/rest-api';

const notAllowed: MockIntegration = {
  requestTemplates: { 'application/json': '{"statusCode": 405}', 'text/plain': '{"statusCode": 405}' },
  passthroughBehavior: 'NEVER',
  responses: [
    {
      statusCode: 405,
      headers: { Allow: 'GET, OPTIONS', 'Cache-Control': 'no-store' },
      templates: { 'application/json': '{"error":{"code":"METHOD_NOT_ALLOWED","message":"$context.httpMethod is not allowed on /items; allowed: GET, OPTIONS"}}' },
    },
  ],
};

const method = (resourcePath: string, httpMethod: string, extra: Partial<ApiMethod> = {}): ApiMethod => ({
  resourcePath,
  httpMethod,
  apiKeyRequired: false,
  validateBody: false,
  validateParameters: false,
  models: {},
  requestParameters: {},
  ...extra,
});

const api = (methods: ApiMethod[], gatewayResponses: RestApiDefinition['gatewayResponses'] = {}): RestApiDefinition => ({
  logicalId: 'Api',
  stage: 'v1',
  methods,
  gatewayResponses,
  apiKeys: [],
  usagePlans: [],
});

const ctx: GatewayErrorContext = { responseType: 'MOCK', message: '', requestId: 'r', path: '/items', resourcePath: '/items', httpMethod: 'PUT', stage: 'v1', sourceIp: '127.0.0.1' };
const json = (body: Buffer) => JSON.parse(body.toString()) as unknown;

describe('a MOCK integration', () => {
  it('answers the status, headers and body its integration response maps, with $context filled in', () => {
    const r = answerMock(api([]), notAllowed, { body: '' }, ctx);
    expect(r.statusCode).toBe(405);
    expect(r.headers).toEqual(expect.arrayContaining([['Allow', 'GET, OPTIONS'], ['Cache-Control', 'no-store'], ['Content-Type', 'application/json']]));
    expect(json(r.body)).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: 'PUT is not allowed on /items; allowed: GET, OPTIONS' } });
  });

  it('uses the template of the content type, ignoring its parameters, and JSON when none is sent', () => {
    expect(answerMock(api([]), notAllowed, { contentType: 'text/plain; charset=utf-8', body: 'hello' }, ctx).statusCode).toBe(405);
    expect(answerMock(api([]), notAllowed, { contentType: undefined, body: '{}' }, ctx).statusCode).toBe(405);
  });

  it('refuses a content type without a template with 415 when it does not pass bodies through, as API Gateway does', () => {
    const gateway = api([], { UNSUPPORTED_MEDIA_TYPE: { headers: {}, template: '{"error":{"code":"UNSUPPORTED_MEDIA_TYPE","message":$context.error.messageString}}' } });
    const r = answerMock(gateway, notAllowed, { contentType: 'image/png', body: 'x' }, ctx);
    expect(r.statusCode).toBe(415);
    expect(json(r.body)).toEqual({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' } });
  });

  it('passes a body through when told to, and answers 500 when no status code parses from it', () => {
    const passing: MockIntegration = { ...notAllowed, passthroughBehavior: 'WHEN_NO_MATCH' };
    expect(answerMock(api([]), passing, { contentType: 'image/png', body: '{"statusCode": 405}' }, ctx).statusCode).toBe(405);
    expect(answerMock(api([]), passing, { contentType: 'image/png', body: 'not json' }, ctx).statusCode).toBe(500);
  });

  it('selects the integration response by its pattern, else the default one', () => {
    const selecting: MockIntegration = {
      requestTemplates: { 'application/json': '{"statusCode": 200}' },
      passthroughBehavior: 'NEVER',
      responses: [
        { statusCode: 404, headers: {}, templates: {} },
        { statusCode: 204, selectionPattern: '2\\d\\d', headers: { Allow: 'GET' }, templates: {} },
      ],
    };
    const r = answerMock(api([]), selecting, { body: '' }, ctx);
    expect(r).toMatchObject({ statusCode: 204, body: Buffer.alloc(0) });
    expect(answerMock(api([]), { ...selecting, requestTemplates: { 'application/json': '{"statusCode": 500}' } }, { body: '' }, ctx).statusCode).toBe(404);
  });
});

describe('the local API server', () => {
  let server: ApiServer;
  afterEach(() => server?.stop());

  const start = async (definition: RestApiDefinition) => {
    server = await startApiServer({ api: definition, functions: new Map(), port: 0, log: () => {} });
    return (method: string, path: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { method, headers });
  };

  it('serves an ANY MOCK method for the methods a resource does not define, at the root and under the stage', async () => {
    const call = await start(api([method('/items', 'GET', { functionLogicalId: 'Fn' }), method('/items', 'ANY', { mock: notAllowed })]));
    for (const path of ['/items', '/v1/items']) {
      const r = await call('DELETE', path);
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, OPTIONS');
      expect(await r.json()).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: 'DELETE is not allowed on /items; allowed: GET, OPTIONS' } });
    }
  });

  it('answers a wrong method with 405 and Allow when the API defines no answer of its own', async () => {
    const call = await start(api([method('/items', 'GET', { functionLogicalId: 'Fn' }), method('/items', 'POST', { functionLogicalId: 'Fn' })]));
    const r = await call('PATCH', '/items');
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, POST');
    expect(await r.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
    expect((await call('GET', '/nope')).status).toBe(404);
  });

  it("answers as the template's MISSING_AUTHENTICATION_TOKEN response says when the API has no ANY method, as API Gateway does", async () => {
    const call = await start(
      api([method('/items', 'GET', { functionLogicalId: 'Fn' })], {
        MISSING_AUTHENTICATION_TOKEN: { statusCode: 404, headers: {}, template: '{"error":{"code":"NOT_FOUND","message":"No such resource"}}' },
      }),
    );
    const r = await call('PATCH', '/items');
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such resource' } });
  });
});
