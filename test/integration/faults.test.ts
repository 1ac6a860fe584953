import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { jobKey } from '../../lambda/core/item-keys';
import { derivedUuid } from '../../lambda/core/idempotency';
import type { LocalRuntime } from '../../local/runtime';
import { MODELS, dlqDepth, finished, http, modelRequests, simulator, startPipeline, subscribeQueue } from './harness';

/*
 * The job lifecycle invariants (ARCHITECTURE.md) under AWS-side faults, injected by the local runtime's fault layer
 * in front of the real emulators, with the real SDK clients: every accepted job ends terminal and announced, once.
 */

const SONNET = MODELS.sonnet;
const HAIKU = MODELS.haiku;

let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;

beforeAll(async () => {
  runtime = await startPipeline(
    {
      worker: { timeoutSeconds: 10, maxReceiveCount: 3, batchSize: 5, maxConcurrency: 4 },
      resilience: {
        retry: { attemptsPerModel: 1, baseDelayMs: 10, maxDelayMs: 50 },
        requeue: { baseDelaySeconds: 1, maxDelaySeconds: 2 },
        redelivery: { baseDelaySeconds: 2, maxDelaySeconds: 8 },
        sweepGraceSeconds: 2,
        deadLetterRequeues: 1,
        jobDeadlineSeconds: 300,
      },
    },
    { scheduleIntervalMs: 1_000 },
  );
  events = await subscribeQueue(runtime, 'fault-events');
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(async () => {
  runtime.faults.clear();
  await simulator(runtime, 'POST', '/_sim/reset');
});

const TERMINAL_WRITES = { service: 'dynamodb' as const, operations: ['UpdateItem'], bodyIncludes: ['":succeeded"', '":failed"'] };

async function submit(body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const res = await http(runtime, 'POST', '/jobs', body, headers);
  expect(res.status).toBe(202);
  return res.json.jobId as string;
}

/** Every event received so far for `jobId`, once it has at least one. */


it('keeps every answer when DynamoDB rejects the terminal writes for a few seconds: SUCCEEDED, one event each, one model call each', async () => {
  runtime.faults.add({ ...TERMINAL_WRITES, durationMs: 4_000, error: 'internal' });
  const before = await modelRequests(runtime, SONNET);
  const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => submit({ prompt: `blackout job ${i}` })));
  const done = await Promise.all(ids.map((id) => finished(runtime, id, 60_000)));
  expect(done.map((d) => d.json.status)).toEqual(ids.map(() => 'SUCCEEDED'));
  expect(await modelRequests(runtime, SONNET)).toBe(before + ids.length);
  for (const id of ids) expect(new Set((await events.arrivedFor(id, 60_000)).map((e) => e.body.eventId)).size).toBe(1);
}, 90_000);

it('finishes and announces every job when the terminal writes fail for longer than the worker can wait', async () => {
  runtime.faults.add({ ...TERMINAL_WRITES, durationMs: 14_000, error: 'unavailable' });
  const ids = await Promise.all(Array.from({ length: 4 }, (_, i) => submit({ prompt: `long blackout job ${i}` })));
  const done = await Promise.all(ids.map((id) => finished(runtime, id, 90_000, 250)));
  expect(done.map((d) => d.json.status)).toEqual(ids.map(() => 'SUCCEEDED'));
  for (const id of ids) {
    const received = await events.arrivedFor(id, 60_000);
    expect(new Set(received.map((e) => e.body.eventId)).size).toBe(1);
    expect(received[0].body).toMatchObject({ type: 'job.succeeded', jobId: id, tenant: 'default' });
  }
  expect(await dlqDepth(runtime)).toBe(0);
}, 120_000);

it('records nothing when the enqueue fails (503), and runs the job once when the client retries with its Idempotency-Key', async () => {
  runtime.faults.add({ service: 'sqs', operations: ['SendMessage'], count: 3, error: 'internal' });
  const key = `enqueue-${Date.now()}`;
  const first = await http(runtime, 'POST', '/jobs', { prompt: 'enqueue fails' }, { 'Idempotency-Key': key });
  expect(first.status).toBe(503);
  expect(first.json.error.code).toBe('ENQUEUE_FAILED');
  expect((await http(runtime, 'GET', `/jobs/${derivedUuid('default', key)}`)).status).toBe(404);
  const retry = await http(runtime, 'POST', '/jobs', { prompt: 'enqueue fails' }, { 'Idempotency-Key': key });
  expect(retry.status).toBe(202);
  expect((await finished(runtime, retry.json.jobId, 30_000)).json.status).toBe('SUCCEEDED');
  expect(await events.arrivedFor(retry.json.jobId, 30_000)).toHaveLength(1);
}, 60_000);

