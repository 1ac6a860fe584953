import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { LocalRuntime } from '../../local/runtime';
import { MODELS, finished, http, simulator, startPipeline } from './harness';

/*
 * Quota-aware admission on the local runtime: the simulator enforces a requests-per-minute quota on Claude 3 Haiku,
 * the worker is configured with the same quota, and a burst several times the bucket's capacity arrives at once.
 */

const HAIKU = MODELS.haiku;
/** More jobs than the quota admits in a minute: sent at once, the last ones would be throttled. */
const RPM = 24;
const JOBS = 30;
/** The stated bound: the pipeline paces calls within the quota; at most one call may meet a throttle (timing jitter). */
const MAX_THROTTLES = 1;

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startPipeline({
    models: {
      'claude-haiku': { modelId: HAIKU, quota: { requestsPerMinute: RPM } },
      'nova-micro': { modelId: 'amazon.nova-micro-v1:0' },
    },
    routes: { classify: { model: 'claude-haiku', path: '/api/classify' } },
    defaultRoute: 'classify',
    worker: { timeoutSeconds: 10, batchSize: 5, maxConcurrency: 4, maxReceiveCount: 3 },
  });
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(HAIKU)}`, { quota: { rpm: RPM } });
}, 120_000);
afterAll(() => runtime?.stop());

it(`paces a burst of ${JOBS} jobs into the model's quota: all succeed, none dead-lettered, at most ${MAX_THROTTLES} throttled`, async () => {
  const started = Date.now();
  const ids = await Promise.all(
    Array.from({ length: JOBS }, async (_, i) => {
      const res = await http(runtime, 'POST', '/api/classify', { prompt: `burst job ${i}` });
      expect(res.status).toBe(202);
      return res.json.jobId as string;
    }),
  );
  const jobs = await Promise.all(ids.map((id) => finished(runtime, id, 150_000, 1_000)));
  const elapsedMs = Date.now() - started;
  expect(jobs.map((j) => j.json.status)).toEqual(ids.map(() => 'SUCCEEDED'));

  const stats = (await simulator(runtime, 'GET', '/_sim/stats')) as { models: Record<string, { requests: number; ok: number; throttled: number }> };
  expect(stats.models[HAIKU].throttled).toBeLessThanOrEqual(MAX_THROTTLES);
  expect(stats.models[HAIKU].ok).toBe(JOBS);

  // Paced, not instantaneous: beyond the bucket's burst, one call per slot.
  const capacity = Math.max(1, Math.floor(RPM * 0.03));
  expect(elapsedMs).toBeGreaterThanOrEqual(((JOBS - capacity - 1) * 60_000) / (RPM * 0.94 - capacity) - 1_000);

  const { Attributes } = await runtime.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: runtime.resources.deadLetterQueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  expect(Number(Attributes?.ApproximateNumberOfMessages)).toBe(0);
}, 200_000);
