import { shouldOffloadResult } from './delivery';
import { afterDeadLetter, afterRefusedClaim, sweepAtFor } from './job-lifecycle';
import type { Attempt, Job, JobError, JobResult, ResultLocation } from './job';
import type { Delivery, DeliveryOutcome, ProcessingDeps } from './job-processing';
import { isCacheable, responseCacheKey } from './response-cache-key';
import { CALL_SAFETY_MARGIN_MS } from './retry-policy';
import type { JobMessage } from './ports';

/*
 * How a job's outcome is made durable and announced: the terminal write (after an S3 offload when the result is
 * large), then the event. Writes are retried within the invocation's time, so a short DynamoDB, S3 or SNS episode
 * does not throw away an answer that was paid for; past that, the delivery fails and its redelivery (which may take
 * over its own lease) finishes the job.
 */

const PERSIST_FIRST_DELAY_MS = 200;
const PERSIST_MAX_DELAY_MS = 5_000;

/**
 * Runs a write until it succeeds, backing off between tries while the invocation has time for another (the SDK's
 * own few retries are inside each try). The last error is thrown when time runs out.
 */
export async function persistently<T>(what: string, write: () => Promise<T>, remainingMillis: () => number, deps: Pick<ProcessingDeps, 'sleep' | 'log'>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const delayMs = Math.min(PERSIST_MAX_DELAY_MS, PERSIST_FIRST_DELAY_MS * 2 ** (attempt - 1));
      if (remainingMillis() - delayMs < CALL_SAFETY_MARGIN_MS) throw error;
      deps.log.warn(`${what} failed; trying again`, { attempt, retryInMs: delayMs, error: (error as Error).name });
      await deps.sleep(delayMs);
    }
  }
}

export async function finishSucceeded(job: Job, full: JobResult, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const text = full.text ?? '';
  let result = full;
  let resultLocation: ResultLocation | undefined;
  if (shouldOffloadResult(text, deps.resultInlineMaxBytes)) {
    resultLocation = await persistently('result offload', () => deps.results.put(job.jobId, full), delivery.remainingMillis, deps);
    const { text: _offloaded, ...summary } = full;
    result = summary;
  }
  const succeeded = await persistently(
    'terminal write',
    () => deps.store.markSucceeded(job.jobId, delivery.owner, { result, resultLocation, attempts, ...(job.routing && { routing: job.routing }) }, deps.clock()),
    delivery.remainingMillis,
    deps,
  );
  if (!succeeded) {
    deps.log.warn('lease lost before the result was recorded', { jobId: job.jobId });
    return { kind: 'skipped', reason: 'lease-lost' };
  }
  deps.log.info('job succeeded', {
    jobId: job.jobId,
    route: job.route,
    modelId: full.modelId,
    servedFrom: full.servedFrom ?? 'model',
    usage: full.usage,
    stopReason: full.stopReason,
    offloaded: resultLocation !== undefined,
    latencyMs: attempts.at(-1)?.latencyMs,
    calls: attempts.filter((a) => a.outcome !== 'skipped').length,
    ...(deps.logText && { prompt: job.request, completion: text }),
  });
  if (full.servedFrom !== 'cache' && isCacheable(job, deps.routing) && !resultLocation) {
    await deps.cache.put(responseCacheKey(job), { ...full, servedFrom: 'model' }, deps.clock()).catch((error: Error) => {
      deps.log.warn('could not fill the response cache', { jobId: job.jobId, error: error.name });
    });
  }
  await announce(succeeded, delivery.remainingMillis, deps, 'by-message');
  return { kind: 'finished', status: 'SUCCEEDED' };
}

export async function finishFailed(job: Job, error: JobError, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const failed = await persistently(
    'terminal write',
    () => deps.store.markFailed(job.jobId, delivery.owner, { error, attempts, ...(job.routing && { routing: job.routing }) }, deps.clock()),
    delivery.remainingMillis,
    deps,
  );
  if (!failed) return { kind: 'skipped', reason: 'lease-lost' };
  deps.log.info('job failed', { jobId: job.jobId, route: job.route, modelId: job.modelId, errorCode: error.code, attempts: failed.attempts.length });
  await announce(failed, delivery.remainingMillis, deps, 'by-message');
  return { kind: 'finished', status: 'FAILED' };
}

