import { PublishCommand } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime';

/** Notes every invocation in OBS_FILE; a record's body says what to do: fail-*, slow-*, hang, throw, anything else succeeds. */
const HANDLER = `
const fs = require('node:fs');
const { randomUUID } = require('node:crypto');
const containerId = randomUUID();
const note = (entry) => fs.appendFileSync(process.env.OBS_FILE, JSON.stringify({ ...entry, marker: process.env.MARKER, containerId, t: Date.now() }) + '\\n');
exports.handler = async (event, context) => {
  if (event.httpMethod) {
    // fauxqs names queues on sqs.<region>.localhost: a function must reach that host (an SDK client with useQueueUrlAsEndpoint does).
    const port = new URL(process.env.AWS_ENDPOINT_URL_SQS).port;
    const queueHostStatus = await new Promise((resolve) => require('node:http').get(\`http://sqs.\${process.env.AWS_REGION}.localhost:\${port}/health\`, (res) => { res.resume(); resolve(res.statusCode); }).on('error', (e) => resolve(e.code)));
    return { statusCode: 200, headers: { 'x-marker': process.env.MARKER }, body: JSON.stringify({ resource: event.resource, path: event.path,
      pathParameters: event.pathParameters, query: event.multiValueQueryStringParameters, stage: event.requestContext.stage,
      apiKeyId: event.requestContext.identity.apiKeyId, body: event.body, queueHostStatus }) };
  }
  const bodies = event.Records.map((r) => r.body);
  note({ type: 'start', bodies, receiveCounts: event.Records.map((r) => r.attributes.ApproximateReceiveCount), requestId: context.awsRequestId,
    functionName: context.functionName, arn: context.invokedFunctionArn, memory: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis(),
    queueUrl: process.env.QUEUE_URL, dlqArn: process.env.DLQ_ARN, eventSourceArn: event.Records[0].eventSourceARN });
  for (const body of bodies) {
    if (body === 'hang') await new Promise((resolve) => setTimeout(resolve, 60000));
    if (body === 'throw') throw new Error('boom');
    if (body.startsWith('slow')) await new Promise((resolve) => setTimeout(resolve, 700));
  }
  note({ type: 'end', bodies });
  return { batchItemFailures: event.Records.filter((r) => r.body.startsWith('fail')).map((r) => ({ itemIdentifier: r.messageId })) };
};
`;

const API_KEY = 'local-test-key-0123456789';

interface Observation {
  type: 'start' | 'end';
  bodies: string[];
  receiveCounts: string[];
  marker: string;
  containerId: string;
  t: number;
  requestId: string;
  functionName: string;
  arn: string;
  memory: string;
  remaining: number;
  queueUrl?: string;
  dlqArn?: string;
  eventSourceArn: string;
}

let workdir: string;
let obsFile: string;
let runtime: LocalRuntime;
const runtimeLog: string[] = [];

