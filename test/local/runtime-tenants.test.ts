import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, writeEndpointsFile, type LocalRuntime } from '../../local/runtime';

/** Three tenants: `default` on a roomy plan, `bursty` at 1 request/s with a burst of 2, `capped` with 3 requests a day. */
const config = {
  plans: {
    default: { rateLimit: 100, burstLimit: 100 },
    tiny: { rateLimit: 1, burstLimit: 2 },
    daily: { rateLimit: 100, burstLimit: 100, quota: { limit: 3, period: 'DAY' } },
  },
  tenants: { default: {}, bursty: { plan: 'tiny' }, capped: { plan: 'daily' } },
};

let runtime: LocalRuntime;
let workdir: string;
const runtimeLog: string[] = [];

beforeAll(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'quarry-tenants-test-'));
  runtime = await startLocalRuntime({ port: 0, config, outdir: join(workdir, 'cdk.out'), quiet: true, log: (line) => runtimeLog.push(line) });
}, 90_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(workdir, { recursive: true, force: true });
});

async function get(path: string, apiKey?: string) {
  const response = await fetch(`${runtime.apiUrl}${path}`, { headers: apiKey === undefined ? {} : { 'x-api-key': apiKey } });
  return { status: response.status, headers: response.headers, json: (await response.json()) as { error?: { code: string; message: string } } };
}

describe('API keys on the local runtime', () => {
  it('issues a fresh key per tenant of the template, prints each and writes the default one to endpoints.json', () => {
    expect(Object.keys(runtime.apiKeys).sort()).toEqual(['bursty', 'capped', 'default']);
    const values = Object.values(runtime.apiKeys);
    expect(new Set(values).size).toBe(3);
    for (const value of values) expect(value).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(runtime.apiKey).toBe(runtime.apiKeys.default);
    expect(runtimeLog).toContain(`API key (tenant default): ${runtime.apiKey}`);
    const written = JSON.parse(readFileSync(writeEndpointsFile(runtime, join(workdir, 'endpoints.json')), 'utf8')) as Record<string, unknown>;
    expect(written.apiKey).toBe(runtime.apiKey);
    expect(written.apiKeys).toEqual(runtime.apiKeys);
  });

  it("answers a missing or unknown key with the template's 403 JSON, on every path", async () => {
    for (const [path, key] of [['/jobs/unknown', undefined], ['/models', undefined], ['/v1/jobs/unknown', 'not-a-key'], ['/models', runtime.apiKeys.default.toLowerCase()]] as const) {
      const r = await get(path, key);
      expect(r.status).toBe(403);
      expect(r.json.error).toMatchObject({ code: 'INVALID_API_KEY', message: expect.stringContaining('x-api-key') });
    }
  });

  it('lets a valid key through to the handler', async () => {
    expect(await get('/jobs/unknown', runtime.apiKey)).toMatchObject({ status: 404, json: { error: { code: 'JOB_NOT_FOUND' } } });
  });

  it("throttles a key over its plan's rate with 429, JSON and Retry-After, and lets it in again once the bucket refills", async () => {
    const key = runtime.apiKeys.bursty;
    // Sent at once: the bucket holds 2 tokens and refills 1 a second, so 2 get through and 2 are throttled.
    const answers = (await Promise.all([1, 2, 3, 4].map(() => get('/jobs/unknown', key)))).sort((a, b) => a.status - b.status);
    expect(answers.map((a) => a.status)).toEqual([404, 404, 429, 429]);
    expect(answers[2].headers.get('retry-after')).toBe('1');
    expect(answers[2].json.error).toMatchObject({ code: 'THROTTLED' });
    // Another tenant is not affected.
    expect((await get('/jobs/unknown', runtime.apiKey)).status).toBe(404);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get('/jobs/unknown', key)).status).toBe(404);
  });

  it('refuses a key whose quota is spent with 429 QUOTA_EXCEEDED and Retry-After', async () => {
    const key = runtime.apiKeys.capped;
    for (let i = 0; i < 3; i++) expect((await get('/jobs/unknown', key)).status).toBe(404);
    const over = await get('/jobs/unknown', key);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('3600');
    expect(over.json.error).toMatchObject({ code: 'QUOTA_EXCEEDED' });
  });
});
