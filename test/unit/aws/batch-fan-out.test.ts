import { BatchRepository } from '../../../lambda/aws/batch-store';
import { batchJobId, type Batch, type BatchLine } from '../../../lambda/core/batch';
import { runBatchMessage, type BatchRunnerDeps } from '../../../lambda/core/batch-runner';
import type { JobMessage } from '../../../lambda/core/ports';
import { DEFAULT_RESILIENCE } from '../../../lambda/core/settings';
import { harness, store, useJobsTable } from './processing-harness';
import { startJobsTable } from './dynalite';

/*
 * The fan-out against real conditional writes (dynalite): a fan-out that crashes mid-way (its queue refusing to
 * send) and runs again from its message creates every job exactly once and leaves none without a message.
 */

useJobsTable();
let batches: BatchRepository;
let table: Awaited<ReturnType<typeof startJobsTable>>;
beforeAll(async () => {
  table = await startJobsTable('batches');
  batches = new BatchRepository(table.client, table.tableName);
});
afterAll(() => table.stop());

const TOTAL = 250;
const lines: BatchLine[] = Array.from({ length: TOTAL }, (_, i) => ({ customId: `c${i}`, route: 'generate', modelId: 'model-a', request: { messages: [{ role: 'user', content: [{ text: `line ${i}` }] }] }, requestHash: `h${i}` }));

function runner(sent: JobMessage[], failAfterSends: number) {
  let sends = 0;
  const h = harness();
  const deps: BatchRunnerDeps = {
    batches,
    files: { getRequests: async () => lines, putResults: async (id) => `batches/${id}/results.jsonl` },
    queue: { send: async () => {} },
    jobs: store,
    jobQueue: {
      enqueueMany: async (messages) => {
        if (++sends > failAfterSends) throw Object.assign(new Error('SQS down'), { name: 'InternalError' });
        sent.push(...messages);
      },
    },
    results: { text: async () => undefined },
    events: { ...h.deps.events, publishBatch: async () => {} },
    tally: { started: async () => {}, ended: async () => {} },
    resultsBucket: 'results',
    jobTtlDays: 1,
    jobDeadlineSeconds: 86_400,
    policy: DEFAULT_RESILIENCE,
    clock: () => new Date(),
    sleep: async () => {},
    log: { info: () => {}, warn: () => {}, error: () => {} },
  };
  return deps;
}

it('resumes a crashed fan-out without a duplicate or a missing job', async () => {
  const now = new Date();
  const batch: Batch = { batchId: 'b-crash', tenant: 'acme', status: 'IN_PROGRESS', format: 'quarry', total: TOTAL, createdAt: now.toISOString(), updatedAt: now.toISOString(), requestsKey: 'k', fannedOut: 0, requestHash: 'x', expiresAt: Math.floor(Date.now() / 1000) + 3600 };
  expect(await batches.create(batch)).toEqual({ created: true });
  const sent: JobMessage[] = [];
  // The first chunk goes out; the second chunk's jobs are written, then its send fails: the delivery fails.
  await expect(runBatchMessage({ kind: 'fan-out', batchId: batch.batchId }, () => 60_000, runner(sent, 1))).rejects.toThrow('SQS down');
  expect((await batches.get(batch.batchId))?.fannedOut).toBe(100);
  // The redelivery picks up at the cursor.
  expect(await runBatchMessage({ kind: 'fan-out', batchId: batch.batchId }, () => 60_000, runner(sent, Infinity))).toBe('done');
  expect((await batches.get(batch.batchId))?.fannedOut).toBe(TOTAL);

  const ids = lines.map((_, seq) => batchJobId(batch.batchId, seq));
  const jobs = await store.getMany(ids, new Date());
  expect(jobs.size).toBe(TOTAL);
  expect([...jobs.values()].map((j) => j.customId).sort()).toEqual(lines.map((l) => l.customId).sort());
  expect([...jobs.values()].every((j) => j.status === 'QUEUED' && j.batchId === batch.batchId && j.sweepAt !== undefined)).toBe(true);
  // Every job has a message; none has two.
  expect(new Set(sent.map((m) => m.jobId))).toEqual(new Set(ids));
  expect(sent).toHaveLength(TOTAL);
  // A third run (a duplicate message) writes and sends nothing.
  expect(await runBatchMessage({ kind: 'fan-out', batchId: batch.batchId }, () => 60_000, runner(sent, Infinity))).toBe('skipped');
  expect(sent).toHaveLength(TOTAL);
});

it('stops fanning out once the batch is cancelled', async () => {
  const now = new Date();
  const batch: Batch = { batchId: 'b-cancel', tenant: 'acme', status: 'IN_PROGRESS', format: 'quarry', total: TOTAL, createdAt: now.toISOString(), updatedAt: now.toISOString(), requestsKey: 'k', fannedOut: 0, requestHash: 'x', expiresAt: Math.floor(Date.now() / 1000) + 3600 };
  await batches.create(batch);
  const sent: JobMessage[] = [];
  const deps = runner(sent, Infinity);
  const enqueue = deps.jobQueue.enqueueMany;
  deps.jobQueue.enqueueMany = async (messages) => {
    await enqueue(messages);
    await batches.requestCancel(batch.batchId, new Date());
  };
  expect(await runBatchMessage({ kind: 'fan-out', batchId: batch.batchId }, () => 60_000, deps)).toBe('done');
  expect(sent).toHaveLength(100);
  expect(await batches.get(batch.batchId)).toMatchObject({ status: 'CANCELLING', fannedOut: 0 });
});