function buildTestStack(outdir: string, codeDir: string): void {
  const app = new App({ outdir });
  const stack = new Stack(app, 'PollerTest');
  const code = lambda.Code.fromAsset(codeDir);
  const fn = (id: string, marker: string, timeout: number, extraEnv: Record<string, string> = {}) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code,
      memorySize: 256,
      timeout: Duration.seconds(timeout),
      environment: { OBS_FILE: obsFile, MARKER: marker, ...extraEnv },
    });

  const workDlq = new sqs.Queue(stack, 'WorkDlq');
  const work = new sqs.Queue(stack, 'Work', { visibilityTimeout: Duration.seconds(2), deadLetterQueue: { queue: workDlq, maxReceiveCount: 2 } });
  fn('Worker', 'worker', 2, { QUEUE_URL: work.queueUrl, DLQ_ARN: workDlq.queueArn }).addEventSource(
    new SqsEventSource(work, { batchSize: 10, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: true, maxConcurrency: 2 }),
  );

  const slow = new sqs.Queue(stack, 'Slow', { visibilityTimeout: Duration.seconds(30) });
  fn('SlowWorker', 'slow', 5).addEventSource(new SqsEventSource(slow, { batchSize: 1, maxConcurrency: 2 }));

  const hangDlq = new sqs.Queue(stack, 'HangDlq');
  const hang = new sqs.Queue(stack, 'Hang', { visibilityTimeout: Duration.seconds(2), deadLetterQueue: { queue: hangDlq, maxReceiveCount: 2 } });
  const strictDlq = new sqs.Queue(stack, 'StrictDlq');
  const strict = new sqs.Queue(stack, 'Strict', { visibilityTimeout: Duration.seconds(2), deadLetterQueue: { queue: strictDlq, maxReceiveCount: 2 } });
  const hanger = fn('Hanger', 'hanger', 1);
  hanger.addEventSource(new SqsEventSource(hang, { batchSize: 1, maxConcurrency: 2 }));
  hanger.addEventSource(new SqsEventSource(strict, { batchSize: 10, maxBatchingWindow: Duration.seconds(1), maxConcurrency: 2 }));

  const topic = new sns.Topic(stack, 'Events');
  const failures = new sqs.Queue(stack, 'Failures');
  topic.addSubscription(
    new subscriptions.SqsSubscription(failures, { rawMessageDelivery: true, filterPolicy: { status: sns.SubscriptionFilter.stringFilter({ allowlist: ['FAILED'] }) } }),
  );
  topic.addSubscription(new subscriptions.EmailSubscription('ops@example.com'));

  const api = new apigateway.RestApi(stack, 'Api', { deployOptions: { stageName: 'test' } });
  const echo = new apigateway.LambdaIntegration(fn('Echo', 'echo', 3));
  api.root.addResource('echo').addResource('{proxy+}').addMethod('GET', echo);
  api.root.addResource('secure').addMethod('POST', echo, { apiKeyRequired: true });
  const plan = api.addUsagePlan('Plan', { apiStages: [{ api, stage: api.deploymentStage }] });
  plan.addApiKey(api.addApiKey('TenantKey', { value: API_KEY }));
  app.synth();
}

const observations = (): Observation[] =>
  existsSync(obsFile)
    ? readFileSync(obsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Observation)
    : [];

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nruntime log:\n${runtimeLog.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const queueUrl = (logicalIdPrefix: string) => {
  const found = [...runtime.topology.resources].find(([id, r]) => r.type === 'AWS::SQS::Queue' && id.startsWith(logicalIdPrefix) && !id.startsWith(`${logicalIdPrefix}Dlq`));
  if (!found) throw new Error(`no queue ${logicalIdPrefix}`);
  return found[1].ref;
};

async function send(queue: string, bodies: string[]): Promise<void> {
  await runtime.clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl(queue), Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })) }));
}

async function drain(queue: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const r = await runtime.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return bodies.sort();
    bodies.push(...r.Messages.map((m) => m.Body ?? ''));
  }
}

async function messagesOn(queue: string): Promise<number> {
  const r = await runtime.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl(queue), AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
  );
  const a = r.Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
}

beforeAll(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'quarry-poller-test-'));
  obsFile = join(workdir, 'observations.jsonl');
  const codeDir = join(workdir, 'code');
  mkdirSync(codeDir);
  writeFileSync(join(codeDir, 'index.js'), HANDLER);
  const outdir = join(workdir, 'cdk.out');
  buildTestStack(outdir, codeDir);
  runtime = await startLocalRuntime({ assembly: outdir, port: 0, quiet: true, log: (line) => runtimeLog.push(line) });
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(workdir, { recursive: true, force: true });
});

