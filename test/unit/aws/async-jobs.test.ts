import { asyncPollDelaySeconds, asyncRequestToken } from '../../../lambda/core/async-model';
import { processDelivery } from '../../../lambda/core/job-processing';
import type { AsyncInvocationStatus, JobMessage } from '../../../lambda/core/ports';
import { routingTableSchema } from '../../../lambda/core/settings';
import { delivery, harness, queuedJob, store, throttled, useJobsTable } from './processing-harness';

/*
 * Jobs of an async model (StartAsyncInvoke) against real conditional writes (dynalite): the start with a token
 * derived from the job, the job let go of between polls, one chain of poll messages (duplicates and superseded
 * messages dropped at the claim), and the ends: Completed, Failed, the deadline.
 */

useJobsTable();

const REEL = 'amazon.nova-reel-v1:1';
const routing = routingTableSchema.parse({
  defaultRoute: 'generate',
  routes: { generate: { modelId: 'model-a' } },
  models: { 'model-a': {}, [REEL]: { key: 'nova-reel', invocation: 'async', async: { firstPollSeconds: 4, maxPollSeconds: 9 } } },
});
const modelInput = { taskType: 'TEXT_VIDEO', textToVideoParams: { text: 'a lighthouse' } };

function asyncHarness(states: AsyncInvocationStatus[] = [{ status: 'InProgress' }], start: () => Promise<string> = async () => 'arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456') {
  const sent: { message: JobMessage; delaySeconds: number }[] = [];
  const starts: { token: string; outputUri: string }[] = [];
  const gets: string[] = [];
  const h = harness(undefined, {
    routing,
    requeuer: { requeue: async (message, delaySeconds) => void sent.push({ message, delaySeconds }) },
    asyncModels: {
      start: async (request) => (starts.push({ token: request.clientRequestToken, outputUri: request.outputUri }), start()),
      get: async (arn) => (gets.push(arn), states.length > 1 ? states.shift()! : states[0]),
    },
    asyncOutputs: { list: async (uri) => [{ key: `${uri.replace('s3://results/', '')}abc123def456/output.mp4`, bytes: 2048 }, { key: `${uri.replace('s3://results/', '')}abc123def456/manifest.json`, bytes: 120 }] },
    asyncOutputBucket: 'results',
  });
  return { ...h, sent, starts, gets };
}

const reelJob = (overrides = {}) => queuedJob({ modelId: REEL, request: { messages: [], modelInput }, deadlineSeconds: 3600, ...overrides });
const pollDelivery = (jobId: string, messageId: string, poll?: number) => ({ ...delivery(jobId, `${messageId}:req`), ...(poll !== undefined && { poll }) });

it('starts the invocation once, lets go of the job between polls, and succeeds with the output files', async () => {
  const job = await reelJob();
  const h = asyncHarness([{ status: 'InProgress' }, { status: 'Completed' }]);

  expect(await processDelivery(delivery(job.jobId, 'm0:req'), h.deps)).toEqual({ kind: 'requeued', delaySeconds: 4 });
  expect(h.starts).toEqual([{ token: asyncRequestToken(job.jobId), outputUri: `s3://results/async/${job.jobId}/` }]);
  const waiting = await store.get(job.jobId, new Date());
  expect(waiting).toMatchObject({ status: 'RUNNING', asyncInvocation: { invocationArn: expect.stringContaining('async-invoke/'), polls: 1, outputUri: `s3://results/async/${job.jobId}/` } });
  expect(waiting!.lease).toBeUndefined();
  expect(waiting!.attempts).toEqual([expect.objectContaining({ modelId: REEL, outcome: 'succeeded' })]);
  expect(h.sent.map((s) => [s.message.poll, s.delaySeconds])).toEqual([[1, 4]]);

  // Poll 1: still in progress; the next wait is 1.5x longer.
  expect(await processDelivery(pollDelivery(job.jobId, 'm1', 1), h.deps)).toEqual({ kind: 'requeued', delaySeconds: 6 });
  expect((await store.get(job.jobId, new Date()))!.asyncInvocation!.polls).toBe(2);
  // Poll 2: completed.
  expect(await processDelivery(pollDelivery(job.jobId, 'm2', 2), h.deps)).toEqual({ kind: 'finished', status: 'SUCCEEDED' });
  const done = await store.get(job.jobId, new Date());
  expect(done!.result).toMatchObject({ modelId: REEL, output: { s3Uri: `s3://results/async/${job.jobId}/`, files: [{ key: `async/${job.jobId}/abc123def456/output.mp4`, bytes: 2048 }, expect.objectContaining({ bytes: 120 })] } });
  expect(h.starts).toHaveLength(1);
  expect(h.published.map((j) => j.status)).toEqual(['SUCCEEDED']);
});

it('drops a duplicate of the first message and a superseded poll message, without a second start', async () => {
  const job = await reelJob();
  const h = asyncHarness();
  await processDelivery(delivery(job.jobId, 'm0:req'), h.deps);
  // Another copy of the job's first message (SQS delivers at least once).
  expect(await processDelivery(delivery(job.jobId, 'm0-copy:req'), h.deps)).toEqual({ kind: 'skipped', reason: 'superseded' });
  await processDelivery(pollDelivery(job.jobId, 'm1', 1), h.deps);
  // Poll 1's message again, after poll 2 is what the job expects.
  expect(await processDelivery(pollDelivery(job.jobId, 'm1-copy', 1), h.deps)).toEqual({ kind: 'skipped', reason: 'superseded' });
  expect(h.starts).toHaveLength(1);
  expect(h.gets).toHaveLength(1);
  expect(h.sent.map((s) => s.message.poll)).toEqual([1, 2]);
});

