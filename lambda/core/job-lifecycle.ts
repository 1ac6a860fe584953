import { isExpired, isTerminal, type Job } from './job';
import type { ResiliencePolicy } from './settings';

/*
 * The timing rules that keep every accepted job moving, pure. What moves a job is a queue message: the submit sends
 * it before the job is recorded, a worker acknowledges it only after the job is terminal and announced (or after a
 * new message carries the job on), and a message that exhausts its receives goes to the dead-letter handler. A job
 * off that path (put back by the dead-letter handler, failed by it, or given back by a worker) also carries
 * `sweepAt`: the time by which something should have moved it on, plus a grace period. The sweep
 * (lambda/core/job-sweep.ts) acts only on those, when `sweepAt` has passed: it announces what is owed and fails
 * what outlived its deadline, so no job is ever left to a lease or a message that no longer moves it.
 */

type Timing = Pick<ResiliencePolicy, 'sweepGraceSeconds' | 'jobDeadlineSeconds'>;

const graceMs = (policy: Pick<ResiliencePolicy, 'sweepGraceSeconds'>) => policy.sweepGraceSeconds * 1000;

/** When the sweep should look at a job that is due to move at `dueAt` (epoch ms) if nothing has moved it by then. */
export function sweepAtFor(dueAt: number, policy: Pick<ResiliencePolicy, 'sweepGraceSeconds'>): number {
  return dueAt + graceMs(policy);
}

/** A job's time from submission to its deadline: its own (a batch's, an async model's), else the policy's. */
export function deadlineSecondsOf(job: Pick<Job, 'deadlineSeconds'>, policy: Pick<ResiliencePolicy, 'jobDeadlineSeconds'>): number {
  return job.deadlineSeconds ?? policy.jobDeadlineSeconds;
}

/** Epoch ms at which a job that has not finished is failed (JOB_DEADLINE_EXCEEDED). */
export function deadlineOf(job: Pick<Job, 'createdAt' | 'deadlineSeconds'>, policy: Pick<ResiliencePolicy, 'jobDeadlineSeconds'>): number {
  return Date.parse(job.createdAt) + deadlineSecondsOf(job, policy) * 1000;
}

/** Whole seconds (at least 1) from `now` to the job's deadline: the longest a delay before its next step may be. */
export function secondsToDeadline(job: Pick<Job, 'createdAt' | 'deadlineSeconds'>, policy: Pick<ResiliencePolicy, 'jobDeadlineSeconds'>, now: Date): number {
  return Math.max(1, Math.ceil((deadlineOf(job, policy) - now.getTime()) / 1000));
}

/**
 * Whether a job claimed at `now` is too late to run: past its deadline, it fails without a model call. Except an
 * async invocation Bedrock is already running: its output may be ready, so its poll looks once more first
 * (lambda/core/async-invocation.ts), then fails it if not.
 */
export function tooLateToRun(job: Pick<Job, 'createdAt' | 'deadlineSeconds' | 'asyncInvocation'>, now: Date, policy: Pick<ResiliencePolicy, 'jobDeadlineSeconds'>): boolean {
  return job.asyncInvocation === undefined && now.getTime() >= deadlineOf(job, policy);
}

/**
 * Delay before a crashed delivery is received again (each receive spends one of `maxReceiveCount`): minutes, and
 * doubling, so an outage of a few minutes in DynamoDB, SQS or SNS does not walk a healthy job into the DLQ.
 */
export function redeliveryDelaySeconds(receiveCount: number, policy: Pick<ResiliencePolicy, 'redelivery'>): number {
  const { baseDelaySeconds, maxDelaySeconds } = policy.redelivery;
  return Math.min(maxDelaySeconds, baseDelaySeconds * 2 ** Math.max(0, receiveCount - 1));
}

/**
 * How long after a job's submission a message may arrive before its job is recorded: the submit sends the message
 * first, then writes the job, within one invocation of the submit function (whose timeout is under API Gateway's
 * 29 s integration limit). Past this, a message that finds no job belongs to a submit that failed: it is dropped.
 */
