import { JobNotCancellableError, JobNotFoundError } from './errors';
import type { Job } from './job';
import { sweepAtFor } from './job-lifecycle';
import { announce } from './job-settlement';
import type { BatchTally, Clock, JobLog, JobStore, TerminalEventPublisher } from './ports';
import type { ResiliencePolicy } from './settings';

/*
 * DELETE /jobs/{jobId}: QUEUED -> CANCELLED, a conditional write like every transition, so a job a worker claimed
 * meanwhile is never cancelled under it (it is then 409 JOB_NOT_CANCELLABLE). The cancelled job enters the sweep
 * index until its `job.cancelled` event is on SNS, so the event is owed even if this call dies after the write. Its
 * message may still be on the queue: the worker's claim, conditional on QUEUED, is refused and the message dropped.
 */

export interface CancelDeps {
  store: JobStore;
  events: TerminalEventPublisher;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  log: JobLog;
  policy: Pick<ResiliencePolicy, 'sweepGraceSeconds'>;
  batches?: BatchTally;
}

/** The job, CANCELLED (again, for a job cancelled before: cancelling is idempotent). */
export async function cancelJob(jobId: string, tenant: string, remainingMillis: () => number, deps: CancelDeps): Promise<Job> {
  const now = deps.clock();
  const job = /^[A-Za-z0-9-]{1,64}$/.test(jobId) ? await deps.store.get(jobId, now) : undefined;
  // Another tenant's job answers exactly like an unknown one.
  if (!job || job.tenant !== tenant) throw new JobNotFoundError(jobId);
  const cancelled = job.status === 'QUEUED' ? ((await deps.store.markCancelled(jobId, sweepAtFor(now.getTime(), deps.policy), now)) ?? (await deps.store.get(jobId, now))) : job;
  if (!cancelled || cancelled.status !== 'CANCELLED') throw new JobNotCancellableError(jobId, cancelled?.status ?? job.status);
  if (!cancelled.eventPublishedAt) {
    // The sweep publishes it if this fails: the job stays in the sweep index until the publish is recorded.
    await announce(cancelled, remainingMillis, deps, 'by-index').catch((error: Error) => deps.log.warn('cancel event not published yet; the sweep will', { jobId, error: error.name }));
  }
  if (cancelled !== job) deps.log.info('job cancelled', { jobId, tenant, route: job.route });
  return cancelled;
}