it('answers 503 when the job record cannot be written after its message went out; the retry runs the job once', async () => {
  runtime.faults.add({ service: 'dynamodb', operations: ['PutItem'], count: 3, error: 'internal' });
  const key = `record-${Date.now()}`;
  const prompt = 'the record write fails';
  const before = await modelRequests(runtime, SONNET);
  const first = await http(runtime, 'POST', '/jobs', { prompt }, { 'Idempotency-Key': key });
  expect(first.status).toBe(503);
  // Its message finds no job yet: the worker waits for the record (a submit may still be writing it), it does not run.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect((await http(runtime, 'GET', `/jobs/${derivedUuid('default', key)}`)).status).toBe(404);
  expect((await modelRequests(runtime, SONNET)) - before).toBe(0);
  const retry = await http(runtime, 'POST', '/jobs', { prompt }, { 'Idempotency-Key': key });
  expect(retry.status).toBe(202);
  expect((await finished(runtime, retry.json.jobId, 30_000)).json.status).toBe('SUCCEEDED');
  expect(await events.arrivedFor(retry.json.jobId, 30_000)).toHaveLength(1);
  // Two messages carried the job (the failed submit's and the retry's): it ran once.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  expect((await modelRequests(runtime, SONNET)) - before).toBe(1);
  expect(await events.arrivedFor(retry.json.jobId, 1_000)).toHaveLength(1);
}, 90_000);

it('fails, through the sweep, jobs that outlived their deadline with no message left to move them, and announces them', async () => {
  const documents = DynamoDBDocumentClient.from(runtime.clients.dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  const now = Date.now();
  const createdAt = new Date(now - 310_000).toISOString();
  const record = (jobId: string, extra: Record<string, unknown>) => ({
    ...jobKey(jobId),
    jobId,
    status: 'QUEUED',
    tenant: 'default',
    route: 'generate',
    modelId: SONNET,
    createdAt,
    updatedAt: createdAt,
    requestHash: 'h',
    attempts: [],
    expiresAt: Math.floor(now / 1000) + 3600,
    sweepShard: 'S0',
    sweepAt: now - 1_000,
    ...extra,
  });
  const queued = `orphan-queued-${now}`;
  const running = `orphan-running-${now}`;
  await documents.send(new PutCommand({ TableName: runtime.resources.jobsTable, Item: record(queued, {}) }));
  await documents.send(new PutCommand({ TableName: runtime.resources.jobsTable, Item: record(running, { status: 'RUNNING', leaseOwner: 'dead', leaseExpiresAt: now - 5_000, lastMessageId: 'gone', leaseReceiveCount: 1 }) }));
  for (const jobId of [queued, running]) {
    expect((await finished(runtime, jobId, 30_000)).json).toMatchObject({ status: 'FAILED', error: { code: 'JOB_DEADLINE_EXCEEDED' } });
    expect(await events.arrivedFor(jobId, 60_000)).toHaveLength(1);
  }
}, 60_000);

it('moves down the chain when the primary answers slower than the worker can wait, without counting it against the model', async () => {
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(SONNET)}`, { latencyMs: { firstToken: 15_000, perToken: 0 } });
  const jobId = await submit({ prompt: 'the primary is too slow for this worker' });
  const done = await finished(runtime, jobId, 60_000, 250);
  expect(done.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: HAIKU } });
  expect(done.json.attempts.map((a: { modelId: string; errorCode?: string }) => [a.modelId, a.errorCode])).toEqual([
    [SONNET, 'CALL_ABANDONED'],
    [HAIKU, undefined],
  ]);
  const models = await http(runtime, 'GET', '/models');
  const sonnet = models.json.models.find((m: { modelId: string }) => m.modelId === SONNET);
  expect(sonnet.regions[0]).toMatchObject({ state: 'CLOSED', failures: 0 });
}, 90_000);

it('does not dead-letter a healthy job during a short DynamoDB outage: the crash path backs off until it is over', async () => {
  // Every job write fails for 5 s: the claim itself crashes each delivery, which comes back after 2 s, then 4 s.
  runtime.faults.add({ service: 'dynamodb', operations: ['UpdateItem'], durationMs: 5_000, error: 'throttle' });
  const jobId = await submit({ prompt: 'through an outage' });
  const done = await finished(runtime, jobId, 60_000, 250);
  expect(done.json.status).toBe('SUCCEEDED');
  expect(await dlqDepth(runtime)).toBe(0);
  expect(await events.arrivedFor(jobId, 60_000)).toHaveLength(1);
}, 90_000);