/**
 * Publishes the terminal event, at least once (a republish carries the same `eventId`). What guarantees it:
 * - `by-message`: a worker's terminal write; its queue message is acknowledged only after the publish, so if the
 *   worker dies or the publish fails, that message comes back and its redelivery publishes (no write needed);
 * - `by-index`: a terminal write the sweep or the dead-letter handler made; the job stays in the sweep index until
 *   the publish is recorded, so the sweep publishes it if this one fails.
 */
export async function announce(
  job: Job,
  remainingMillis: () => number,
  deps: Pick<ProcessingDeps, 'events' | 'clock' | 'sleep' | 'log' | 'batches'> & { store: Pick<ProcessingDeps['store'], 'markEventPublished'> },
  guarantee: 'by-message' | 'by-index',
): Promise<void> {
  await persistently('event publish', () => deps.events.publishTerminal(job, deps.clock()), remainingMillis, deps);
  // A batch job's end is counted on the same guarantee as its event (the count is idempotent: lambda/core/batch.ts).
  if (job.batchId !== undefined && deps.batches) await persistently('batch tally', () => deps.batches!.ended(job), remainingMillis, deps);
  if (guarantee === 'by-index') await persistently('event bookkeeping', () => deps.store.markEventPublished(job.jobId, deps.clock()), remainingMillis, deps);
}

/** A delivery whose claim was refused: publish an event still owed, come back when another holder's lease ends, or let go. */
export async function settleRefusedClaim(delivery: Delivery, existing: Job | undefined, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const decision = afterRefusedClaim(existing, delivery, deps.clock());
  switch (decision.kind) {
    case 'publish-owed-event':
      await announce(existing!, delivery.remainingMillis, deps, existing!.sweepAt === undefined ? 'by-message' : 'by-index');
      return { kind: 'finished', status: existing!.status };
    case 'held-by-another-worker':
    case 'not-yet-recorded':
      // Never let go of a job another delivery holds (if that one dies, this new message takes over after its
      // lease), nor of a message whose submit may still be recording its job.
      await deps.requeuer.requeue(messageOf(delivery), decision.retryInSeconds);
      deps.log.info('delivery deferred', { jobId: delivery.jobId, reason: decision.kind, retryInSeconds: decision.retryInSeconds });
      return { kind: 'skipped', reason: decision.kind };
    default:
      deps.log.info('delivery skipped', { jobId: delivery.jobId, reason: decision.kind });
      return { kind: 'skipped', reason: decision.kind };
  }
}

/** A step that puts a job back on the queue: what it records while the delivery holds the job, then the message it sends. */
export interface Requeue {
  /** The write that lets go of the job ("release", "invocation record"): falsy when the lease was lost. */
  record: { what: string; write: () => Promise<unknown> };
  message: JobMessage;
  delaySeconds: number;
  /** The log line saying why. */
  log: { message: string; fields: Record<string, unknown> };
}

/**
 * Records the job as let go of, then sends the message that carries it on after the delay. If the send fails, the
 * delivery fails and this message, which last held the job, is redelivered and may take it again.
 */
export async function requeue(step: Requeue, delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const recorded = await persistently(step.record.what, step.record.write, delivery.remainingMillis, deps);
  if (!recorded) return { kind: 'skipped', reason: 'lease-lost' };
  await deps.requeuer.requeue(step.message, step.delaySeconds);
  deps.observer.observe({ type: 'requeued', delaySeconds: step.delaySeconds });
  deps.log.info(step.log.message, { ...step.log.fields, delaySeconds: step.delaySeconds });
  return { kind: 'requeued', delaySeconds: step.delaySeconds };
}

