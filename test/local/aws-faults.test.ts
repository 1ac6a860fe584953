import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { randomBytes } from 'node:crypto';
import { operationOf, startAwsFaultLayer, type AwsFaultLayer, type AwsService } from '../../local/aws-faults';
import { startEmulators, type Emulators } from '../../local/emulators';

const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const TABLE = 'jobs-table';

let emulators: Emulators;
let layer: AwsFaultLayer;
/** Clients through the fault layer, as the functions of the local runtime are; one attempt, so each fault shows. */
let dynamodb: DynamoDBClient;
let sqs: SQSClient;
let sns: SNSClient;
let s3: S3Client;
/** A client straight to the emulator, as runtime.clients is. */
let direct: DynamoDBClient;
let queueUrl: string;
let topicArn: string;
const layerLog: string[] = [];

function clientsOn(endpoints: AwsFaultLayer['endpoints'], maxAttempts = 1, handler?: ConstructorParameters<typeof NodeHttpHandler>[0]) {
  const common = { region, credentials, maxAttempts, ...(handler && { requestHandler: new NodeHttpHandler(handler) }) };
  return {
    dynamodb: new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb }),
    sqs: new SQSClient({ ...common, endpoint: endpoints.sqs, useQueueUrlAsEndpoint: false }),
    sns: new SNSClient({ ...common, endpoint: endpoints.sns }),
    s3: new S3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true }),
  };
}

const markJob = (client: DynamoDBClient, jobId: string, status: string) =>
  client.send(
    new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: `JOB#${jobId}` } },
      UpdateExpression: 'SET #s = :s',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':s': { S: status } },
    }),
  );

const statusOf = async (jobId: string) => (await direct.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `JOB#${jobId}` } } }))).Item?.status?.S;

async function failureOf(call: Promise<unknown>): Promise<{ name: string; message: string; status?: number; code?: string }> {
  try {
    await call;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number }; Code?: string };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode, code: e.Code };
  }
  throw new Error('the call succeeded');
}

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${layer.adminUrl}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then(
    async (r) => ({ status: r.status, headers: r.headers, json: (await r.json()) as Record<string, unknown> }),
  );

beforeAll(async () => {
  emulators = await startEmulators({ region, env: {} });
  layer = await startAwsFaultLayer({ upstream: emulators.endpoints, handlers: emulators.handlers, seed: 7, log: (line) => layerLog.push(line) });
  ({ dynamodb, sqs, sns, s3 } = clientsOn(layer.endpoints));
  direct = new DynamoDBClient({ region, credentials, maxAttempts: 1, endpoint: emulators.endpoints.dynamodb });
  await direct.send(
    new CreateTableCommand({ TableName: TABLE, KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }),
  );
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'events' }))).QueueUrl!;
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'job-events' }))).TopicArn!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn, Attributes: { RawMessageDelivery: 'true' } }));
  await s3.send(new CreateBucketCommand({ Bucket: 'results' }));
});

afterEach(() => {
  layer.faults.clear();
});

afterAll(async () => {
  for (const client of [dynamodb, sqs, sns, s3, direct]) client?.destroy();
  await layer?.stop();
  await emulators?.stop();
});

describe('the fault layer without rules', () => {
  it('passes every service through unchanged, bodies byte for byte', async () => {
    await dynamodb.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'JOB#pass' }, status: { S: 'QUEUED' } } }));
    expect(await statusOf('pass')).toBe('QUEUED');

    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'through the layer' }));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'published through the layer' }));
    const bodies: string[] = [];
    while (bodies.length < 2) {
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      bodies.push(...(received.Messages ?? []).map((m) => m.Body!));
    }
    expect(bodies.sort()).toEqual(['published through the layer', 'through the layer']);

    const bytes = randomBytes(256 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'jobs/pass/result.bin', Body: bytes }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'results', Key: 'jobs/pass/result.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(bytes)).toBe(true);
  });

  it('counts requests per service and operation', async () => {
    layer.faults.resetStats();
    await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'JOB#pass' } } }));
    await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'JOB#pass' } } }));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'counted' }));
    await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'counted', Body: 'x' }));
    const stats = layer.faults.stats();
    expect(stats.services.dynamodb?.GetItem).toEqual({ requests: 2, faults: 0, delayed: 0, byKind: {} });
    expect(stats.services.sns?.Publish?.requests).toBe(1);
    expect(stats.services.s3?.PutObject?.requests).toBe(1);
    expect(stats.totals).toEqual({ requests: 4, faults: 0, delayed: 0 });
  });
});

