import type { LocalRuntime } from '../../local/runtime';
import { MODELS, dlqDepth, finished, http, modelRequests, simulator, startPipeline, subscribeQueue, until } from './harness';

/*
 * Resilience on the local runtime, with faults injected in the Bedrock simulator: retries, the shared circuit
 * breaker, fallback chains, the response cache, and a worker killed in the middle of a job.
 */

const HAIKU = MODELS.haiku;
const SONNET = MODELS.sonnet;
const OPUS = MODELS.opus;
const NOVA = MODELS.novaMicro;

let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;

beforeAll(async () => {
  runtime = await startPipeline({
    worker: { timeoutSeconds: 5, maxReceiveCount: 3, batchSize: 5, maxConcurrency: 4 },
    // Claude 3 Haiku's limit claimed above the simulator's 4096, so the model itself refuses a larger maxTokens.
    models: {
      'claude-haiku': { modelId: HAIKU, maxOutputTokens: 8192 },
      'claude-sonnet': { modelId: SONNET },
      'claude-opus': { modelId: OPUS },
      'nova-micro': { modelId: NOVA, contextWindow: 128_000 },
    },
    routes: {
      classify: { model: 'claude-haiku', path: '/api/classify', fallback: ['nova-micro'], cacheResponses: true },
      generate: { model: 'claude-sonnet', path: '/api/generate', fallback: ['claude-haiku'] },
      analyze: { model: 'claude-opus', path: '/api/analyze', fallback: ['claude-sonnet'] },
    },
    resilience: {
      retry: { attemptsPerModel: 2, baseDelayMs: 20, maxDelayMs: 100 },
      requeue: { baseDelaySeconds: 1, maxDelaySeconds: 2 },
      maxModelCalls: 4,
      // A cooldown long enough that a loaded machine still sees the circuit OPEN between the two steps that need it.
      breaker: { windowSeconds: 60, minimumCalls: 3, failureRateThreshold: 0.5, cooldownSeconds: 8, maxCooldownSeconds: 16 },
    },
  });
  events = await subscribeQueue(runtime, 'resilience-events');
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

const setModel = (modelId: string, settings: unknown) => simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);


async function submit(path: string, body: unknown): Promise<string> {
  const res = await http(runtime, 'POST', path, body);
  expect(res.status).toBe(202);
  return res.json.jobId as string;
}


it('finishes every job despite 30% throttling on the primary, some after retries, none in the DLQ', async () => {
  await setModel(SONNET, { faults: { throttle: 0.3 } });
  const ids = await Promise.all(Array.from({ length: 24 }, (_, i) => submit('/jobs', { prompt: `throttled job ${i}` })));
  const jobs = await Promise.all(ids.map((id) => finished(runtime, id, 60_000)));
  expect(jobs.map((j) => j.json.status)).toEqual(ids.map(() => 'SUCCEEDED'));
  const retried = jobs.filter((j) => j.json.attempts.some((a: { errorCode?: string }) => a.errorCode === 'MODEL_THROTTLED'));
  expect(retried.length).toBeGreaterThan(0);
  const stats = (await simulator(runtime, 'GET', '/_sim/stats')) as { models: Record<string, { throttled: number }> };
  expect(stats.models[SONNET].throttled).toBeGreaterThan(0);
  expect(await dlqDepth(runtime)).toBe(0);
  for (const id of ids.slice(0, 5)) expect(await events.arrivedFor(id, 60_000)).toHaveLength(1);
}, 90_000);

it('fails at once on a validation error from the model: no retry, no fallback, the model\'s message kept', async () => {
  const done = await finished(runtime, await submit('/api/classify', { prompt: 'x', inferenceConfig: { maxTokens: 5000 } }));
  expect(done.json).toMatchObject({ status: 'FAILED', error: { code: 'MODEL_VALIDATION_ERROR', message: expect.stringContaining('model limit of 4096') } });
  expect(done.json.attempts).toEqual([expect.objectContaining({ modelId: HAIKU, outcome: 'failed', errorCode: 'MODEL_VALIDATION_ERROR' })]);
  expect(await modelRequests(runtime, NOVA)).toBe(0);
});

it('opens the primary\'s circuit, sends later jobs straight to the fallback, and closes it after a successful probe', async () => {
  await setModel(OPUS, { faults: { unavailable: 1 } });
  // Two jobs: 2 failed calls each on the primary (4 calls >= minimumCalls 3, 100% failures), both answered by the fallback.
  for (const prompt of ['first', 'second']) {
    const done = await finished(runtime, await submit('/api/analyze', { prompt }));
    expect(done.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: SONNET } });
  }
  const models = await http(runtime, 'GET', '/models');
  expect(models.status).toBe(200);
  expect(models.json.models.find((m: { modelId: string }) => m.modelId === OPUS)).toMatchObject({ regions: [expect.objectContaining({ region: 'us-east-1', state: 'OPEN', errorRate: 1 })] });

  // A container keeps its copy of a breaker for up to a second (lambda/aws/breaker-store.ts cacheMs): past that,
  // every worker sees it OPEN.
  await new Promise((r) => setTimeout(r, 1_100));
  const primaryCalls = await modelRequests(runtime, OPUS);
  const whileOpen = await finished(runtime, await submit('/api/analyze', { prompt: 'while open' }));
  expect(whileOpen.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: SONNET } });
  expect(whileOpen.json.attempts[0]).toMatchObject({ modelId: OPUS, outcome: 'skipped', errorCode: 'CIRCUIT_OPEN' });
  expect(await modelRequests(runtime, OPUS)).toBe(primaryCalls);

  await setModel(OPUS, { faults: { unavailable: 0 } });
  // The next probe is due when the view says so (the cooldown), not after a guessed sleep.
  const opus = models.json.models.find((m: { modelId: string }) => m.modelId === OPUS).regions[0];
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(opus.nextProbeAt) - Date.now()) + 200));
  const probe = await finished(runtime, await submit('/api/analyze', { prompt: 'after cooldown' }));
  expect(probe.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: OPUS } });
  const after = await http(runtime, 'GET', '/models');
  expect(after.json.models.find((m: { modelId: string }) => m.modelId === OPUS)).toMatchObject({ regions: [expect.objectContaining({ state: 'CLOSED' })] });
  const back = await finished(runtime, await submit('/api/analyze', { prompt: 'traffic is back' }));
  expect(back.json.result.modelId).toBe(OPUS);
}, 60_000);

