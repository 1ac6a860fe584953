import type { LocalRuntime } from '../../local/runtime';
import { MODELS, http, modelRequests, queueDrained, simulator, startPipeline, subscribeQueue, until } from './harness';

/*
 * DELETE /jobs/{jobId} on the local runtime: a job still QUEUED is CANCELLED at once, announced once, and never
 * reaches the model (its message is dropped when it comes up); a job that started is 409 JOB_NOT_CANCELLABLE;
 * another tenant's job, or an unknown one, is 404.
 */

let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;
const as = (tenant: string) => ({ 'x-api-key': runtime.apiKeys[tenant] });

beforeAll(async () => {
  runtime = await startPipeline({
    tenants: { default: {}, acme: {}, globex: {} },
    // One job at a time (two workers, one message each), each answer slow: the later jobs wait on the queue.
    worker: { batchSize: 1, maxConcurrency: 2 },
    routes: { generate: { model: 'claude-sonnet' } },
  });
  events = await subscribeQueue(runtime, 'cancel-events');
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODELS.sonnet)}`, { latencyMs: { firstToken: 2500, perToken: 0 } });
}, 120_000);
afterAll(() => runtime?.stop());

async function submit(tenant: string, prompt: string): Promise<string> {
  const res = await http(runtime, 'POST', '/jobs', { prompt }, as(tenant));
  expect(res.status).toBe(202);
  return res.json.jobId;
}

const statusOf = async (tenant: string, jobId: string) => (await http(runtime, 'GET', `/jobs/${jobId}`, undefined, as(tenant))).json;

it('cancels a queued job (once, announced once, never run) and refuses one that started', async () => {
  const before = await modelRequests(runtime, MODELS.sonnet);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await submit('acme', `job ${i}`));
  const last = ids.at(-1)!;

  // Another tenant cannot see, let alone cancel, it.
  expect(await http(runtime, 'DELETE', `/jobs/${last}`, undefined, as('globex'))).toMatchObject({ status: 404, json: { error: { code: 'JOB_NOT_FOUND' } } });

  const cancelled = await http(runtime, 'DELETE', `/jobs/${last}`, undefined, as('acme'));
  expect(cancelled.status).toBe(200);
  expect(cancelled.json).toMatchObject({ jobId: last, status: 'CANCELLED' });
  // Cancelling again answers the same (DELETE is idempotent) and publishes nothing more.
  expect(await http(runtime, 'DELETE', `/v1/jobs/${last}`, undefined, as('acme'))).toMatchObject({ status: 200, json: { jobId: last, status: 'CANCELLED' } });

  // A job a worker holds cannot be cancelled under it.
  const running = await until('the first job to start', async () => ((await statusOf('acme', ids[0])).status === 'RUNNING' ? ids[0] : undefined));
  const refused = await http(runtime, 'DELETE', `/jobs/${running}`, undefined, as('acme'));
  expect(refused.status).toBe(409);
  expect(refused.json).toMatchObject({ error: { code: 'JOB_NOT_CANCELLABLE', details: [{ path: 'status', message: 'RUNNING' }] } });

  // The others finish; the cancelled one stays cancelled and never reached the model.
  for (const id of ids.slice(0, -1)) await until(`job ${id}`, async () => ((await statusOf('acme', id)).status === 'SUCCEEDED' ? true : undefined), 60_000);
  await queueDrained(runtime, runtime.resources.jobsQueueUrl!);
  expect(await statusOf('acme', last)).toMatchObject({ status: 'CANCELLED', attempts: [] });
  expect((await modelRequests(runtime, MODELS.sonnet)) - before).toBe(4);
  expect(await http(runtime, 'DELETE', `/jobs/${ids[0]}`, undefined, as('acme'))).toMatchObject({ status: 409, json: { error: { details: [{ path: 'status', message: 'SUCCEEDED' }] } } });

  const announced = await events.arrivedFor(last);
  expect(announced.map((e) => e.body)).toEqual([expect.objectContaining({ type: 'job.cancelled', jobId: last, status: 'CANCELLED', tenant: 'acme' })]);
  expect(announced[0].attributes?.status?.StringValue).toBe('CANCELLED');
}, 120_000);

it('answers an unknown or malformed id with 404', async () => {
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not_valid', 'x'.repeat(65)]) {
    expect(await http(runtime, 'DELETE', `/jobs/${id}`, undefined, as('acme'))).toMatchObject({ status: 404, json: { error: { code: 'JOB_NOT_FOUND' } } });
  }
});