describe('DynamoDB faults', () => {
  it('fails UpdateItem with the throttling error DynamoDB sends while GetItem still works', async () => {
    await markJob(direct, 'd1', 'RUNNING');
    layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], error: 'throttle' });
    expect(await failureOf(markJob(dynamodb, 'd1', 'SUCCEEDED'))).toMatchObject({ name: 'ProvisionedThroughputExceededException', status: 400 });
    const read = await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'JOB#d1' } } }));
    expect(read.Item?.status?.S).toBe('RUNNING');
  });

  it('answers InternalServerError (500) for an internal fault, and 503 for unavailable', async () => {
    const id = layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'] });
    expect(await failureOf(markJob(dynamodb, 'd2', 'RUNNING'))).toMatchObject({ name: 'InternalServerError', status: 500 });
    layer.faults.remove(id);
    layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], error: 'unavailable' });
    expect(await failureOf(markJob(dynamodb, 'd2', 'RUNNING'))).toMatchObject({ status: 503 });
  });

  it('hits only the requests whose body contains one of bodyIncludes: the terminal writes', async () => {
    const id = layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], bodyIncludes: ['"SUCCEEDED"', '"FAILED"'], error: 'internal' });
    await markJob(dynamodb, 'd3', 'RUNNING');
    expect(await failureOf(markJob(dynamodb, 'd3', 'SUCCEEDED'))).toMatchObject({ name: 'InternalServerError' });
    expect(await failureOf(markJob(dynamodb, 'd3', 'FAILED'))).toMatchObject({ name: 'InternalServerError' });
    expect(await statusOf('d3')).toBe('RUNNING');
    expect(layer.faults.rule(id)).toMatchObject({ matched: 2, injected: 2, state: 'active' });
  });

  it('ends a blackout window on time: the same write fails inside it and succeeds after it', async () => {
    const id = layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], durationMs: 600 });
    const to = layer.faults.rule(id)!.to!;
    expect(await failureOf(markJob(dynamodb, 'd4', 'SUCCEEDED'))).toMatchObject({ name: 'InternalServerError' });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, to - Date.now()) + 20));
    await markJob(dynamodb, 'd4', 'SUCCEEDED');
    expect(await statusOf('d4')).toBe('SUCCEEDED');
    expect(layer.faults.rule(id)?.state).toBe('expired');
  });

  it('waits for a window that starts later', async () => {
    const from = Date.now() + 60_000;
    const id = layer.faults.add({ service: 'dynamodb', from, durationMs: 1000 });
    await markJob(dynamodb, 'd5', 'QUEUED');
    expect(layer.faults.rule(id)).toMatchObject({ state: 'pending', from, to: from + 1000, matched: 0 });
  });

  it('stops after count faults', async () => {
    const id = layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], count: 2 });
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await markJob(dynamodb, 'd6', `S${i}`).then(() => 'ok', (e: Error) => e.name));
    expect(outcomes).toEqual(['InternalServerError', 'InternalServerError', 'ok', 'ok']);
    expect(layer.faults.rule(id)).toMatchObject({ injected: 2, state: 'spent' });
  });

  it('hits about `rate` of the requests, and reports exactly the ones it hit', async () => {
    const id = layer.faults.add({ service: 'dynamodb', operations: ['GetItem'], rate: 0.3 });
    let failed = 0;
    for (let i = 0; i < 60; i++) {
      failed += await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'JOB#pass' } } })).then(() => 0, () => 1);
    }
    expect(failed).toBeGreaterThan(5);
    expect(failed).toBeLessThan(35);
    expect(layer.faults.rule(id)).toMatchObject({ matched: 60, injected: failed });
  });

  it('resets the connection, which the SDK retries as a transient network error', async () => {
    layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], error: 'reset', count: 1 });
    expect(await failureOf(markJob(dynamodb, 'd7', 'RUNNING'))).toMatchObject({ message: expect.stringContaining('ECONNRESET') });
    layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], error: 'reset', count: 1, id: 'reset-once' });
    const retrying = clientsOn(layer.endpoints, 2).dynamodb;
    await markJob(retrying, 'd7', 'RUNNING');
    expect(await statusOf('d7')).toBe('RUNNING');
    retrying.destroy();
  });

  it('holds a request without answering until the client gives up', async () => {
    layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], error: 'timeout' });
    // requestTimeout alone only logs a warning in this SDK; it throws with throwOnRequestTimeout, as socketTimeout does.
    for (const handler of [{ requestTimeout: 300, throwOnRequestTimeout: true }, { socketTimeout: 300 }]) {
      const impatient = clientsOn(layer.endpoints, 1, handler).dynamodb;
      expect(await failureOf(markJob(impatient, 'd8', 'RUNNING'))).toMatchObject({ name: 'TimeoutError' });
      impatient.destroy();
    }
    expect(await statusOf('d8')).toBeUndefined();
  });

  it('lets a held request through when the window ends', async () => {
    layer.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], error: 'timeout', durationMs: 400 });
    const started = Date.now();
    await markJob(dynamodb, 'd9', 'RUNNING');
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(await statusOf('d9')).toBe('RUNNING');
  });

  it('adds latency and then answers normally', async () => {
    const id = layer.faults.add({ service: 'dynamodb', operations: ['GetItem'], latencyMs: 300 });
    const started = Date.now();
    await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'JOB#pass' } } }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(layer.faults.rule(id)).toMatchObject({ injected: 1, latencyMs: 300 });
    expect(layer.faults.rule(id)?.error).toBeUndefined();
  });
});

