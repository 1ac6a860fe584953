import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BedrockRuntimeClient, GetAsyncInvokeCommand, InvokeModelCommand, ListAsyncInvokesCommand, StartAsyncInvokeCommand } from '@aws-sdk/client-bedrock-runtime';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startBedrockSimulator, type BedrockSimulator } from '../../local/bedrock-sim';
import { startEmulators } from '../../local/emulators';

/*
 * StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes against the simulator with unmodified clients (the AWS SDK
 * and the AWS CLI): idempotent starts, completion writing the output and a manifest into the local S3, failures
 * with the model's message, and the validation Bedrock does.
 */

const REEL = 'amazon.nova-reel-v1:1';
const BUCKET = 'async-out';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
const input = { taskType: 'TEXT_VIDEO', textToVideoParams: { text: 'a lighthouse at dawn, waves below' }, videoGenerationConfig: { durationSeconds: 6, fps: 24, dimension: '1280x720', seed: 7 } };

let emulators: Awaited<ReturnType<typeof startEmulators>>;
let sim: BedrockSimulator;
let bedrock: BedrockRuntimeClient;
let s3: S3Client;

beforeAll(async () => {
  emulators = await startEmulators({ region: 'us-east-1', env: { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9' } });
  s3 = new S3Client({ region: 'us-east-1', endpoint: emulators.endpoints.s3, forcePathStyle: true, credentials });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  sim = await startBedrockSimulator({ s3Endpoint: emulators.endpoints.s3 });
  bedrock = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: sim.url, credentials, maxAttempts: 1 });
}, 60_000);
afterAll(async () => {
  bedrock?.destroy();
  s3?.destroy();
  await sim?.stop();
  await emulators?.stop();
});
afterEach(() => fetch(`${sim.url}/_sim/reset`, { method: 'POST' }));

const settings = (modelId: string, body: unknown) => fetch(`${sim.url}/_sim/models/${encodeURIComponent(modelId)}`, { method: 'PUT', body: JSON.stringify(body) });

async function untilEnded(invocationArn: string) {
  for (let i = 0; i < 100; i++) {
    const got = await bedrock.send(new GetAsyncInvokeCommand({ invocationArn }));
    if (got.status !== 'InProgress') return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the invocation never ended');
}

it('starts once per clientRequestToken, completes, and writes the output and a manifest into the invocation folder', async () => {
  await settings(REEL, { async: { durationMs: 300 } });
  const start = new StartAsyncInvokeCommand({ modelId: REEL, modelInput: input as never, outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${BUCKET}/videos/job-1/` } }, clientRequestToken: 'token-one' });
  const { invocationArn } = await bedrock.send(start);
  expect(invocationArn).toMatch(/^arn:aws:bedrock:us-east-1:\d{12}:async-invoke\/[a-z0-9]{12}$/);
  expect((await bedrock.send(start)).invocationArn).toBe(invocationArn);

  const first = await bedrock.send(new GetAsyncInvokeCommand({ invocationArn }));
  expect(first).toMatchObject({ invocationArn, status: 'InProgress', modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${REEL}`, clientRequestToken: 'token-one' });
  expect(first.submitTime).toBeInstanceOf(Date);
  const done = await untilEnded(invocationArn!);
  expect(done.status).toBe('Completed');
  expect(done.endTime!.getTime()).toBeGreaterThanOrEqual(done.submitTime!.getTime());

  const id = invocationArn!.split('/').pop();
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'videos/job-1/' }));
  expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([`videos/job-1/${id}/manifest.json`, `videos/job-1/${id}/output.mp4`]);
  const video = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `videos/job-1/${id}/output.mp4` }));
  expect(Buffer.from(await video.Body!.transformToByteArray()).subarray(4, 8).toString()).toBe('ftyp');
  const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `videos/job-1/${id}/manifest.json` }))).Body!.transformToString());
  expect(manifest).toMatchObject({ invocationArn, modelId: REEL, outputs: [{ uri: `s3://${BUCKET}/videos/job-1/${id}/output.mp4` }] });

  const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { asyncInvocations: number };
  expect(stats.asyncInvocations).toBe(1);
});

