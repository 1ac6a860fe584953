import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { LocalRuntime } from '../../local/runtime';
import { MODELS, http, modelRequests, simulator, startPipeline, subscribeQueue, until } from './harness';

/*
 * Batches on the local runtime, over HTTP: accepted in one call, fanned out into jobs, counted, finished with a
 * results file in input order and one batch.completed event; bad lines reported by position; cancel; the OpenAI
 * batch line format's custom_id round-trips.
 */

let runtime: LocalRuntime;
let events: Awaited<ReturnType<typeof subscribeQueue>>;
const as = (tenant: string) => ({ 'x-api-key': runtime.apiKeys[tenant] });

beforeAll(async () => {
  // A failed batch message runs again after 1-2 s (not minutes): the fan-out fault test waits for it.
  runtime = await startPipeline({ tenants: { default: {}, acme: {}, globex: {} }, resilience: { redelivery: { baseDelaySeconds: 1, maxDelaySeconds: 2 } } });
  events = await subscribeQueue(runtime, 'batch-events');
}, 120_000);
afterAll(() => runtime?.stop());

const finishedBatch = (tenant: string, batchId: string, timeoutMs = 120_000) =>
  until(`batch ${batchId} to finish`, async () => {
    const res = await http(runtime, 'GET', `/batches/${batchId}`, undefined, as(tenant));
    return ['COMPLETED', 'CANCELLED'].includes(res.json?.status) ? res.json : undefined;
  }, timeoutMs, 250);

async function resultsOf(url: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.text()).trim().split('\n').map((line) => JSON.parse(line));
}

it('runs a 500-request batch to a results file whose lines match the inputs, in order, with one batch.completed event', async () => {
  const requests = Array.from({ length: 500 }, (_, i) => ({ customId: `row-${i}`, prompt: `Say ${i}`, metadata: { row: i } }));
  const started = Date.now();
  const accepted = await http(runtime, 'POST', '/batches', { requests, metadata: { source: 'crm' } }, as('acme'));
  expect(accepted.status).toBe(202);
  expect(accepted.json).toMatchObject({ batchId: expect.any(String), status: 'IN_PROGRESS', total: 500 });
  expect(accepted.headers.get('location')).toMatch(new RegExp(`^(/v1)?/batches/${accepted.json.batchId}$`));
  const { batchId } = accepted.json;
  // Another tenant cannot see it.
  expect(await http(runtime, 'GET', `/batches/${batchId}`, undefined, as('globex'))).toMatchObject({ status: 404, json: { error: { code: 'BATCH_NOT_FOUND' } } });

  const done = await finishedBatch('acme', batchId);
  expect(done).toMatchObject({ status: 'COMPLETED', total: 500, counts: { queued: 0, running: 0, succeeded: 500, failed: 0, cancelled: 0 }, metadata: { source: 'crm' } });
  const lines = await resultsOf(done.resultsUrl);
  expect(lines).toHaveLength(500);
  lines.forEach((line, i) => {
    expect(line).toMatchObject({ customId: `row-${i}`, jobId: expect.any(String), status: 'SUCCEEDED', result: { text: expect.any(String), stopReason: expect.any(String) } });
  });
  expect(new Set(lines.map((l) => l.jobId)).size).toBe(500);

  // Each job carries its batch, line id and the batch's metadata beneath its own.
  const job = await http(runtime, 'GET', `/jobs/${lines[7].jobId}`, undefined, as('acme'));
  expect(job.json).toMatchObject({ status: 'SUCCEEDED', batchId, customId: 'row-7', metadata: { source: 'crm', row: 7 } });

  // Listed by batch, in input order, a page at a time.
  const first = await http(runtime, 'GET', `/jobs?batchId=${batchId}&limit=3`, undefined, as('acme'));
  expect(first.json.jobs.map((j: { customId: string }) => j.customId)).toEqual(['row-0', 'row-1', 'row-2']);
  const second = await http(runtime, 'GET', `/jobs?batchId=${batchId}&limit=3&nextToken=${first.json.nextToken}`, undefined, as('acme'));
  expect(second.json.jobs.map((j: { customId: string }) => j.customId)).toEqual(['row-3', 'row-4', 'row-5']);
  expect(await http(runtime, 'GET', `/jobs?batchId=${batchId}`, undefined, as('globex'))).toMatchObject({ status: 404, json: { error: { code: 'BATCH_NOT_FOUND' } } });
  // A batch listing's token does not serve another listing.
  expect(await http(runtime, 'GET', `/jobs?nextToken=${first.json.nextToken}`, undefined, as('acme'))).toMatchObject({ status: 400, json: { error: { details: [{ path: 'nextToken' }] } } });

  const announced = await until('the batch event', async () => {
    const all = (await events.drain()).map((m) => JSON.parse(m.Body!));
    const mine = all.filter((e) => e.type === 'batch.completed' && e.batchId === batchId);
    return mine.length ? mine : undefined;
  });
  expect(announced).toHaveLength(1);
  expect(announced[0]).toMatchObject({ status: 'COMPLETED', tenant: 'acme', total: 500, counts: { succeeded: 500 }, resultsLocation: { key: `batches/${batchId}/results.jsonl` } });
  // Job events carry the batch and the line's id.
  const jobEvents = (await events.drain()).map((m) => JSON.parse(m.Body!)).filter((e) => e.batchId === batchId && e.type === 'job.succeeded');
  expect(jobEvents.find((e) => e.customId === 'row-3')).toMatchObject({ jobId: lines[3].jobId });
  process.stdout.write(`500-request batch: ${Date.now() - started} ms\n`);
}, 180_000);