describe('SQS, SNS and S3 faults, as the real SDK clients see them', () => {
  it.each([
    ['throttle', 'RequestThrottled', 400],
    ['internal', 'InternalFailure', 500],
    ['unavailable', 'ServiceUnavailable', 503],
  ] as const)('SQS SendMessage %s: %s (JSON protocol, x-amzn-query-error)', async (error, name, status) => {
    layer.faults.add({ service: 'sqs', operations: ['SendMessage'], error });
    expect(await failureOf(sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' })))).toMatchObject({ name, status, code: name });
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  });

  it.each([
    ['throttle', 'ThrottledException', 429],
    ['internal', 'InternalErrorException', 500],
    ['unavailable', 'ServiceUnavailable', 503],
  ] as const)('SNS Publish %s: %s (query protocol XML)', async (error, name, status) => {
    layer.faults.add({ service: 'sns', operations: ['Publish'], error });
    expect(await failureOf(sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'x' })))).toMatchObject({ name, status });
  });

  it('SNS Publish fails only for the messages bodyIncludes names', async () => {
    layer.faults.add({ service: 'sns', operations: ['Publish'], bodyIncludes: ['job.failed'] });
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"type":"job.succeeded"}' }));
    expect(await failureOf(sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"type":"job.failed"}' })))).toMatchObject({ name: 'InternalErrorException' });
  });

  it.each([
    ['throttle', 'SlowDown', 503],
    ['internal', 'InternalError', 500],
    ['unavailable', 'ServiceUnavailable', 503],
  ] as const)('S3 PutObject %s: %s (REST XML)', async (error, name, status) => {
    layer.faults.add({ service: 's3', operations: ['PutObject'], error });
    expect(await failureOf(s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'jobs/x/result.json', Body: '{}' })))).toMatchObject({ name, status });
    await s3.send(new GetObjectCommand({ Bucket: 'results', Key: 'jobs/pass/result.bin' }));
  });

  it('counts the faults it injected per operation and kind', async () => {
    layer.faults.resetStats();
    layer.faults.add({ service: 's3', operations: ['PutObject'], error: 'throttle', count: 1 });
    layer.faults.add({ service: 'sns', operations: ['Publish'], error: 'internal', count: 1 });
    await failureOf(s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'a', Body: 'x' })));
    await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'a', Body: 'x' }));
    await failureOf(sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'x' })));
    const stats = layer.faults.stats();
    expect(stats.services.s3?.PutObject).toEqual({ requests: 2, faults: 1, delayed: 0, byKind: { throttle: 1 } });
    expect(stats.services.sns?.Publish).toEqual({ requests: 1, faults: 1, delayed: 0, byKind: { internal: 1 } });
    expect(stats.totals).toEqual({ requests: 3, faults: 2, delayed: 0 });
  });
});

describe('operation names', () => {
  const head = (method: string, url: string, headers: Record<string, string> = {}) => ({ method, url, headers: { host: '127.0.0.1:4566', ...headers } });
  it.each<[AwsService, ReturnType<typeof head>, string, string | undefined]>([
    ['dynamodb', head('POST', '/', { 'x-amz-target': 'DynamoDB_20120810.UpdateItem' }), 'UpdateItem', undefined],
    ['sqs', head('POST', '/', { 'x-amz-target': 'AmazonSQS.SendMessage' }), 'SendMessage', undefined],
    ['sqs', head('POST', '/'), 'ReceiveMessage', 'Action=ReceiveMessage&QueueUrl=x'],
    ['sns', head('POST', '/'), 'Publish', 'Action=Publish&TopicArn=arn'],
    ['s3', head('PUT', '/results/jobs/1/result.json'), 'PutObject', undefined],
    ['s3', head('PUT', '/results/copy', { 'x-amz-copy-source': '/results/a' }), 'CopyObject', undefined],
    ['s3', head('GET', '/results/jobs/1/result.json?x-id=GetObject'), 'GetObject', undefined],
    ['s3', head('HEAD', '/results/jobs/1/result.json'), 'HeadObject', undefined],
    ['s3', head('DELETE', '/results/jobs/1/result.json'), 'DeleteObject', undefined],
    ['s3', head('GET', '/results?list-type=2&prefix=jobs'), 'ListObjectsV2', undefined],
    ['s3', head('PUT', '/results'), 'CreateBucket', undefined],
    ['s3', head('POST', '/results?delete'), 'DeleteObjects', undefined],
    ['s3', head('POST', '/results/big?uploads'), 'CreateMultipartUpload', undefined],
    ['s3', head('GET', '/jobs/1/result.json', { host: 'results.localhost:4566' }), 'GetObject', undefined],
  ])('%s %j is %s', (service, h, expected, body) => {
    expect(operationOf(service, h, body === undefined ? undefined : Buffer.from(body))).toBe(expected);
  });
});