export const SUBMIT_RECORD_GRACE_MS = 120_000;

/** What a worker does with a delivery whose claim (QUEUED -> RUNNING) was refused. */
export type RefusedClaim =
  | { kind: 'gone' }
  /** A conflicting replay's message (another request under the same Idempotency-Key): it never runs the job. */
  | { kind: 'not-this-request' }
  /** No job yet, and its submit may still be writing it: look again shortly (a new message, no receive spent). */
  | { kind: 'not-yet-recorded'; retryInSeconds: number }
  | { kind: 'already-finished' }
  /**
   * Terminal, and this message is the one that finished it: that delivery failed after its terminal write (maybe
   * before publishing), so this one publishes (again: events are at least once).
   */
  | { kind: 'publish-owed-event' }
  /** Another delivery holds a live lease: come back when it ends, on a new message (spends no receive). */
  | { kind: 'held-by-another-worker'; retryInSeconds: number }
  /** An async job expects another poll's message (this one is a duplicate, or was superseded): drop it. */
  | { kind: 'superseded' };

export function afterRefusedClaim(job: Job | undefined, message: { messageId: string; requestHash?: string; createdAt?: string; poll?: number }, now: Date): RefusedClaim {
  if (!job || isExpired(job, now)) {
    const submittedAt = message.createdAt ? Date.parse(message.createdAt) : NaN;
    const ageMs = now.getTime() - submittedAt;
    // Usually the record lands within milliseconds: look again soon, then less often.
    return ageMs < SUBMIT_RECORD_GRACE_MS ? { kind: 'not-yet-recorded', retryInSeconds: Math.min(30, Math.max(2, Math.ceil(ageMs / 2000))) } : { kind: 'gone' };
  }
  if (message.requestHash !== undefined && message.requestHash !== job.requestHash) return { kind: 'not-this-request' };
  const { messageId } = message;
  if (isTerminal(job.status)) {
    // Another message (a duplicate) never publishes: the finisher's own message, or the sweep, does.
    return job.lastMessageId === messageId && !job.eventPublishedAt ? { kind: 'publish-owed-event' } : { kind: 'already-finished' };
  }
  const leaseEnds = job.lease?.expiresAt ?? now.getTime();
  // With no live lease, only the poll number can have refused the claim: another message carries the job on.
  if (leaseEnds <= now.getTime() && job.asyncInvocation && message.poll !== job.asyncInvocation.polls && job.lastMessageId !== messageId) return { kind: 'superseded' };
  return { kind: 'held-by-another-worker', retryInSeconds: Math.min(900, Math.max(1, Math.ceil((leaseEnds - now.getTime()) / 1000) + 1)) };
}

/** What the sweep does with a job whose `sweepAt` has passed. */
export type SweepAction =
  | { kind: 'announce' }
  /** Nothing is owed any more (a late index entry): drop it from the index. */
  | { kind: 'forget' }
  | { kind: 'fail-past-deadline' }
  /** Still held, or waiting for its message: look again later (at the deadline at the latest). */
  | { kind: 'look-later'; nextSweepAt: number };

export function decideSweep(job: Job, now: Date, policy: Timing): SweepAction {
  const t = now.getTime();
  if (isTerminal(job.status)) return job.eventPublishedAt ? { kind: 'forget' } : { kind: 'announce' };
  const leaseLive = job.status === 'RUNNING' && (job.lease?.expiresAt ?? 0) > t;
  if (leaseLive) return { kind: 'look-later', nextSweepAt: Math.min(sweepAtFor(job.lease!.expiresAt, policy), Math.max(deadlineOf(job, policy), t + 1)) };
  if (t >= deadlineOf(job, policy)) return { kind: 'fail-past-deadline' };
  // A queued job's message is on the queue (messages are sent before the job is recorded, and a worker lets go of
  // one only once another carries the job on): a backlog, or a delay, holds it. Sending another cannot make it
  // sooner (and a small request travels only in its message); the deadline is what the sweep enforces.
  return { kind: 'look-later', nextSweepAt: deadlineOf(job, policy) };
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