/** The queue message that carries a delivery's job on (the same job, request and fingerprint). */
export function messageOf(delivery: Pick<Delivery, 'jobId' | 'tenant' | 'request' | 'requestHash' | 'createdAt'> & Pick<Partial<Delivery>, 'poll'>): JobMessage {
  return {
    jobId: delivery.jobId,
    ...(delivery.tenant && { tenant: delivery.tenant }),
    ...(delivery.requestHash !== undefined && { requestHash: delivery.requestHash }),
    ...(delivery.createdAt !== undefined && { createdAt: delivery.createdAt }),
    ...(delivery.request && { request: delivery.request }),
    ...(delivery.poll !== undefined && { poll: delivery.poll }),
  };
}

export type DeadLetterOutcome = { kind: 'failed'; reason: 'past-deadline' | 'poison' } | { kind: 'requeued'; delaySeconds: number } | { kind: 'skipped'; reason: string };

/**
 * A dead-lettered message. Its job goes back to the queue while it is within its deadline and has not been
 * dead-lettered too often (an infrastructure episode outlasted the redelivery backoff); otherwise it ends FAILED
 * (DEAD_LETTERED, or JOB_DEADLINE_EXCEEDED) and is announced.
 */
export async function handleDeadLetter(message: JobMessage, remainingMillis: () => number, deps: Pick<ProcessingDeps, 'store' | 'events' | 'requeuer' | 'log' | 'clock' | 'sleep' | 'policy'>): Promise<DeadLetterOutcome> {
  const { jobId } = message;
  const now = deps.clock();
  const job = await deps.store.get(jobId, now);
  if (!job) return { kind: 'skipped', reason: 'gone' };
  if (message.requestHash !== undefined && message.requestHash !== job.requestHash) return { kind: 'skipped', reason: 'not-this-request' };
  const action = afterDeadLetter(job, now, deps.policy);
  if (action.kind === 'settled') {
    // A worker's terminal job whose message was dead-lettered may not have been announced (its publish kept failing).
    if (!job.eventPublishedAt) await announce(job, remainingMillis, deps, job.sweepAt === undefined ? 'by-message' : 'by-index');
    return { kind: 'skipped', reason: 'already-finished' };
  }
  if (action.kind === 'requeue') {
    const requeued = await deps.store.markDeadLetterRequeued(jobId, sweepAtFor(now.getTime() + action.delaySeconds * 1000, deps.policy), now, { running: job.asyncInvocation !== undefined });
    if (!requeued) return { kind: 'skipped', reason: 'held-by-another-worker' };
    // The dead letter carries the request (a small one travels only in its messages) on to the new message, which
    // is for the poll an async job expects now (the dead one's may have been superseded).
    const poll = requeued.asyncInvocation?.polls;
    await deps.requeuer.requeue(messageOf({ ...message, tenant: job.tenant, requestHash: job.requestHash, createdAt: job.createdAt, ...(poll !== undefined && { poll }) }), action.delaySeconds);
    deps.log.warn('dead-lettered job put back on the queue', { jobId, deadLetters: requeued.deadLetters, delaySeconds: action.delaySeconds });
    return { kind: 'requeued', delaySeconds: action.delaySeconds };
  }
  const lastCode = job.attempts.at(-1)?.errorCode;
  const error: JobError =
    action.reason === 'past-deadline'
      ? { code: 'JOB_DEADLINE_EXCEEDED', message: `The job did not finish within ${deps.policy.jobDeadlineSeconds}s of submission${lastCode ? ` (last error: ${lastCode})` : ''}.` }
      : {
          code: 'DEAD_LETTERED',
          message: `The job's message was dead-lettered ${(job.deadLetters ?? 0) + 1} times after repeated failed deliveries${lastCode ? ` (last error: ${lastCode})` : ''}.`,
        };
  const failed = await deps.store.markAbandoned(jobId, error, sweepAtFor(now.getTime(), deps.policy), now);
  if (!failed) return { kind: 'skipped', reason: 'held-by-another-worker' };
  deps.log.info('job failed', { jobId, route: failed.route, modelId: failed.modelId, errorCode: error.code });
  await announce(failed, remainingMillis, deps, 'by-index');
  return { kind: 'failed', reason: action.reason };
}