describe('the SQS event source poller', () => {
  it('deletes the records that succeeded and leaves only the failed one, which the redrive policy then moves to the DLQ', async () => {
    await send('Work', ['ok-1', 'fail-1', 'ok-2']);

    expect(await waitFor('the failed record in the DLQ', async () => ((await messagesOn('WorkDlq')) > 0 ? true : undefined))).toBe(true);
    expect(await drain('WorkDlq')).toEqual(['fail-1']);
    expect(await messagesOn('Work')).toBe(0);

    const starts = observations().filter((o) => o.type === 'start' && o.marker === 'worker');
    // The batching window gathered all three records into the first invocation.
    expect(starts[0].bodies.sort()).toEqual(['fail-1', 'ok-1', 'ok-2']);
    const deliveries = (body: string) => starts.flatMap((o) => o.bodies).filter((b) => b === body).length;
    expect([deliveries('ok-1'), deliveries('ok-2'), deliveries('fail-1')]).toEqual([1, 1, 2]);
    expect(starts[1].receiveCounts).toEqual(['2']);
  });

  it('never runs more invocations at once than the mapping’s MaximumConcurrency', async () => {
    await send('Slow', ['slow-1', 'slow-2', 'slow-3', 'slow-4', 'slow-5', 'slow-6']);
    const ends = await waitFor('six slow invocations', () => {
      const done = observations().filter((o) => o.type === 'end' && o.marker === 'slow');
      return done.length === 6 ? done : undefined;
    });
    const starts = observations().filter((o) => o.type === 'start' && o.marker === 'slow');
    const intervals = starts.map((s) => [s.t, ends.find((e) => e.bodies[0] === s.bodies[0])!.t]);
    const overlapAt = (t: number) => intervals.filter(([from, to]) => from <= t && t < to).length;
    const mostAtOnce = Math.max(...intervals.map(([from]) => overlapAt(from)));
    expect(mostAtOnce).toBe(2);
    expect(new Set(starts.map((s) => s.containerId)).size).toBe(2);
  });

  it('ends an invocation at the function timeout as Lambda does, leaves its record, and runs the retry in a fresh container', async () => {
    await send('Hang', ['hang']);
    await waitFor('the timeout report', () => runtimeLog.find((line) => /Task timed out after 1\.00 seconds/.test(line)));
    const [first, second] = await waitFor('the redelivery', () => {
      const starts = observations().filter((o) => o.type === 'start' && o.bodies[0] === 'hang');
      return starts.length >= 2 ? starts : undefined;
    });
    expect(second.receiveCounts).toEqual(['2']);
    expect(second.containerId).not.toBe(first.containerId);
    expect(first.remaining).toBeGreaterThan(0);
    expect(first.remaining).toBeLessThanOrEqual(1000);
    await waitFor('the timed-out record in the DLQ', async () => ((await messagesOn('HangDlq')) > 0 ? true : undefined));
    expect(await drain('HangDlq')).toEqual(['hang']);
  });

  it('without ReportBatchItemFailures, a thrown error leaves the whole batch on the queue', async () => {
    await send('Strict', ['throw', 'innocent']);
    await waitFor('both records in the DLQ', async () => ((await messagesOn('StrictDlq')) >= 2 ? true : undefined));
    expect(await drain('StrictDlq')).toEqual(['innocent', 'throw']);
    const innocentDeliveries = observations().filter((o) => o.type === 'start' && o.bodies.includes('innocent'));
    expect(innocentDeliveries.map((o) => o.receiveCounts[o.bodies.indexOf('innocent')])).toEqual(['1', '2']);
  });
});