it('resumes a fan-out whose sends failed mid-way (SQS refusing them) without a duplicate or a missing job', async () => {
  // The second step's SendMessageBatch call that carries line 150 fails (every SDK attempt): that step has written
  // its jobs and sent some of their messages, not its cursor. The batch message runs again and carries on.
  const marker = `fanout-fault-${Date.now()}`;
  const rule = runtime.faults.add({ service: 'sqs', operations: ['SendMessageBatch'], bodyIncludes: [marker], error: 'internal', count: 3 });
  const requests = Array.from({ length: 400 }, (_, i) => ({ customId: `r${i}`, prompt: i === 150 ? `Say ${i} ${marker}` : `Say ${i}` }));
  const before = await modelRequests(runtime, MODELS.sonnet);
  const accepted = await http(runtime, 'POST', '/batches', { requests }, as('acme'));
  expect(accepted.status).toBe(202);
  const done = await finishedBatch('acme', accepted.json.batchId);
  expect(runtime.faults.rules().find((r) => r.id === rule)).toMatchObject({ injected: 3 });
  expect(done).toMatchObject({ status: 'COMPLETED', counts: { succeeded: 400, failed: 0, cancelled: 0 } });
  const lines = await resultsOf(done.resultsUrl);
  expect(lines.map((l) => l.customId)).toEqual(requests.map((r) => r.customId));
  expect(new Set(lines.map((l) => l.jobId)).size).toBe(400);
  // Every line reached the model once: no job was created twice or ran twice.
  expect((await modelRequests(runtime, MODELS.sonnet)) - before).toBe(400);
}, 180_000);

it('refuses a batch with bad requests, naming each by position, and keeps nothing', async () => {
  const res = await http(runtime, 'POST', '/batches', { requests: [{ customId: 'a', prompt: 'ok' }, { customId: 'b', prompt: 42 }, { prompt: 'no id' }, { customId: 'a', prompt: 'again' }] }, as('acme'));
  expect(res.status).toBe(400);
  expect(res.json.error.code).toBe('VALIDATION_ERROR');
  expect(res.json.error.details).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ path: 'requests.1.prompt' }),
      expect.objectContaining({ path: 'requests.2.customId', message: 'is required' }),
      expect.objectContaining({ path: 'requests.3.customId', message: 'repeats the id of requests.0' }),
    ]),
  );
  expect(await http(runtime, 'POST', '/batches', { requests: [] }, as('acme'))).toMatchObject({ status: 400, json: { error: { details: [expect.objectContaining({ path: 'requests' })] } } });
  expect(await http(runtime, 'POST', '/batches', { requests: [{ customId: 'x', prompt: 'y' }], extra: 1 }, as('acme'))).toMatchObject({ status: 400 });
});

it('reads a JSONL input from the inputs bucket, and reports its bad lines by line number', async () => {
  const bucket = runtime.resources.inputsBucket!;
  const put = (key: string, body: string) => runtime.clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  await put('acme/bad.jsonl', ['{"customId":"1","prompt":"fine"}', '', '{"customId":"2","prompt":"x","temperature":9}', 'not json', '{"customId":"3","prompt":"fine"}'].join('\n'));
  const bad = await http(runtime, 'POST', '/batches', { inputUri: `s3://${bucket}/acme/bad.jsonl` }, as('acme'));
  expect(bad.status).toBe(400);
  expect(bad.json.error.details).toEqual([expect.objectContaining({ line: 3, path: 'temperature' }), { line: 4, path: '(line)', message: 'is not a JSON object' }]);
  // Another tenant's prefix, and a missing object.
  expect(await http(runtime, 'POST', '/batches', { inputUri: `s3://${bucket}/acme/bad.jsonl` }, as('globex'))).toMatchObject({ status: 400, json: { error: { details: [expect.objectContaining({ path: 'inputUri' })] } } });
  expect(await http(runtime, 'POST', '/batches', { inputUri: `s3://${bucket}/acme/missing.jsonl` }, as('acme'))).toMatchObject({ status: 422, json: { error: { code: 'INPUT_NOT_READABLE' } } });

  await put('acme/good.jsonl', ['{"customId":"first","prompt":"one"}', '{"customId":"second","prompt":"two"}'].join('\n') + '\n');
  const good = await http(runtime, 'POST', '/batches', { inputUri: `s3://${bucket}/acme/good.jsonl` }, as('acme'));
  expect(good).toMatchObject({ status: 202, json: { total: 2 } });
  const done = await finishedBatch('acme', good.json.batchId);
  expect((await resultsOf(done.resultsUrl)).map((l) => [l.customId, l.status])).toEqual([['first', 'SUCCEEDED'], ['second', 'SUCCEEDED']]);
});

