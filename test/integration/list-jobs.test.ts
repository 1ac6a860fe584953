import type { LocalRuntime } from '../../local/runtime';
import { MODELS, http, startPipeline, until } from './harness';

/*
 * GET /jobs on the local runtime: a tenant's jobs newest first, filtered by status, a page at a time; another
 * tenant's jobs never listed; a bad query or a forged nextToken is a 400 naming the parameter.
 */

let runtime: LocalRuntime;
const as = (tenant: string) => ({ 'x-api-key': runtime.apiKeys[tenant] });

beforeAll(async () => {
  runtime = await startPipeline({
    tenants: { default: {}, acme: {}, globex: {} },
    // Claude 3 Haiku's limit claimed above the simulator's 4096, so a larger maxTokens fails the job at the model.
    models: {
      'claude-haiku': { modelId: MODELS.haiku, maxOutputTokens: 8192 },
      'claude-sonnet': { modelId: MODELS.sonnet },
      'claude-opus': { modelId: MODELS.opus },
      'nova-micro': { modelId: MODELS.novaMicro, contextWindow: 128_000 },
    },
  });
}, 120_000);
afterAll(() => runtime?.stop());

async function submit(tenant: string, body: object): Promise<string> {
  const res = await http(runtime, 'POST', '/jobs', body, as(tenant));
  expect(res.status).toBe(202);
  return res.json.jobId;
}

/** Polls GET /jobs/{id} as the job's tenant until it is terminal. */
const finished = (tenant: string, jobId: string) =>
  until(`job ${jobId} to finish`, async () => {
    const res = await http(runtime, 'GET', `/jobs/${jobId}`, undefined, as(tenant));
    return ['SUCCEEDED', 'FAILED'].includes(res.json?.status) ? res.json : undefined;
  });

async function listAll(tenant: string, query: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const res = await http(runtime, 'GET', `/jobs?${query}${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`, undefined, as(tenant));
    expect(res.status).toBe(200);
    ids.push(...res.json.jobs.map((j: { jobId: string }) => j.jobId));
    token = res.json.nextToken;
    pages++;
  } while (token && pages < 50);
  return { ids, pages };
}

it("lists the tenant's own jobs newest first, page by page, and no one else's", async () => {
  const mine: string[] = [];
  for (let i = 0; i < 7; i++) {
    mine.push(await submit('acme', { prompt: `acme ${i}`, metadata: { n: i } }));
    await new Promise((r) => setTimeout(r, 5)); // distinct createdAt milliseconds
  }
  const theirs = await submit('globex', { prompt: 'globex' });
  await Promise.all(mine.map((id) => finished('acme', id)));
  await finished('globex', theirs);

  const first = await http(runtime, 'GET', '/jobs?limit=3', undefined, as('acme'));
  expect(first.status).toBe(200);
  expect(first.json.jobs).toHaveLength(3);
  expect(first.json.jobs[0]).toEqual({ jobId: mine[6], status: 'SUCCEEDED', createdAt: expect.any(String), updatedAt: expect.any(String), route: 'generate', modelId: expect.any(String), metadata: { n: 6 } });
  expect(typeof first.json.nextToken).toBe('string');

  const all = await listAll('acme', 'limit=3');
  expect(all.ids).toEqual([...mine].reverse());
  expect(all.pages).toBe(3);
  expect((await listAll('globex', 'limit=100')).ids).toEqual([theirs]);
  expect((await listAll('default', 'limit=100')).ids).not.toContain(theirs);
});

it('filters by status, filling pages across the index', async () => {
  const failed = await submit('acme', { prompt: 'more than the model gives', modelId: MODELS.haiku, inferenceConfig: { maxTokens: 5000 } });
  expect((await finished('acme', failed)).status).toBe('FAILED');
  const done = await listAll('acme', 'status=SUCCEEDED&limit=2');
  expect(done.ids).toHaveLength(7);
  expect(done.ids).not.toContain(failed);
  expect((await listAll('acme', 'status=FAILED')).ids).toEqual([failed]);
  const newest = await http(runtime, 'GET', '/jobs?limit=1', undefined, as('acme'));
  expect(newest.json.jobs[0]).toMatchObject({ jobId: failed, status: 'FAILED', error: { code: 'MODEL_VALIDATION_ERROR' } });
  const queued = await http(runtime, 'GET', '/jobs?status=QUEUED', undefined, as('acme'));
  expect(queued.json).toEqual({ jobs: [] });
});

it('refuses a bad query or a token it did not issue to this tenant, naming the parameter', async () => {
  const acmeToken = (await http(runtime, 'GET', '/jobs?limit=1', undefined, as('acme'))).json.nextToken as string;
  const cases: Array<[string, string]> = [
    ['/jobs?limit=0', 'limit'],
    ['/jobs?limit=101', 'limit'],
    ['/jobs?limit=ten', 'limit'],
    ['/jobs?status=DONE', 'status'],
    ['/jobs?sort=asc', 'sort'],
    ['/jobs?nextToken=not-a-token', 'nextToken'],
    [`/jobs?nextToken=${encodeURIComponent(Buffer.from(JSON.stringify({ v: 1, t: 'acme', c: 'x', j: 'y' })).toString('base64url'))}`, 'nextToken'],
  ];
  for (const [path, field] of cases) {
    const res = await http(runtime, 'GET', path, undefined, as('acme'));
    expect([path, res.status, res.json.error.code]).toEqual([path, 400, 'VALIDATION_ERROR']);
    expect(res.json.error.details.map((d: { path: string }) => d.path)).toContain(field);
  }
  // acme's token, replayed by globex: refused, and it reaches nothing of acme's either way.
  const stolen = await http(runtime, 'GET', `/jobs?nextToken=${encodeURIComponent(acmeToken)}`, undefined, as('globex'));
  expect(stolen.status).toBe(400);
  expect(stolen.json.error.details).toEqual([{ path: 'nextToken', message: 'give the nextToken of the previous page, as it was, with the same batchId' }]);
});
