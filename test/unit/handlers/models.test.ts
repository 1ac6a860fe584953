import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lambdaContext, setFunctionEnvironment } from './env';

setFunctionEnvironment();
Object.assign(process.env, {
  AWS_REGION: 'us-east-1',
  QUARRY_ROUTES: JSON.stringify({
    defaultRoute: 'generate',
    routes: {
      generate: { modelId: 'sonnet', path: '/api/generate', fallback: ['haiku'] },
      classify: { modelId: 'haiku', fallback: [] },
    },
    models: { sonnet: { regions: ['us-west-2'] }, haiku: {}, spare: { regions: ['us-east-1'] } },
  }),
  QUARRY_RESILIENCE: JSON.stringify({
    retry: { attemptsPerModel: 3, baseDelayMs: 200, maxDelayMs: 5000 },
    requeue: { baseDelaySeconds: 5, maxDelaySeconds: 300 },
    maxModelCalls: 30,
    jobDeadlineSeconds: 3600,
    breaker: { windowSeconds: 60, minimumCalls: 10, failureRateThreshold: 0.5, cooldownSeconds: 45, maxCooldownSeconds: 600, halfOpenProbes: 1 },
    cacheTtlSeconds: 86400,
  }),
});
// eslint-disable-next-line @typescript-eslint/no-require-imports
const models = require('../../../lambda/handlers/models') as typeof import('../../../lambda/handlers/models');

const dynamo = mockClient(DynamoDBDocumentClient);
beforeEach(() => dynamo.reset());

const event = { resource: '/models', path: '/models', httpMethod: 'GET', headers: {}, requestContext: { identity: { apiKeyId: null } } } as unknown as APIGatewayProxyEvent;
const call = async () => {
  const res = (await models.handler(event, lambdaContext as never)) as APIGatewayProxyResult;
  return { ...res, json: JSON.parse(res.body) };
};

describe('GET /models', () => {
  it('lists every configured model with its routes and a breaker per region it is called in', async () => {
    const openedAt = Date.now() - 5000;
    dynamo.on(BatchGetCommand).resolves({
      Responses: {
        jobs: [
          // As lambda/aws/breaker-store.ts writes it: sonnet's home-region breaker opened 5 s ago after 10 failures.
          { pk: 'BREAKER#us-east-1#sonnet', modelId: 'sonnet', region: 'us-east-1', state: 'OPEN', version: 1, bucketStart: openedAt - (openedAt % 60_000), calls: 10, failures: 10, consecutiveOpens: 1, openedAt, openUntil: openedAt + 45_000 },
        ],
      },
    });
    const res = await call();
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['Content-Type']).toBe('application/json');
    expect(res.json.models.map((m: { modelId: string; routes: string[]; regions: { region: string }[] }) => [m.modelId, m.routes, m.regions.map((r) => r.region)])).toEqual([
      ['sonnet', ['generate'], ['us-east-1', 'us-west-2']],
      ['haiku', ['generate', 'classify'], ['us-east-1']],
      ['spare', [], ['us-east-1']],
    ]);
    expect(res.json.models[0].regions[0]).toEqual({
      region: 'us-east-1',
      state: 'OPEN',
      errorRate: 1,
      calls: expect.any(Number),
      failures: expect.any(Number),
      openedAt: new Date(openedAt).toISOString(),
      nextProbeAt: new Date(openedAt + 45_000).toISOString(),
      recent: { calls: 0, errorRate: 0, throttleRate: 0 },
    });
    expect(res.json.models[0].regions[1]).toEqual({ region: 'us-west-2', state: 'CLOSED', errorRate: 0, calls: 0, failures: 0, recent: { calls: 0, errorRate: 0, throttleRate: 0 } });
    const keys = dynamo.commandCalls(BatchGetCommand)[0].args[0].input.RequestItems?.jobs.Keys;
    expect(keys).toEqual([{ pk: 'BREAKER#us-east-1#sonnet' }, { pk: 'BREAKER#us-west-2#sonnet' }, { pk: 'BREAKER#us-east-1#haiku' }, { pk: 'BREAKER#us-east-1#spare' }]);
  });

  it('answers 503 BREAKER_STATE_UNAVAILABLE, without internals, when the table cannot be read', async () => {
    dynamo.on(BatchGetCommand).rejects(Object.assign(new Error('table on fire'), { name: 'InternalServerError' }));
    const res = await call();
    expect(res.statusCode).toBe(503);
    expect(res.json).toEqual({ error: { code: 'BREAKER_STATE_UNAVAILABLE', message: expect.any(String) } });
    expect(res.body).not.toContain('fire');
  });
});
