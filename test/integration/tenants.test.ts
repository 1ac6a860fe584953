import type { LocalRuntime } from '../../local/runtime';
import { http, startPipeline, subscribeQueue, until } from './harness';

/** Two tenants on a roomy plan, and a third held to 1 request/s with a burst of 2. */
let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;
const as = (tenant: string) => ({ 'x-api-key': runtime.apiKeys[tenant] });

beforeAll(async () => {
  runtime = await startPipeline({
    worker: { timeoutSeconds: 10 },
    plans: {
      default: { rateLimit: 1000, burstLimit: 1000 },
      tiny: { rateLimit: 1, burstLimit: 2 },
      basic: { rateLimit: 1000, burstLimit: 1000, routes: ['classify'], models: ['claude-haiku'] },
    },
    tenants: { default: {}, acme: {}, globex: {}, slow: { plan: 'tiny' }, small: { plan: 'basic' } },
  });
  events = await subscribeQueue(runtime, 'tenant-events');
}, 120_000);
afterAll(() => runtime?.stop());

describe('tenants on the pipeline', () => {
  it("keeps each tenant's jobs to itself: another tenant's job id answers 404 exactly like an unknown one", async () => {
    const submitted = await http(runtime, 'POST', '/jobs', { prompt: 'Tenant A secret' }, as('acme'));
    expect(submitted.status).toBe(202);
    const jobId = submitted.json.jobId as string;
    expect((await http(runtime, 'GET', `/jobs/${jobId}`)).status).toBe(404); // as the default tenant

    const own = await until('the job to finish for its tenant', async () => {
      const r = await http(runtime, 'GET', `/jobs/${jobId}`, undefined, as('acme'));
      return r.json?.status === 'SUCCEEDED' ? r : undefined;
    });
    expect(own.json.result.text).toEqual(expect.any(String));

    const foreign = await http(runtime, 'GET', `/jobs/${jobId}`, undefined, as('globex'));
    const unknown = await http(runtime, 'GET', '/jobs/00000000-0000-4000-8000-000000000000', undefined, as('globex'));
    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(foreign.json).toEqual({ error: { code: 'JOB_NOT_FOUND', message: `No job with id ${jobId}.` } });
    expect(unknown.json).toEqual({ error: { code: 'JOB_NOT_FOUND', message: 'No job with id 00000000-0000-4000-8000-000000000000.' } });
    expect([...foreign.headers.keys()].sort()).toEqual([...unknown.headers.keys()].sort());
  });

  it("carries each job's tenant, its name in the config, in the SNS event and its attributes", async () => {
    const [a, b] = await Promise.all([
      http(runtime, 'POST', '/jobs', { prompt: 'from acme' }, as('acme')),
      http(runtime, 'POST', '/jobs', { prompt: 'from globex' }, as('globex')),
    ]);
    for (const [submitted, tenant] of [[a, 'acme'], [b, 'globex']] as const) {
      const [event] = await until(`the event of ${tenant}'s job`, async () => {
        const found = await events.eventsFor(submitted.json.jobId);
        return found.length ? found : undefined;
      });
      expect(event.attributes?.tenant?.StringValue).toBe(tenant);
      expect(event.body).toMatchObject({ eventId: expect.any(String), type: 'job.succeeded', tenant });
    }
  });

  it('holds a tenant to the routes and models of its plan', async () => {
    const route = await http(runtime, 'POST', '/jobs', { prompt: 'default route' }, as('small'));
    expect(route.status).toBe(403);
    expect(route.json.error).toMatchObject({ code: 'ROUTE_NOT_IN_PLAN', details: [{ path: 'route' }] });
    const model = await http(runtime, 'POST', '/api/classify', { prompt: 'x', modelId: 'amazon.nova-micro-v1:0' }, as('small'));
    expect(model.status).toBe(403);
    expect(model.json.error).toMatchObject({ code: 'MODEL_NOT_IN_PLAN', details: [{ path: 'modelId' }] });
    const allowed = await http(runtime, 'POST', '/api/classify', { prompt: 'is this spam?' }, as('small'));
    expect(allowed.status).toBe(202);
    const done = await until('the allowed job to finish', async () => {
      const r = await http(runtime, 'GET', `/jobs/${allowed.json.jobId}`, undefined, as('small'));
      return r.json?.status === 'SUCCEEDED' ? r : undefined;
    });
    expect(done.json.result.modelId).toBe('anthropic.claude-3-haiku-20240307-v1:0');
  });

  it('refuses a call without a key, or with a wrong one, with 403 JSON', async () => {
    for (const headers of [{ 'x-api-key': undefined }, { 'x-api-key': 'wrong-key' }]) {
      const r = await http(runtime, 'POST', '/jobs', { prompt: 'x' }, headers);
      expect(r.status).toBe(403);
      expect(r.json).toEqual({ error: { code: 'INVALID_API_KEY', message: expect.any(String) } });
    }
  });

  it("answers a tenant over its plan's rate with 429, a JSON error and Retry-After, and no job is created", async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => http(runtime, 'POST', '/jobs', { prompt: `burst ${i}` }, as('slow'))));
    const throttled = answers.filter((r) => r.status === 429);
    expect(answers.filter((r) => r.status === 202)).toHaveLength(2);
    expect(throttled).toHaveLength(3);
    for (const r of throttled) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.json).toEqual({ error: { code: 'THROTTLED', message: expect.any(String) } });
    }
    // Other tenants are not slowed down by it.
    expect((await http(runtime, 'GET', '/models', undefined, as('acme'))).status).toBe(200);
  });
});
