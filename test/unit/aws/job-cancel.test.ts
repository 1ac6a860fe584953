import { cancelJob } from '../../../lambda/core/job-cancel';
import { processDelivery } from '../../../lambda/core/job-processing';
import { sweepDueJobs } from '../../../lambda/core/job-sweep';
import type { JobStore } from '../../../lambda/core/ports';
import { DEFAULT_RESILIENCE } from '../../../lambda/core/settings';
import { delivery, harness, queuedJob, store, useJobsTable } from './processing-harness';

/*
 * Cancelling against real conditional writes (dynalite): a cancel never lands on a job a worker claimed, a cancelled
 * job's message never reaches the model, and the job.cancelled event is owed (the sweep publishes it) even when the
 * topic is down during the cancel.
 */

useJobsTable();

const policy = { ...DEFAULT_RESILIENCE, sweepGraceSeconds: 60 };
const topicDown = () => Object.assign(new Error('internal'), { name: 'InternalErrorException', $metadata: { httpStatusCode: 500 } });

it('cancels a queued job once; its delivery is skipped without a model call and publishes nothing', async () => {
  const job = await queuedJob();
  const h = harness(undefined, { policy });
  const cancelled = await cancelJob(job.jobId, 'default', () => 10_000, h.deps);
  expect(cancelled).toMatchObject({ status: 'CANCELLED' });
  expect(h.published.map((j) => [j.jobId, j.status])).toEqual([[job.jobId, 'CANCELLED']]);
  // Recorded as published: the job left the sweep index.
  expect(await store.get(job.jobId, new Date())).toMatchObject({ status: 'CANCELLED', eventPublishedAt: expect.any(String) });
  expect((await store.get(job.jobId, new Date()))?.sweepAt).toBeUndefined();

  expect(await processDelivery(delivery(job.jobId), h.deps)).toEqual({ kind: 'skipped', reason: 'already-finished' });
  expect(h.modelCalls()).toBe(0);
  // Again: the same job, no second event.
  expect(await cancelJob(job.jobId, 'default', () => 10_000, h.deps)).toMatchObject({ status: 'CANCELLED' });
  expect(h.published).toHaveLength(1);
});

it('refuses a job claimed between its read and the cancel, naming its status', async () => {
  const job = await queuedJob();
  const h = harness(undefined, { policy });
  // The claim lands just before the conditional write.
  const racing: JobStore = Object.assign(Object.create(store) as JobStore, {
    markCancelled: async (jobId: string, sweepAt: number, now: Date) => {
      await store.claim(jobId, { owner: 'worker', messageId: 'm', receiveCount: 1 }, { expiresAt: Date.now() + 60_000 }, new Date());
      return store.markCancelled(jobId, sweepAt, now);
    },
  });
  await expect(cancelJob(job.jobId, 'default', () => 10_000, { ...h.deps, store: racing })).rejects.toMatchObject({ code: 'JOB_NOT_CANCELLABLE', httpStatus: 409, details: [{ path: 'status', message: 'RUNNING' }] });
  expect((await store.get(job.jobId, new Date()))?.status).toBe('RUNNING');
  expect(h.published).toEqual([]);
});

it("answers another tenant's job as unknown", async () => {
  const job = await queuedJob({ tenant: 'acme' });
  await expect(cancelJob(job.jobId, 'globex', () => 10_000, harness().deps)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  expect((await store.get(job.jobId, new Date()))?.status).toBe('QUEUED');
});

it('keeps the event owed when the topic is down: the cancel stands and the sweep announces it', async () => {
  const job = await queuedJob();
  const down = harness(undefined, { policy, events: { publishTerminal: async () => Promise.reject(topicDown()) } });
  let left = 3_000;
  expect(await cancelJob(job.jobId, 'default', () => (left -= 1_000), down.deps)).toMatchObject({ status: 'CANCELLED' });
  const owed = await store.get(job.jobId, new Date());
  expect(owed).toMatchObject({ status: 'CANCELLED' });
  expect(owed?.eventPublishedAt).toBeUndefined();

  const later = new Date(owed!.sweepAt! + 1);
  const up = harness(undefined, { policy, clock: () => later });
  expect((await sweepDueJobs(() => 30_000, { ...up.deps, index: store })).announced).toBeGreaterThanOrEqual(1);
  expect(up.published.filter((j) => j.jobId === job.jobId).map((j) => j.status)).toEqual(['CANCELLED']);
});
