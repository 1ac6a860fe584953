import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { inputKey, jobKey } from '../../lambda/core/item-keys';
import type { LocalRuntime } from '../../local/runtime';
import { MODELS, finished, http, modelRequests, queueDrained, startPipeline, subscribeQueue, until } from './harness';

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;

let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;

beforeAll(async () => {
  runtime = await startPipeline({
    worker: { timeoutSeconds: 10, maxReceiveCount: 2, batchSize: 5, maxConcurrency: 4 },
    results: { inlineMaxBytes: 2048 },
    resilience: { requeue: { baseDelaySeconds: 1, maxDelaySeconds: 2 }, redelivery: { baseDelaySeconds: 1, maxDelaySeconds: 2 }, deadLetterRequeues: 0 },
    // A limit above the simulator's (4096 for Claude 3 Haiku), so the model itself refuses a request the API let through.
    models: {
      'claude-haiku': { modelId: HAIKU, maxOutputTokens: 8192 },
      'claude-sonnet': { modelId: SONNET },
      'claude-opus': { modelId: MODELS.opus },
      'nova-micro': { modelId: MODELS.novaMicro, contextWindow: 128_000 },
    },
  });
  events = await subscribeQueue(runtime, 'integration-events');
}, 120_000);
afterAll(() => runtime?.stop());

describe('a job submitted over HTTP', () => {
  it('goes QUEUED -> SUCCEEDED, and its one SNS event reaches a subscribed queue', async () => {
    const submitted = await http(runtime, 'POST', '/jobs', { prompt: 'Explain retrieval-augmented generation.', metadata: { ticket: 'T-1' } });
    expect(submitted.status).toBe(202);
    expect(submitted.json).toEqual({ jobId: expect.any(String), status: 'QUEUED', createdAt: expect.any(String) });
    expect(submitted.headers.get('location')).toBe(`/v1/jobs/${submitted.json.jobId}`);

    const done = await finished(runtime, submitted.json.jobId);
    expect(done.status).toBe(200);
    expect(done.headers.get('retry-after')).toBeNull();
    expect(done.json).toMatchObject({
      jobId: submitted.json.jobId,
      status: 'SUCCEEDED',
      route: 'generate',
      modelId: SONNET,
      metadata: { ticket: 'T-1' },
      result: { text: expect.stringMatching(/\w+/), stopReason: 'end_turn', usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) }, modelId: SONNET },
      attempts: [expect.objectContaining({ modelId: SONNET, outcome: 'succeeded' })],
    });

    const announced = await until('the job event', async () => {
      const found = await events.eventsFor(submitted.json.jobId);
      return found.length ? found : undefined;
    });
    expect(announced).toHaveLength(1);
    expect(announced[0].body).toMatchObject({ type: 'job.succeeded', jobId: submitted.json.jobId, status: 'SUCCEEDED', route: 'generate', modelId: SONNET, usage: done.json.result.usage });
    expect(announced[0].attributes).toMatchObject({ status: { StringValue: 'SUCCEEDED' }, route: { StringValue: 'generate' }, tenant: { StringValue: 'default' } });
  });

  it('is served by the model of a static route', async () => {
    const submitted = await http(runtime, 'POST', '/api/classify', { prompt: 'Is this spam?' });
    expect(submitted.status).toBe(202);
    const done = await finished(runtime, submitted.json.jobId);
    expect(done.json).toMatchObject({ status: 'SUCCEEDED', route: 'classify', modelId: HAIKU });
  });

  it('comes back through S3 when its result is larger than the inline limit', async () => {
    const submitted = await http(runtime, 'POST', '/jobs', { prompt: 'Write a long report. [[sim:tokens=1500]]', inferenceConfig: { maxTokens: 2000 } });
    const done = await finished(runtime, submitted.json.jobId);
    expect(done.json.status).toBe('SUCCEEDED');
    expect(done.json.result).not.toHaveProperty('text');
    expect(done.json.result.usage.outputTokens).toBe(1500);
    expect(done.json.resultUrl).toEqual(expect.stringContaining('X-Amz-Signature='));
    const object = await fetch(done.json.resultUrl);
    expect(object.status).toBe(200);
    const stored = (await object.json()) as { jobId: string; text: string };
    expect(stored.jobId).toBe(submitted.json.jobId);
    expect(Buffer.byteLength(stored.text)).toBeGreaterThan(2048);
  });

  it('is not run again when its message is delivered a second time', async () => {
    const submitted = await http(runtime, 'POST', '/jobs', { prompt: 'Only once, please.' });
    await finished(runtime, submitted.json.jobId);
    await until('its event', async () => ((await events.eventsFor(submitted.json.jobId)).length ? true : undefined));
    const calls = await modelRequests(runtime, SONNET);

    await runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: runtime.resources.jobsQueueUrl, MessageBody: JSON.stringify({ jobId: submitted.json.jobId }) }));
    await queueDrained(runtime, runtime.resources.jobsQueueUrl!);

    expect(await modelRequests(runtime, SONNET)).toBe(calls);
    expect(await events.eventsFor(submitted.json.jobId)).toHaveLength(1);
    expect((await http(runtime, 'GET', `/jobs/${submitted.json.jobId}`)).json.attempts).toHaveLength(1);
  });

  it('ends FAILED via the dead-letter queue when its message is poison, announced once', async () => {
    // A job the worker cannot process (its stored request was corrupted): every delivery crashes.
    const jobId = `poison-${Date.now()}`;
    const now = new Date();
    const documents = DynamoDBDocumentClient.from(runtime.clients.dynamodb);
    await documents.send(
      new PutCommand({
        TableName: runtime.resources.jobsTable,
        Item: { ...jobKey(jobId), jobId, status: 'QUEUED', tenant: 'default', route: 'generate', modelId: SONNET, createdAt: now.toISOString(), updatedAt: now.toISOString(), requestHash: 'x', attempts: [], expiresAt: Math.floor(now.getTime() / 1000) + 3600 },
      }),
    );
    await documents.send(new PutCommand({ TableName: runtime.resources.jobsTable, Item: { ...inputKey(jobId), request: { messages: null }, expiresAt: Math.floor(now.getTime() / 1000) + 3600 } }));
    await runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: runtime.resources.jobsQueueUrl, MessageBody: JSON.stringify({ jobId }) }));

    const done = await finished(runtime, jobId, 60_000);
    expect(done.json).toMatchObject({ status: 'FAILED', error: { code: 'DEAD_LETTERED', message: expect.stringContaining('dead-lettered') } });
    const announced = await until('the failure event', async () => {
      const found = await events.eventsFor(jobId);
      return found.length ? found : undefined;
    });
    expect(announced.map((e) => e.body)).toEqual([expect.objectContaining({ type: 'job.failed', status: 'FAILED', error: expect.objectContaining({ code: 'DEAD_LETTERED' }) })]);
    await queueDrained(runtime, runtime.resources.deadLetterQueueUrl!);
  });

  it('fails at once, without retries, when the model rejects the request', async () => {
    // Claude 3 Haiku accepts at most 4096 output tokens; Bedrock refuses more with a ValidationException (the
    // config above claims 8192, so the API lets the request through).
    const submitted = await http(runtime, 'POST', '/jobs', { prompt: 'x', route: 'classify', inferenceConfig: { maxTokens: 8000 } });
    const done = await finished(runtime, submitted.json.jobId);
    expect(done.json).toMatchObject({ status: 'FAILED', error: { code: 'MODEL_VALIDATION_ERROR', message: expect.stringContaining('model limit of 4096') } });
    expect(done.json.attempts).toHaveLength(1);
  });
});