it('round-trips the OpenAI batch line format: custom_id in, a chat.completion per line out', async () => {
  const requests = ['alpha', 'beta', 'gamma'].map((id) => ({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'claude-haiku', messages: [{ role: 'user', content: `Hi ${id}` }], max_tokens: 50 } }));
  const accepted = await http(runtime, 'POST', '/batches', { requests }, as('acme'));
  expect(accepted.status).toBe(202);
  const done = await finishedBatch('acme', accepted.json.batchId);
  const lines = await resultsOf(done.resultsUrl);
  expect(lines.map((l) => l.custom_id)).toEqual(['alpha', 'beta', 'gamma']);
  for (const line of lines) {
    expect(line).toMatchObject({ id: expect.stringMatching(/^batch_req_/), response: { status_code: 200, body: { object: 'chat.completion', model: MODELS.haiku, choices: [{ message: { role: 'assistant', content: expect.any(String) } }] } }, error: null });
  }
  const badModel = await http(runtime, 'POST', '/batches', { requests: [{ ...requests[0], body: { ...requests[0].body, model: 'nope' } }] }, as('acme'));
  expect(badModel).toMatchObject({ status: 400, json: { error: { details: [expect.objectContaining({ path: 'requests.0.body.model' })] } } });
});

it('cancels the jobs of a batch that have not started; the batch ends CANCELLED with every line accounted for', async () => {
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODELS.sonnet)}`, { latencyMs: { firstToken: 1500, perToken: 0 } });
  const before = await modelRequests(runtime, MODELS.sonnet);
  const requests = Array.from({ length: 300 }, (_, i) => ({ customId: `c${i}`, prompt: `slow ${i}`, route: 'generate' }));
  const accepted = await http(runtime, 'POST', '/batches', { requests }, as('acme'));
  const { batchId } = accepted.json;
  await until('some jobs to start', async () => ((await http(runtime, 'GET', `/batches/${batchId}`, undefined, as('acme'))).json.counts.running > 0 ? true : undefined));
  const cancelling = await http(runtime, 'DELETE', `/batches/${batchId}`, undefined, as('acme'));
  expect(cancelling).toMatchObject({ status: 200, json: { batchId, status: 'CANCELLING' } });
  const done = await finishedBatch('acme', batchId);
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODELS.sonnet)}`, { latencyMs: { firstToken: 0, perToken: 0 } });
  expect(done.status).toBe('CANCELLED');
  const { succeeded, failed, cancelled, queued, running } = done.counts;
  expect(succeeded + failed + cancelled).toBe(300);
  expect(queued + running).toBe(0);
  expect(cancelled).toBeGreaterThan(100);
  const lines = await resultsOf(done.resultsUrl);
  expect(lines.map((l) => l.customId)).toEqual(requests.map((r) => r.customId));
  expect(lines.filter((l) => l.status === 'CANCELLED')).toHaveLength(cancelled);
  // The cancelled lines never reached the model: listed by batch and status, none has an attempt.
  const cancelledJobs: { jobId: string }[] = [];
  let token: string | undefined;
  do {
    const page = await http(runtime, 'GET', `/jobs?batchId=${batchId}&status=CANCELLED&limit=100${token ? `&nextToken=${token}` : ''}`, undefined, as('acme'));
    cancelledJobs.push(...page.json.jobs);
    token = page.json.nextToken;
  } while (token);
  expect(cancelledJobs).toHaveLength(cancelled);
  for (const { jobId } of cancelledJobs.slice(0, 20)) expect((await http(runtime, 'GET', `/jobs/${jobId}`, undefined, as('acme'))).json).toMatchObject({ status: 'CANCELLED', attempts: [] });
  expect(await modelRequests(runtime, MODELS.sonnet)).toBeGreaterThan(before);
  expect(await http(runtime, 'DELETE', `/batches/${batchId}`, undefined, as('acme'))).toMatchObject({ status: 409, json: { error: { code: 'BATCH_NOT_CANCELLABLE' } } });
}, 180_000);
