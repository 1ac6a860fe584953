import { decideSweep, sweepAtFor } from './job-lifecycle';
import type { JobError } from './job';
import { announce } from './job-settlement';
import type { BatchTally, Clock, JobLog, JobStore, SweepIndex, TerminalEventPublisher } from './ports';
import type { ResiliencePolicy } from './settings';

/*
 * The sweep: a scheduled safety net under the normal path. It looks only at jobs past their `sweepAt` (the sparse
 * index), so its cost follows what went wrong, not the table's size. Every action is conditional on the job not
 * having moved meanwhile, so the sweep can never race a worker into a second completion.
 */

export interface SweepDeps {
  store: JobStore;
  index: SweepIndex;
  events: TerminalEventPublisher;
  log: JobLog;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  policy: ResiliencePolicy;
  batches?: BatchTally;
}

export interface SweepReport {
  /** Jobs past their sweep time. */
  due: number;
  /** Failed with JOB_DEADLINE_EXCEEDED. */
  pastDeadline: number;
  /** Terminal jobs whose event was still owed, announced. */
  announced: number;
  /** Jobs moved on by someone else meanwhile, or still legitimately held. */
  untouched: number;
  /** Jobs the sweep could not settle this time (a store, queue or topic error); they stay due. */
  errors: number;
}

/** Most jobs one run settles; the rest stay due for the next run. */
export const SWEEP_BATCH_LIMIT = 500;

export async function sweepDueJobs(remainingMillis: () => number, deps: SweepDeps, limit = SWEEP_BATCH_LIMIT): Promise<SweepReport> {
  const report: SweepReport = { due: 0, pastDeadline: 0, announced: 0, untouched: 0, errors: 0 };
  const ids = await deps.index.dueForSweep(deps.clock(), limit);
  report.due = ids.length;
  for (const jobId of ids) {
    if (remainingMillis() < 5_000) break;
    try {
      report[await sweepJob(jobId, remainingMillis, deps)]++;
    } catch (error) {
      report.errors++;
      deps.log.warn('sweep could not settle a job', { jobId, error: (error as Error).name });
    }
  }
  return report;
}

type SweepResult = 'pastDeadline' | 'announced' | 'untouched';

async function sweepJob(jobId: string, remainingMillis: () => number, deps: SweepDeps): Promise<SweepResult> {
  const now = deps.clock();
  const job = await deps.store.get(jobId, now);
  if (!job || job.sweepAt === undefined) return 'untouched';
  const action = decideSweep(job, now, deps.policy);
  switch (action.kind) {
    case 'announce':
      await announce(job, remainingMillis, deps, 'by-index');
      deps.log.warn('sweep announced a finished job whose event was owed', { jobId, status: job.status });
      return 'announced';
    case 'forget':
      await deps.store.markEventPublished(jobId, now);
      return 'untouched';
    case 'look-later':
      await deps.store.rescheduleSweep(jobId, job.sweepAt, action.nextSweepAt, false);
      return 'untouched';
    case 'fail-past-deadline': {
      const lastCode = job.attempts.at(-1)?.errorCode;
      const error: JobError = { code: 'JOB_DEADLINE_EXCEEDED', message: `The job did not finish within ${deps.policy.jobDeadlineSeconds}s of submission${lastCode ? ` (last error: ${lastCode})` : ''}.` };
      const failed = await deps.store.markAbandoned(jobId, error, sweepAtFor(now.getTime(), deps.policy), now);
      if (!failed) return 'untouched';
      deps.log.warn('sweep failed a job past its deadline', { jobId, status: job.status });
      await announce(failed, remainingMillis, deps, 'by-index');
      return 'pastDeadline';
    }
  }
}