describe('the HTTP contract', () => {
  it('replays an Idempotency-Key with the same body and refuses it with another', async () => {
    const headers = { 'Idempotency-Key': `order-${Date.now()}` };
    const first = await http(runtime, 'POST', '/jobs', { prompt: 'same' }, headers);
    const again = await http(runtime, 'POST', '/jobs', { prompt: 'same' }, headers);
    const other = await http(runtime, 'POST', '/jobs', { prompt: 'different' }, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.json.jobId).toBe(first.json.jobId);
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it.each([
    ['malformed JSON', '{"prompt":', { 'Content-Type': 'application/json' }, 400],
    ['a non-JSON media type', 'prompt=x', { 'Content-Type': 'application/x-www-form-urlencoded' }, 415],
    ['both prompt and messages', JSON.stringify({ prompt: 'a', messages: [{ role: 'user', content: 'b' }] }), { 'Content-Type': 'application/json' }, 400],
    ['an unknown route', JSON.stringify({ prompt: 'a', route: 'nope' }), { 'Content-Type': 'application/json' }, 422],
  ])('answers %s with a JSON error and status %s', async (_label, body, headers, status) => {
    const res = await http(runtime, 'POST', '/jobs', body, headers);
    expect(res.status).toBe(status);
    expect(res.json.error).toEqual(expect.objectContaining({ code: expect.any(String), message: expect.any(String) }));
  });

  it('answers 404 JSON for an unknown job', async () => {
    const res = await http(runtime, 'GET', '/jobs/00000000-0000-4000-8000-000000000000');
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('JOB_NOT_FOUND');
  });
});