it('carries on when a delivery dies after the start: the redelivery starts with the same token and gets the same invocation', async () => {
  const job = await reelJob();
  const arn = 'arn:aws:bedrock:us-east-1:123456789012:async-invoke/samesame0001';
  // The first delivery's record write never happens (it crashed): its start went out, with the job's token.
  const crashed = asyncHarness(undefined, async () => arn);
  const crashingStore = Object.assign(Object.create(store) as typeof store, { awaitInvocation: async () => { throw Object.assign(new Error('crash'), { name: 'Runtime.ExitError' }); } });
  await expect(processDelivery(delivery(job.jobId, 'm0:req', 1, () => 2_000), { ...crashed.deps, store: crashingStore })).rejects.toThrow('crash');
  // The same message, redelivered, takes the job back and starts again: Bedrock answers the same invocation.
  const h = asyncHarness(undefined, async () => arn);
  expect(await processDelivery(delivery(job.jobId, 'm0:req2', 2), h.deps)).toMatchObject({ kind: 'requeued' });
  expect([...crashed.starts, ...h.starts].map((s) => s.token)).toEqual([asyncRequestToken(job.jobId), asyncRequestToken(job.jobId)]);
  expect((await store.get(job.jobId, new Date()))!.asyncInvocation!.invocationArn).toBe(arn);
});

it('lets the message that last held the job take it again when its poll message could not be sent', async () => {
  const job = await reelJob();
  const h = asyncHarness();
  await processDelivery(delivery(job.jobId, 'm0:req'), h.deps);
  const failingSend = { requeue: async () => { throw Object.assign(new Error('SQS down'), { name: 'InternalError' }); } };
  await expect(processDelivery(pollDelivery(job.jobId, 'm1', 1), { ...h.deps, requeuer: failingSend })).rejects.toThrow('SQS down');
  // Poll 2 is recorded, its message never went out: m1's redelivery (same message id) carries on.
  expect((await store.get(job.jobId, new Date()))!.asyncInvocation!.polls).toBe(2);
  expect(await processDelivery({ ...pollDelivery(job.jobId, 'm1', 1), owner: 'm1:req-again', receiveCount: 2 }, h.deps)).toMatchObject({ kind: 'requeued' });
  expect(h.sent.at(-1)!.message.poll).toBe(3);
});

it('fails with Bedrock\'s message when the invocation fails, and at the deadline while it is still in progress', async () => {
  const failing = await reelJob();
  const h = asyncHarness([{ status: 'Failed', failureMessage: 'The request was blocked by content filters.' }]);
  await processDelivery(delivery(failing.jobId, 'f0:req'), h.deps);
  expect(await processDelivery(pollDelivery(failing.jobId, 'f1', 1), h.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
  expect((await store.get(failing.jobId, new Date()))!.error).toEqual({ code: 'ASYNC_INVOCATION_FAILED', message: 'The request was blocked by content filters.' });

  const slow = await reelJob({ deadlineSeconds: 60 });
  const late = asyncHarness();
  await processDelivery(delivery(slow.jobId, 's0:req'), late.deps);
  const later = { ...late.deps, clock: () => new Date(Date.now() + 61_000) };
  expect(await processDelivery(pollDelivery(slow.jobId, 's1', 1), later)).toEqual({ kind: 'finished', status: 'FAILED' });
  expect((await store.get(slow.jobId, new Date()))!.error).toMatchObject({ code: 'JOB_DEADLINE_EXCEEDED', message: expect.stringContaining(`s3://results/async/${slow.jobId}/`) });
});

it('puts a job back QUEUED when Bedrock cannot start it now, and fails it on a validation error', async () => {
  const busy = await reelJob();
  const h = asyncHarness(undefined, async () => { throw throttled(); });
  expect(await processDelivery(delivery(busy.jobId, 'b0:req'), h.deps)).toMatchObject({ kind: 'requeued' });
  const queued = await store.get(busy.jobId, new Date());
  expect(queued).toMatchObject({ status: 'QUEUED', requeues: 1, attempts: [expect.objectContaining({ outcome: 'failed', errorCode: 'MODEL_THROTTLED' })] });
  expect(queued!.asyncInvocation).toBeUndefined();
  expect(h.sent[0].message.poll).toBeUndefined();

  const bad = await reelJob();
  const refused = asyncHarness(undefined, async () => { throw Object.assign(new Error('Malformed input request: #: required key [textToVideoParams] not found'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }); });
  expect(await processDelivery(delivery(bad.jobId, 'v0:req'), refused.deps)).toEqual({ kind: 'finished', status: 'FAILED' });
  expect((await store.get(bad.jobId, new Date()))!.error).toMatchObject({ code: 'MODEL_VALIDATION_ERROR', message: expect.stringContaining('textToVideoParams') });
});

it('waits 1.5x longer at each poll, up to the most, and derives one token per job in Bedrock\'s alphabet', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => asyncPollDelaySeconds(n, { firstPollSeconds: 10, maxPollSeconds: 120 }))).toEqual([10, 15, 23, 34, 51, 76, 114, 120]);
  expect(asyncRequestToken('job-1')).toBe(asyncRequestToken('job-1'));
  expect(asyncRequestToken('job-1')).not.toBe(asyncRequestToken('job-2'));
  expect(asyncRequestToken('job-1')).toMatch(/^[!-~]{1,256}$/);
});
