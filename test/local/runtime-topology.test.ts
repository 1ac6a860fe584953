import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TemplateResource } from '../../local/cloud-assembly';
import { startLocalRuntime, writeEndpointsFile, type LocalRuntime } from '../../local/runtime';

/** A configuration unlike the defaults: an extra route with its own path, a different worker timeout and redrive. */
const config = {
  routes: {
    classify: { model: 'claude-haiku', path: '/api/classify' },
    generate: { model: 'claude-sonnet', path: '/api/generate' },
    summarize: { model: 'claude-haiku', path: '/api/summarize' },
  },
  worker: { timeoutSeconds: 240, maxReceiveCount: 2, maxConcurrency: 3 },
  subscriptions: [{ protocol: 'email', endpoint: 'ops@example.com' }],
  plans: { default: { rateLimit: 1000, burstLimit: 1000 } },
};

let runtime: LocalRuntime;
let workdir: string;
const runtimeLog: string[] = [];

beforeAll(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'quarry-topology-test-'));
  runtime = await startLocalRuntime({ port: 0, config, outdir: join(workdir, 'cdk.out'), quiet: true, log: (line) => runtimeLog.push(line) });
}, 90_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(workdir, { recursive: true, force: true });
});

const resourcesOfType = (type: string): Array<[string, TemplateResource]> => runtime.topology.ofType(type);

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': runtime.apiKey!, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

describe('the local topology comes from the synthesized template', () => {
  it('serves a route path added in the config, at the root and under the stage prefix, with its route preset', async () => {
    for (const path of ['/api/summarize', '/v1/api/summarize']) {
      const submitted = await api('POST', path, { prompt: 'Summarize the local runtime.' });
      expect(submitted.status).toBe(202);
      const job = await api('GET', `/jobs/${String(submitted.json.jobId)}`);
      expect(job.status).toBe(200);
      expect(job.json).toMatchObject({ route: 'summarize', modelId: 'anthropic.claude-3-haiku-20240307-v1:0' });
    }
  });

  it('creates the job queue with the visibility timeout, retention and redrive the template gives it', async () => {
    const queueUrl = runtime.resources.jobsQueueUrl!;
    const [queueId, queue] = resourcesOfType('AWS::SQS::Queue').find(([id]) => runtime.topology.resources.get(id)?.ref === queueUrl)!;
    const read = await runtime.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
    const attributes = read.Attributes!;
    expect(queueId).toBeDefined();
    // 6x the configured worker timeout of 240 s (long enough for the default models' output), as the stack sets it.
    expect(attributes.VisibilityTimeout).toBe('1440');
    expect(attributes.VisibilityTimeout).toBe(String(queue.Properties!.VisibilityTimeout));
    expect(attributes.MessageRetentionPeriod).toBe(String(queue.Properties!.MessageRetentionPeriod));
    const redrive = JSON.parse(attributes.RedrivePolicy!) as { deadLetterTargetArn: string; maxReceiveCount: number };
    expect(Number(redrive.maxReceiveCount)).toBe(2);
    const dlqArn = (
      await runtime.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: runtime.resources.deadLetterQueueUrl!, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn;
    expect(redrive.deadLetterTargetArn).toBe(dlqArn);
  });

  it('creates the jobs table with the key schema and secondary indexes of the template', async () => {
    const [, table] = resourcesOfType('AWS::DynamoDB::Table').find(([id]) => runtime.topology.resources.get(id)?.ref === runtime.resources.jobsTable)!;
    const described = (await runtime.clients.dynamodb.send(new DescribeTableCommand({ TableName: runtime.resources.jobsTable }))).Table!;
    expect(described.KeySchema).toEqual(table.Properties!.KeySchema);
    const indexes = (table.Properties!.GlobalSecondaryIndexes as Array<{ IndexName: string; KeySchema: unknown }> | undefined) ?? [];
    expect((described.GlobalSecondaryIndexes ?? []).map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema }))).toEqual(
      indexes.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema })),
    );
  });

  it("resolves each function's environment to the local resources", () => {
    const submit = [...runtime.functions.values()].find((f) => f.definition.env.JOBS_QUEUE_URL)!;
    expect(submit.definition.env).toMatchObject({
      JOBS_QUEUE_URL: runtime.resources.jobsQueueUrl,
      JOBS_TABLE_NAME: runtime.resources.jobsTable,
      AWS_ENDPOINT_URL_DYNAMODB: runtime.faultEndpoints.dynamodb,
      AWS_ENDPOINT_URL_SQS: runtime.faultEndpoints.sqs,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: runtime.bedrockUrl,
      AWS_REGION: runtime.region,
    });
    const worker = [...runtime.functions.values()].find((f) => /JobWorker/.test(f.definition.logicalId))!;
    expect(worker.definition.env).toMatchObject({ EVENTS_TOPIC_ARN: runtime.resources.topicArn, RESULTS_BUCKET_NAME: runtime.resources.resultsBucket });
    expect(worker.definition.timeoutSeconds).toBe(240);
  });

  it('says which subscriptions it cannot deliver locally', () => {
    expect(runtimeLog.some((line) => /email ops@example\.com is not delivered locally/.test(line))).toBe(true);
  });
});

describe('the local API answers as the deployed gateway does', () => {
  it('leaves the body to the function, which names the offending field', async () => {
    const r = await api('POST', '/jobs', { prompt: 42, model: 'x' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'VALIDATION_ERROR', details: expect.arrayContaining([expect.objectContaining({ path: 'prompt' }), { path: 'model', message: 'unknown field "model"' }]) } });
    expect(await api('POST', '/jobs', '{not json')).toMatchObject({ status: 400, json: { error: { code: 'MALFORMED_JSON' } } });
  });

  it('answers an unknown path 404 and a wrong method 405 with Allow, as the template says', async () => {
    for (const [method, path] of [['GET', '/nope'], ['GET', '/v1/nope']]) {
      const r = await api(method, path);
      expect(r.status).toBe(404);
      expect(r.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    }
    for (const path of ['/jobs', '/v1/jobs']) {
      const r = await api('DELETE', path);
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, POST, OPTIONS');
      expect(r.json).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: 'DELETE is not allowed on /jobs; allowed: GET, POST, OPTIONS' } });
    }
  });

  it('writes .local/endpoints.json with exactly the documented keys', () => {
    const file = writeEndpointsFile(runtime, join(workdir, 'endpoints.json'));
    const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(Object.keys(written).sort()).toEqual(['apiKey', 'apiKeys', 'apiUrl', 'bedrockUrl', 'endpoints', 'faultEndpoints', 'faultsUrl', 'region', 'resources']);
    expect(written.apiKey).toBe(runtime.apiKey);
    expect(written.apiKeys).toEqual({ default: runtime.apiKey });
    expect(Object.keys(written.endpoints).sort()).toEqual(['dynamodb', 's3', 'sns', 'sqs']);
    expect(Object.keys(written.faultEndpoints).sort()).toEqual(['dynamodb', 's3', 'sns', 'sqs']);
    expect(written.faultsUrl).toBe(runtime.faultsUrl);
    expect(written.resources).toEqual({
      jobsTable: expect.any(String),
      jobsQueueUrl: expect.stringContaining('/000000000000/'),
      deadLetterQueueUrl: expect.stringContaining('/000000000000/'),
      topicArn: expect.stringMatching(/^arn:aws:sns:/),
      resultsBucket: expect.any(String),
      inputsBucket: expect.any(String),
    });
    expect(written.resources.deadLetterQueueUrl).not.toBe(written.resources.jobsQueueUrl);
  });
});