describe('functions run from the cloud assembly', () => {
  it('gives each function its own environment, resolved from the template to local URLs and ARNs', () => {
    const all = observations().filter((o) => o.type === 'start');
    const worker = all.find((o) => o.marker === 'worker')!;
    const slow = all.find((o) => o.marker === 'slow')!;
    expect(worker.queueUrl).toBe(queueUrl('Work'));
    expect(worker.dlqArn).toMatch(/^arn:aws:sqs:us-east-1:000000000000:WorkDlq/);
    expect(slow.queueUrl).toBeUndefined();
    expect(worker.eventSourceArn).toMatch(/^arn:aws:sqs:us-east-1:000000000000:Work[A-F0-9]+$/);
  });

  it('hands the handler a Lambda-like context', () => {
    const worker = observations().find((o) => o.type === 'start' && o.marker === 'worker')!;
    expect(worker.functionName).toMatch(/^Worker/);
    expect(worker.arn).toBe(`arn:aws:lambda:us-east-1:000000000000:function:${worker.functionName}`);
    expect(worker.memory).toBe('256');
    expect(worker.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('a REST API of another stack', () => {
  const call = (method: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${runtime.apiUrl}${path}`, { method, headers }).then(async (r) => ({ status: r.status, headers: r.headers, json: (await r.json()) as Record<string, unknown> }));

  it('mounts its resource tree and methods, at the root and under its stage name', async () => {
    const r = await call('GET', '/echo/a/b?x=1&x=2');
    expect(r.status).toBe(200);
    expect(r.headers.get('x-marker')).toBe('echo');
    expect(r.json).toMatchObject({ resource: '/echo/{proxy+}', path: '/echo/a/b', pathParameters: { proxy: 'a/b' }, query: { x: ['1', '2'] }, stage: 'test' });
    expect((await call('GET', '/test/echo/a')).status).toBe(200);
  });

  it("lets functions reach fauxqs's sqs.<region>.localhost queue host", async () => {
    // Any HTTP status proves the name resolved and fauxqs answered; without the runtime's resolution it is ENOTFOUND.
    expect(typeof (await call('GET', '/echo/x')).json.queueHostStatus).toBe('number');
  });

  it('answers 404 for an unknown path and 405 for a wrong method when the stack defines no gateway responses', async () => {
    expect(await call('GET', '/nope')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    expect(await call('DELETE', '/echo/a')).toMatchObject({ status: 405, json: { error: { code: 'METHOD_NOT_ALLOWED' } } });
  });

  it('requires the API key on a method that asks for one and names the key in the request context', async () => {
    expect((await call('POST', '/secure')).status).toBe(403);
    expect((await call('POST', '/secure', { 'x-api-key': 'wrong' })).status).toBe(403);
    const r = await call('POST', '/secure', { 'x-api-key': API_KEY });
    expect(r.status).toBe(200);
    expect(String(r.json.apiKeyId)).toMatch(/^ApiTenantKey/);
    expect(runtime.apiKey).toBe(API_KEY);
  });
});

describe('SNS subscriptions of the template', () => {
  it('delivers to a subscribed queue with its filter policy and raw message delivery, and says which it cannot deliver', async () => {
    const topicArn = [...runtime.topology.resources.values()].find((r) => r.type === 'AWS::SNS::Topic')!.ref;
    for (const status of ['SUCCEEDED', 'FAILED']) {
      await runtime.clients.sns.send(new PublishCommand({ TopicArn: topicArn, Message: `{"status":"${status}"}`, MessageAttributes: { status: { DataType: 'String', StringValue: status } } }));
    }
    const delivered = await waitFor('the filtered delivery', async () => {
      const bodies = await drain('Failures');
      return bodies.length ? bodies : undefined;
    });
    expect(delivered).toEqual(['{"status":"FAILED"}']);
    expect(await drain('Failures')).toEqual([]);
    expect(runtimeLog.some((line) => /email ops@example\.com is not delivered locally/.test(line))).toBe(true);
  });
});

describe('external endpoints', () => {
  it('uses the endpoints named by AWS_ENDPOINT_URL_* instead of starting emulators, and reuses the resources it finds there', async () => {
    const { dynamodb, sqs: sqsEndpoint, sns, s3 } = runtime.endpoints;
    const second = await startLocalRuntime({
      assembly: join(workdir, 'cdk.out'),
      port: 0,
      quiet: true,
      env: { AWS_ENDPOINT_URL_DYNAMODB: dynamodb, AWS_ENDPOINT_URL_SQS: sqsEndpoint, AWS_ENDPOINT_URL_SNS: sns, AWS_ENDPOINT_URL_S3: s3, AWS_ENDPOINT_URL_BEDROCK_RUNTIME: runtime.bedrockUrl },
    });
    try {
      expect(second.endpoints).toEqual(runtime.endpoints);
      expect(second.bedrockUrl).toBe(runtime.bedrockUrl);
      const secondQueues = [...second.topology.resources.values()].filter((r) => r.type === 'AWS::SQS::Queue').map((r) => r.ref);
      expect(secondQueues).toContain(queueUrl('Work'));
      const echo = [...second.functions.values()].find((f) => f.definition.env.MARKER === 'echo')!;
      // The functions reach the named endpoint through the second runtime's fault layer.
      expect(echo.definition.env.AWS_ENDPOINT_URL_SQS).toBe(second.faultEndpoints.sqs);
      second.faults.add({ service: 'sqs', operations: ['GetQueueUrl'], error: 'unavailable' });
      const viaLayer = await fetch(second.faultEndpoints.sqs, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=GetQueueUrl&QueueName=Work' });
      expect(viaLayer.status).toBe(503);
      expect(second.faults.stats().services.sqs?.GetQueueUrl).toMatchObject({ requests: 1, faults: 1 });
    } finally {
      await second.stop();
    }
  });
});
