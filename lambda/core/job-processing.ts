import { classifyModelError } from './model-errors';
import { leaseExpiry, redeliveryDelaySeconds, shouldOffloadResult } from './delivery';
import { afterRefusedClaim, type Attempt, type Job, type JobResult, type ResultLocation } from './job';
import type { Clock, JobLog, JobStore, LargeResultStore, ModelInvoker, TerminalEventPublisher } from './ports';

export interface ProcessingDeps {
  store: JobStore;
  model: ModelInvoker;
  results: LargeResultStore;
  events: TerminalEventPublisher;
  log: JobLog;
  clock: Clock;
  region?: string;
  resultInlineMaxBytes: number;
  retryDelaySeconds: number;
  visibilityTimeoutSeconds: number;
  /** Operators may opt in to prompt and completion text in logs; off by default. */
  logText?: boolean;
}

export interface Delivery {
  jobId: string;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
  /** Who is working on it: unique per delivery, so a stale worker cannot finish a job taken over from it. */
  owner: string;
  remainingMillis: number;
}

export type DeliveryOutcome =
  | { kind: 'finished'; status: Job['status'] }
  | { kind: 'skipped'; reason: 'gone' | 'already-finished' | 'held-by-another-worker' | 'lease-lost' }
  | { kind: 'retry-later'; delaySeconds: number; errorCode: string };

/**
 * What happens to a job when its message is delivered: claim it, call the model, record the outcome,
 * announce it once. Safe under duplicate and concurrent deliveries of the same job.
 */
export async function processDelivery(delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const { store, log, clock } = deps;
  const claimedAt = clock();
  const job = await store.claim(delivery.jobId, delivery.owner, leaseExpiry(claimedAt, delivery.remainingMillis), claimedAt);
  if (!job) return settleRefusedClaim(delivery.jobId, deps);

  log.info('job running', { jobId: job.jobId, route: job.route, modelId: job.modelId, receiveCount: delivery.receiveCount });
  const startedAt = clock();
  let answer: Awaited<ReturnType<ModelInvoker['converse']>>;
  try {
    answer = await deps.model.converse(job.modelId, job.request);
  } catch (error) {
    const failure = classifyModelError(error);
    const attempt = attemptOf(job.modelId, deps.region, startedAt, clock(), failure.code);
    log.warn('model call failed', { jobId: job.jobId, modelId: job.modelId, errorCode: failure.code, retryable: failure.retryable, latencyMs: attempt.latencyMs });
    if (failure.retryable) {
      const released = await store.release(job.jobId, delivery.owner, attempt, clock());
      if (!released) return { kind: 'skipped', reason: 'lease-lost' };
      const delaySeconds = redeliveryDelaySeconds(delivery.receiveCount, deps.retryDelaySeconds, deps.visibilityTimeoutSeconds);
      log.info('job queued for retry', { jobId: job.jobId, errorCode: failure.code, delaySeconds, receiveCount: delivery.receiveCount });
      return { kind: 'retry-later', delaySeconds, errorCode: failure.code };
    }
    const failed = await store.markFailed(job.jobId, delivery.owner, { code: failure.code, message: failure.message }, attempt, clock());
    if (!failed) return { kind: 'skipped', reason: 'lease-lost' };
    log.info('job failed', { jobId: job.jobId, route: job.route, modelId: job.modelId, errorCode: failure.code });
    await announce(failed, deps);
    return { kind: 'finished', status: 'FAILED' };
  }

  const attempt = attemptOf(job.modelId, deps.region, startedAt, clock());
  const full: JobResult = { text: answer.text, stopReason: answer.stopReason, usage: answer.usage, modelId: job.modelId };
  let result = full;
  let resultLocation: ResultLocation | undefined;
  if (shouldOffloadResult(answer.text, deps.resultInlineMaxBytes)) {
    resultLocation = await deps.results.put(job.jobId, full);
    const { text: _offloaded, ...summary } = full;
    result = summary;
  }
  const succeeded = await store.markSucceeded(job.jobId, delivery.owner, { result, resultLocation, attempt }, clock());
  if (!succeeded) {
    log.warn('lease lost before the result was recorded', { jobId: job.jobId });
    return { kind: 'skipped', reason: 'lease-lost' };
  }
  log.info('job succeeded', {
    jobId: job.jobId,
    route: job.route,
    modelId: job.modelId,
    latencyMs: attempt.latencyMs,
    usage: answer.usage,
    stopReason: answer.stopReason,
    offloaded: resultLocation !== undefined,
    ...(deps.logText && { prompt: job.request, completion: answer.text }),
  });
  await announce(succeeded, deps);
  return { kind: 'finished', status: 'SUCCEEDED' };
}

/** A dead-lettered message: the job can never finish normally, so it ends FAILED and says why. */
export async function abandonDeadLettered(jobId: string, deps: Pick<ProcessingDeps, 'store' | 'events' | 'log' | 'clock'>): Promise<DeliveryOutcome> {
  const job = await deps.store.get(jobId, deps.clock());
  const lastCode = job?.attempts.at(-1)?.errorCode;
  const message = lastCode
    ? `The job's message was moved to the dead-letter queue after repeated failures (last error: ${lastCode}).`
    : "The job's message was moved to the dead-letter queue after repeated failed deliveries.";
  const failed = await deps.store.markAbandoned(jobId, { code: 'DEAD_LETTERED', message }, deps.clock());
  if (!failed) return settleRefusedClaim(jobId, deps);
  deps.log.info('job failed', { jobId, route: failed.route, modelId: failed.modelId, errorCode: 'DEAD_LETTERED' });
  await announce(failed, deps);
  return { kind: 'finished', status: 'FAILED' };
}

async function settleRefusedClaim(jobId: string, deps: Pick<ProcessingDeps, 'store' | 'events' | 'log' | 'clock'>): Promise<DeliveryOutcome> {
  const existing = await deps.store.get(jobId, deps.clock());
  const decision = afterRefusedClaim(existing, deps.clock());
  if (decision === 'publish-owed-event' && existing) {
    await announce(existing, deps);
    return { kind: 'finished', status: existing.status };
  }
  deps.log.info('delivery skipped', { jobId, reason: decision });
  return { kind: 'skipped', reason: decision === 'publish-owed-event' ? 'gone' : decision };
}

/** Publishes the terminal event, then records that it was published; a crash in between republishes once. */
async function announce(job: Job, deps: Pick<ProcessingDeps, 'store' | 'events' | 'clock'>): Promise<void> {
  await deps.events.publishTerminal(job, deps.clock());
  await deps.store.markEventPublished(job.jobId, deps.clock());
}

function attemptOf(modelId: string, region: string | undefined, startedAt: Date, endedAt: Date, errorCode?: string): Attempt {
  return {
    modelId,
    ...(region && { region }),
    outcome: errorCode ? 'failed' : 'succeeded',
    ...(errorCode && { errorCode }),
    latencyMs: endedAt.getTime() - startedAt.getTime(),
    startedAt: startedAt.toISOString(),
  };
}