describe('the admin API', () => {
  it('adds a rule, lists it with its counters, and removes it', async () => {
    const added = await admin('POST', '/_faults/rules', { service: 'dynamodb', operations: ['UpdateItem'], bodyIncludes: ['"SUCCEEDED"'], error: 'throttle', durationMs: 60_000 });
    expect(added.status).toBe(201);
    const id = String(added.json.id);
    expect(added.headers.get('location')).toBe(`/_faults/rules/${id}`);
    expect(added.json.rule).toMatchObject({ id, service: 'dynamodb', rate: 1, error: 'throttle', injected: 0, state: 'active', to: expect.any(Number) });

    expect(await failureOf(markJob(dynamodb, 'a1', 'SUCCEEDED'))).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    const listed = await admin('GET', '/_faults');
    expect(listed.json.rules).toEqual([expect.objectContaining({ id, matched: 1, injected: 1 })]);
    expect((listed.json.stats as { services: { dynamodb: { UpdateItem: { faults: number } } } }).services.dynamodb.UpdateItem.faults).toBeGreaterThanOrEqual(1);
    expect((await admin('GET', '/_faults/stats')).json.totals).toMatchObject({ faults: expect.any(Number), requests: expect.any(Number) });

    expect(await admin('DELETE', `/_faults/rules/${id}`)).toMatchObject({ status: 200, json: { removed: id } });
    expect((await admin('GET', `/_faults/rules/${id}`)).status).toBe(404);
    await markJob(dynamodb, 'a1', 'SUCCEEDED');
  });

  it('clears every rule at once, and resets the counters', async () => {
    await admin('POST', '/_faults/rules', { service: 'sns' });
    await admin('POST', '/_faults/rules', { service: 'sqs', id: 'sqs-down' });
    expect(await admin('DELETE', '/_faults')).toMatchObject({ status: 200, json: { cleared: 2 } });
    expect((await admin('GET', '/_faults/rules')).json.rules).toEqual([]);
    expect((await admin('DELETE', '/_faults/stats')).status).toBe(200);
    expect((await admin('GET', '/_faults/stats')).json.totals).toEqual({ requests: 0, faults: 0, delayed: 0 });
  });

  it('refuses an invalid rule naming the field, a duplicate id, and an unknown endpoint', async () => {
    const invalid = await admin('POST', '/_faults/rules', { service: 'lambda', rate: 2 });
    expect(invalid.status).toBe(400);
    expect((invalid.json.details as Array<{ path: string }>).map((d) => d.path).sort()).toEqual(['rate', 'service']);
    expect((await admin('POST', '/_faults/rules', { service: 'sqs', errors: 'throttle' })).status).toBe(400);
    expect((await admin('POST', '/_faults/rules', { service: 'sqs', to: 1, durationMs: 5 })).status).toBe(400);
    await admin('POST', '/_faults/rules', { service: 'sqs', id: 'dup', from: Date.now() + 60_000 });
    expect((await admin('POST', '/_faults/rules', { service: 'sqs', id: 'dup' })).status).toBe(409);
    expect((await admin('GET', '/_faults/nope')).status).toBe(404);
    const wrongMethod = await admin('PUT', '/_faults/rules');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
  });

  it('logs what each rule does when it is added', async () => {
    await admin('POST', '/_faults/rules', { service: 'dynamodb', id: 'logged', operations: ['UpdateItem'], bodyIncludes: ['"SUCCEEDED"'], rate: 0.5, error: 'throttle' });
    expect(layerLog).toContain('aws faults: rule logged added: dynamodb UpdateItem, body ~ "\\"SUCCEEDED\\"", throttle, rate 0.5');
  });
});
