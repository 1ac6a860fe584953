import { isExpired, isTerminal, type Job } from './job';
import type { ResiliencePolicy } from './settings';

/*
 * The timing rules that keep every accepted job moving, pure. Each non-terminal job (and each terminal job whose
 * event is still owed) carries `sweepAt`: the time by which something should have moved it on (its lease ended,
 * its requeue came due, its event was published), plus a grace period. The normal path always gets there first;
 * the sweep (lambda/core/job-sweep.ts) acts only on jobs whose `sweepAt` has passed, so no job is ever left to a
 * lease or a queue message that no longer exists.
 */

type Timing = Pick<ResiliencePolicy, 'sweepGraceSeconds' | 'jobDeadlineSeconds'>;

const graceMs = (policy: Pick<ResiliencePolicy, 'sweepGraceSeconds'>) => policy.sweepGraceSeconds * 1000;

/** When the sweep should look at a job that is due to move at `dueAt` (epoch ms) if nothing has moved it by then. */
export function sweepAtFor(dueAt: number, policy: Pick<ResiliencePolicy, 'sweepGraceSeconds'>): number {
  return dueAt + graceMs(policy);
}

/** Epoch ms at which a job that has not finished is failed (JOB_DEADLINE_EXCEEDED). */
export function deadlineOf(job: Pick<Job, 'createdAt'>, policy: Pick<ResiliencePolicy, 'jobDeadlineSeconds'>): number {
  return Date.parse(job.createdAt) + policy.jobDeadlineSeconds * 1000;
}

/**
 * Delay before a crashed delivery is received again (each receive spends one of `maxReceiveCount`): minutes, and
 * doubling, so an outage of a few minutes in DynamoDB, SQS or SNS does not walk a healthy job into the DLQ.
 */
export function redeliveryDelaySeconds(receiveCount: number, policy: Pick<ResiliencePolicy, 'redelivery'>): number {
  const { baseDelaySeconds, maxDelaySeconds } = policy.redelivery;
  return Math.min(maxDelaySeconds, baseDelaySeconds * 2 ** Math.max(0, receiveCount - 1));
}

/** What a worker does with a delivery whose claim (QUEUED -> RUNNING) was refused. */
export type RefusedClaim =
  | { kind: 'gone' }
  | { kind: 'already-finished' }
  /**
   * Terminal, and this message is the one that finished it: that delivery failed after its terminal write (maybe
   * before publishing), so this one publishes (again: events are at least once).
   */
  | { kind: 'publish-owed-event' }
  /** Another delivery holds a live lease: come back when it ends, on a new message (spends no receive). */
  | { kind: 'held-by-another-worker'; retryInSeconds: number };

export function afterRefusedClaim(job: Job | undefined, messageId: string, now: Date): RefusedClaim {
  if (!job || isExpired(job, now)) return { kind: 'gone' };
  if (isTerminal(job.status)) {
    // Another message (a duplicate) never publishes: the finisher's own message, or the sweep, does.
    return job.lastMessageId === messageId && !job.eventPublishedAt ? { kind: 'publish-owed-event' } : { kind: 'already-finished' };
  }
  const leaseEnds = job.lease?.expiresAt ?? now.getTime();
  return { kind: 'held-by-another-worker', retryInSeconds: Math.min(900, Math.max(1, Math.ceil((leaseEnds - now.getTime()) / 1000) + 1)) };
}

/** What the sweep does with a job whose `sweepAt` has passed. */
export type SweepAction =
  | { kind: 'announce' }
  /** Nothing is owed any more (a late index entry): drop it from the index. */
  | { kind: 'forget' }
  | { kind: 'fail-past-deadline' }
  /** Send a new queue message; look again at `nextSweepAt` if that one is lost too. */
  | { kind: 'requeue'; nextSweepAt: number }
  /** Still legitimately held or waiting: look again later. */
  | { kind: 'look-later'; nextSweepAt: number };

export function decideSweep(job: Job, now: Date, policy: Timing): SweepAction {
  const t = now.getTime();
  if (isTerminal(job.status)) return job.eventPublishedAt ? { kind: 'forget' } : { kind: 'announce' };
  const leaseLive = job.status === 'RUNNING' && (job.lease?.expiresAt ?? 0) > t;
  if (leaseLive) return { kind: 'look-later', nextSweepAt: Math.min(sweepAtFor(job.lease!.expiresAt, policy), Math.max(deadlineOf(job, policy), t + 1)) };
  if (t >= deadlineOf(job, policy)) return { kind: 'fail-past-deadline' };
  // Each re-enqueue waits longer before the next, so a deep but healthy backlog costs few duplicate messages; never
  // past the deadline, when the job must be failed on time.
  const backoff = graceMs(policy) * 2 ** Math.min(6, job.sweeps ?? 0);
  return { kind: 'requeue', nextSweepAt: Math.min(t + backoff, deadlineOf(job, policy)) };
}

/** What the dead-letter handler does with a job whose message exhausted its receives. */
export type DeadLetterAction = { kind: 'fail'; reason: 'past-deadline' | 'poison' } | { kind: 'requeue'; delaySeconds: number } | { kind: 'settled' };

/**
 * A dead letter is most often an infrastructure episode that outlasted the redelivery backoff, not a bad job: a job
 * still within its deadline goes back to the queue (at most `deadLetterRequeues` times); one that keeps coming back
 * is poison and fails, as does one past its deadline.
 */
export function afterDeadLetter(job: Job, now: Date, policy: Pick<ResiliencePolicy, 'jobDeadlineSeconds' | 'deadLetterRequeues' | 'redelivery'>): DeadLetterAction {
  if (isTerminal(job.status)) return { kind: 'settled' };
  if (now.getTime() >= deadlineOf(job, policy)) return { kind: 'fail', reason: 'past-deadline' };
  if ((job.deadLetters ?? 0) >= policy.deadLetterRequeues) return { kind: 'fail', reason: 'poison' };
  const secondsLeft = Math.floor((deadlineOf(job, policy) - now.getTime()) / 1000);
  return { kind: 'requeue', delaySeconds: Math.max(0, Math.min(900, policy.redelivery.maxDelaySeconds, secondsLeft)) };
}