it('serves a cached answer when every model is down, fails the rest with ALL_MODELS_UNAVAILABLE, one event each, none in the DLQ', async () => {
  const cachedPrompt = { prompt: 'Is this message spam? "You won a prize"' };
  const original = await finished(runtime, await submit('/api/classify', cachedPrompt));
  expect(original.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: HAIKU } });

  await setModel('*', { faults: { unavailable: 1 } });
  const fromCache = await finished(runtime, await submit('/api/classify', cachedPrompt), 30_000);
  expect(fromCache.json).toMatchObject({ status: 'SUCCEEDED', result: { servedFrom: 'cache', text: original.json.result.text } });

  const uncached = await finished(runtime, await submit('/api/classify', { prompt: 'never seen before' }), 30_000);
  expect(uncached.json).toMatchObject({ status: 'FAILED', error: { code: 'ALL_MODELS_UNAVAILABLE' } });
  // Every model of the chain was tried (their circuits open on the way, so some turns are skips) up to maxModelCalls.
  const calls = uncached.json.attempts.filter((a: { outcome: string }) => a.outcome === 'failed');
  expect(calls).toHaveLength(4);
  expect(new Set(calls.map((a: { modelId: string }) => a.modelId))).toEqual(new Set([HAIKU, NOVA]));

  expect(await events.arrivedFor(fromCache.json.jobId, 60_000)).toHaveLength(1);
  const failedEvents = await events.arrivedFor(uncached.json.jobId, 60_000);
  expect(failedEvents.map((e) => e.body)).toEqual([expect.objectContaining({ type: 'job.failed', error: expect.objectContaining({ code: 'ALL_MODELS_UNAVAILABLE' }) })]);
  expect(await dlqDepth(runtime)).toBe(0);
}, 60_000);

it('finishes a job once, with one event, when the worker running it is killed and its lease expires', async () => {
  await setModel(SONNET, { latencyMs: { firstToken: 2_500, perToken: 0 } });
  const jobId = await submit('/jobs', { prompt: 'a worker will die while answering this' });
  await until('the job to be running', async () => ((await http(runtime, 'GET', `/jobs/${jobId}`)).json.status === 'RUNNING' ? true : undefined));
  const worker = [...runtime.functions.values()].find((f) => f.name.includes('Worker'))!;
  expect(await worker.crashRunning()).toBe(1);
  await setModel(SONNET, { latencyMs: { firstToken: 0, perToken: 0 } });

  // The message comes back after the visibility timeout (6 x 5 s); the new delivery takes over the expired lease.
  const done = await finished(runtime, jobId, 60_000);
  expect(done.json).toMatchObject({ status: 'SUCCEEDED', result: { modelId: SONNET } });
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await events.eventsFor(jobId)).toHaveLength(1);
}, 90_000);
