import { BedrockRuntimeClient, ListAsyncInvokesCommand } from '@aws-sdk/client-bedrock-runtime';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalRuntime } from '../../local/runtime';
import { dlqDepth, finished, http, simulator, startPipeline, subscribeQueue, until } from './harness';

/*
 * Jobs of an async model (StartAsyncInvoke) on the local runtime: the default config's nova-reel, started by the
 * worker, followed with GetAsyncInvoke on delayed messages, its output written by the simulator into the results
 * bucket (as Bedrock writes it) and linked from the job; a failed invocation; a worker killed inside the start and
 * a duplicate message while Bedrock runs it, neither of which starts a second invocation.
 */

const REEL = 'amazon.nova-reel-v1:1';
const modelInput = { taskType: 'TEXT_VIDEO', textToVideoParams: { text: 'A lighthouse on a cliff at dawn, waves crashing below' }, videoGenerationConfig: { durationSeconds: 6, fps: 24, dimension: '1280x720', seed: 42 } };

let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;
let bedrock: BedrockRuntimeClient;

beforeAll(async () => {
  runtime = await startPipeline({
    // The default models (nova-reel among them), polled fast: the first GetAsyncInvoke after 1 s, then at most every 2 s.
    models: {
      'claude-sonnet': { modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0' },
      'nova-reel': { modelId: REEL, invocation: 'async', async: { firstPollSeconds: 1, maxPollSeconds: 2 } },
    },
    routes: { generate: { model: 'claude-sonnet' } },
    worker: { timeoutSeconds: 5, maxReceiveCount: 3, batchSize: 2, maxConcurrency: 4 },
    resilience: { redelivery: { baseDelaySeconds: 0, maxDelaySeconds: 0 } },
  });
  events = await subscribeQueue(runtime, 'async-events');
  bedrock = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: runtime.bedrockUrl, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
}, 120_000);
afterAll(async () => {
  bedrock?.destroy();
  await runtime?.stop();
});
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setReel = (settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(REEL)}`, settings);
const invocations = async () => (await bedrock.send(new ListAsyncInvokesCommand({}))).asyncInvokeSummaries ?? [];

async function submit(body: unknown): Promise<string> {
  const res = await http(runtime, 'POST', '/jobs', body);
  expect(res.status).toBe(202);
  return res.json.jobId as string;
}

it('runs a nova-reel job: started, RUNNING while Bedrock works, SUCCEEDED with its files linked, one event', async () => {
  await setReel({ async: { durationMs: 3_000 } });
  const jobId = await submit({ modelId: 'nova-reel', modelInput, metadata: { campaign: 'dawn' } });
  const running = await until('the invocation to be started', async () => {
    const job = (await http(runtime, 'GET', `/jobs/${jobId}`)).json;
    return job.invocation ? job : undefined;
  });
  expect(running).toMatchObject({ status: 'RUNNING', modelId: REEL, invocation: { invocationArn: expect.stringMatching(/:async-invoke\//) } });

  const done = await finished(runtime, jobId, 60_000);
  expect(done.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: REEL, output: { s3Uri: `s3://${runtime.resources.resultsBucket}/async/${jobId}/` } }, metadata: { campaign: 'dawn' } });
  const files = done.json.result.output.files as { key: string; bytes: number; url: string }[];
  const id = (done.json.invocation.invocationArn as string).split('/').pop();
  expect(files.map((f) => f.key)).toEqual([`async/${jobId}/${id}/manifest.json`, `async/${jobId}/${id}/output.mp4`]);
  const video = await fetch(files[1].url);
  expect(video.status).toBe(200);
  expect(Buffer.from(await video.arrayBuffer()).subarray(4, 8).toString()).toBe('ftyp');
  // Polled on delayed messages, not waited for: more than one GetAsyncInvoke for a 3 s invocation at 1 s, then 1.5 s.
  expect(done.json.attempts).toEqual([expect.objectContaining({ modelId: REEL, outcome: 'succeeded' })]);

  expect(await invocations()).toEqual([expect.objectContaining({ invocationArn: done.json.invocation.invocationArn, status: 'Completed' })]);
  const published = await events.arrivedFor(jobId, 30_000);
  expect(published.map((e) => e.body)).toEqual([expect.objectContaining({ type: 'job.succeeded', output: { s3Uri: `s3://${runtime.resources.resultsBucket}/async/${jobId}/`, files: files.map(({ key, bytes }) => ({ key, bytes })) } })]);
}, 90_000);