it('fails an invocation with the model\'s message, writing nothing, and lists invocations by status', async () => {
  await settings(REEL, { async: { durationMs: 50, failure: 1, failureMessage: 'blocked by content filters' } });
  const started = await bedrock.send(new StartAsyncInvokeCommand({ modelId: REEL, modelInput: input as never, outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${BUCKET}/videos/job-2` } } }));
  const failed = await untilEnded(started.invocationArn!);
  expect(failed).toMatchObject({ status: 'Failed', failureMessage: 'blocked by content filters' });
  expect((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'videos/job-2/' }))).KeyCount ?? 0).toBe(0);

  await settings(REEL, { async: { failure: 0, durationMs: 60_000 } });
  const running = await bedrock.send(new StartAsyncInvokeCommand({ modelId: REEL, modelInput: input as never, outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${BUCKET}/videos/job-3` } } }));
  const all = await bedrock.send(new ListAsyncInvokesCommand({}));
  expect(all.asyncInvokeSummaries?.map((s) => s.invocationArn)).toEqual([running.invocationArn, started.invocationArn]);
  const onlyFailed = await bedrock.send(new ListAsyncInvokesCommand({ statusEquals: 'Failed' }));
  expect(onlyFailed.asyncInvokeSummaries).toEqual([expect.objectContaining({ invocationArn: started.invocationArn, status: 'Failed', failureMessage: 'blocked by content filters' })]);
  const paged = await bedrock.send(new ListAsyncInvokesCommand({ maxResults: 1, sortOrder: 'Ascending' }));
  expect(paged.asyncInvokeSummaries?.map((s) => s.invocationArn)).toEqual([started.invocationArn]);
  const next = await bedrock.send(new ListAsyncInvokesCommand({ maxResults: 1, sortOrder: 'Ascending', nextToken: paged.nextToken }));
  expect(next.asyncInvokeSummaries?.map((s) => s.invocationArn)).toEqual([running.invocationArn]);
  expect(next.nextToken).toBeUndefined();
});

it('refuses what Bedrock refuses: a bad modelInput, a model that is not async, an async model through InvokeModel, an unknown ARN', async () => {
  const out = { s3OutputDataConfig: { s3Uri: `s3://${BUCKET}/videos/bad` } };
  await expect(bedrock.send(new StartAsyncInvokeCommand({ modelId: REEL, modelInput: { taskType: 'TEXT_VIDEO' } as never, outputDataConfig: out }))).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('textToVideoParams') });
  await expect(bedrock.send(new StartAsyncInvokeCommand({ modelId: 'anthropic.claude-3-haiku-20240307-v1:0', modelInput: input as never, outputDataConfig: out }))).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('does not support asynchronous invocation') });
  await expect(bedrock.send(new InvokeModelCommand({ modelId: REEL, body: JSON.stringify(input), contentType: 'application/json' }))).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('StartAsyncInvoke') });
  await expect(bedrock.send(new GetAsyncInvokeCommand({ invocationArn: 'arn:aws:bedrock:us-east-1:123456789012:async-invoke/nope00000000' }))).rejects.toMatchObject({ name: 'ValidationException' });
  await settings(REEL, { faults: { throttle: 1 } });
  await expect(bedrock.send(new StartAsyncInvokeCommand({ modelId: REEL, modelInput: input as never, outputDataConfig: out }))).rejects.toMatchObject({ name: 'ThrottlingException' });
});

it('serves the AWS CLI: start-async-invoke, get-async-invoke, list-async-invokes', async () => {
  await settings(REEL, { async: { durationMs: 100 } });
  const run = promisify(execFile);
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };
  const cli = async (...args: string[]) => JSON.parse((await run('aws', ['bedrock-runtime', ...args, '--endpoint-url', sim.url, '--output', 'json'], { env })).stdout);
  const { invocationArn } = await cli('start-async-invoke', '--model-id', REEL, '--model-input', JSON.stringify(input), '--output-data-config', JSON.stringify({ s3OutputDataConfig: { s3Uri: `s3://${BUCKET}/cli` } }));
  expect(invocationArn).toMatch(/async-invoke\//);
  await untilEnded(invocationArn);
  expect(await cli('get-async-invoke', '--invocation-arn', invocationArn)).toMatchObject({ invocationArn, status: 'Completed' });
  expect((await cli('list-async-invokes', '--status-equals', 'Completed')).asyncInvokeSummaries).toEqual([expect.objectContaining({ invocationArn })]);
}, 60_000);