it('fails the job with Bedrock\'s message when the invocation fails', async () => {
  await setReel({ async: { durationMs: 500, failure: 1, failureMessage: 'The video could not be generated: blocked by content filters.' } });
  const jobId = await submit({ modelId: REEL, modelInput });
  const done = await finished(runtime, jobId, 60_000);
  expect(done.json).toMatchObject({ status: 'FAILED', error: { code: 'ASYNC_INVOCATION_FAILED', message: 'The video could not be generated: blocked by content filters.' } });
  expect((await events.arrivedFor(jobId, 30_000)).map((e) => e.body.type)).toEqual(['job.failed']);
}, 90_000);

it('starts one invocation when the worker dies inside StartAsyncInvoke, and drops a duplicate message while Bedrock runs it', async () => {
  // The start call takes 2.5 s: the worker is killed inside it, after Bedrock has accepted it.
  await setReel({ latencyMs: { firstToken: 2_500 }, async: { durationMs: 8_000 } });
  const jobId = await submit({ modelId: 'nova-reel', modelInput });
  await until('the job to be running', async () => ((await http(runtime, 'GET', `/jobs/${jobId}`)).json.status === 'RUNNING' ? true : undefined));
  await new Promise((r) => setTimeout(r, 500));
  const worker = [...runtime.functions.values()].find((f) => f.name.includes('Worker'))!;
  expect(await worker.crashRunning()).toBe(1);
  await until('Bedrock to have the invocation', async () => ((await invocations()).length === 1 ? true : undefined), 10_000);
  await setReel({ latencyMs: { firstToken: 0 } });

  // The message comes back after the visibility timeout (6 x 5 s) and starts again with the same token.
  const waiting = await until('the invocation to be recorded', async () => {
    const job = (await http(runtime, 'GET', `/jobs/${jobId}`)).json;
    return job.invocation ? job : undefined;
  }, 60_000, 250);
  // A copy of the job's first message arrives while Bedrock runs the invocation: it is dropped.
  await runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: runtime.resources.jobsQueueUrl, MessageBody: JSON.stringify({ jobId, tenant: 'default' }) }));

  const done = await finished(runtime, jobId, 60_000);
  expect(done.json.status).toBe('SUCCEEDED');
  expect(done.json.invocation.invocationArn).toBe(waiting.invocation.invocationArn);
  const all = await invocations();
  expect(all).toHaveLength(1);
  const stats = (await simulator(runtime, 'GET', '/_sim/stats')) as { models: Record<string, { requests: number }>; asyncInvocations: number };
  expect(stats.models[REEL].requests).toBe(2);
  expect(stats.asyncInvocations).toBe(1);
  expect(await events.arrivedFor(jobId, 30_000)).toHaveLength(1);
  expect(await dlqDepth(runtime)).toBe(0);
}, 150_000);

it('refuses what an async model cannot take, naming the field, and keeps nothing', async () => {
  const cases: [unknown, string, number][] = [
    [{ modelId: 'nova-reel', prompt: 'a video of a cat' }, 'modelInput', 400],
    [{ modelId: 'nova-reel', modelInput, prompt: 'also this' }, 'prompt', 400],
    [{ modelInput }, 'modelId', 400],
    [{ modelId: 'claude-sonnet', modelInput }, 'modelInput', 400],
    [{ modelId: 'nova-reel', modelInput: ['not', 'an', 'object'] }, 'modelInput', 400],
  ];
  for (const [body, path, status] of cases) {
    const res = await http(runtime, 'POST', '/jobs', body);
    expect({ status: res.status, code: res.json.error.code, paths: res.json.error.details.map((d: { path: string }) => d.path) }).toEqual({ status, code: 'VALIDATION_ERROR', paths: expect.arrayContaining([path]) });
  }
  const sync = await http(runtime, 'POST', '/invoke', { modelId: 'nova-reel', modelInput });
  expect(sync.status).toBe(400);
  expect(sync.json.error.details).toEqual([{ path: 'modelId', message: expect.stringContaining('POST /jobs') }]);
  expect(await invocations()).toHaveLength(0);
});
