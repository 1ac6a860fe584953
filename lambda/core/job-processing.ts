import { createHash } from 'node:crypto';
import { leaseExpiry, shouldOffloadResult } from './delivery';
import { candidatesFor, fitsLargerContext, type Candidate } from './fallback-chain';
import { costOf } from './admission';
import { afterRefusedClaim, modelCalls, type Attempt, type Job, type JobError, type JobResult, type Reservation, type ResultLocation } from './job';
import { canonicalJson } from './job-request';
import { classifyModelError, type ModelFailure } from './model-errors';
import type { CapacityGate, Clock, JobLog, JobRequeuer, JobStore, LargeResultStore, ModelCallObserver, ModelInvoker, ResponseCache, TerminalEventPublisher } from './ports';
import { backoffDelayMs, CALL_SAFETY_MARGIN_MS, requeueDelaySeconds, worthCalling } from './retry-policy';
import type { ResiliencePolicy, RoutingTable } from './settings';

/** The circuit breaker as job processing uses it (lambda/aws/breaker-store.ts implements it). */
export interface BreakerGate {
  admit(target: { modelId: string; region: string }, now: Date): Promise<{ admitted: true; probe: boolean; degraded?: boolean } | { admitted: false; state: string; retryAt: number }>;
  record(
    target: { modelId: string; region: string },
    outcome: 'success' | 'failure',
    admission: { admitted: true; probe: boolean; degraded?: boolean },
    now: Date,
  ): Promise<{ from: string; to: string } | undefined>;
}

export interface ProcessingDeps {
  store: JobStore;
  model: ModelInvoker;
  results: LargeResultStore;
  events: TerminalEventPublisher;
  requeuer: JobRequeuer;
  breaker: BreakerGate;
  capacity: CapacityGate;
  cache: ResponseCache;
  observer: ModelCallObserver;
  log: JobLog;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  routing: RoutingTable;
  policy: ResiliencePolicy;
  homeRegion: string;
  resultInlineMaxBytes: number;
  /** Operators may opt in to prompt and completion text in logs; off by default. */
  logText?: boolean;
}

export interface Delivery {
  jobId: string;
  tenant?: string;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
  /** Who is working on it: unique per delivery, so a stale worker cannot finish a job taken over from it. */
  owner: string;
  /** Milliseconds the invocation may still run. */
  remainingMillis: () => number;
}

export type DeliveryOutcome =
  | { kind: 'finished'; status: Job['status'] }
  | { kind: 'skipped'; reason: 'gone' | 'already-finished' | 'held-by-another-worker' | 'lease-lost' }
  | { kind: 'requeued'; delaySeconds: number };

type ChainOutcome =
  | { kind: 'answered'; result: JobResult }
  | { kind: 'failed'; error: JobError }
  /** No model could answer now; `retryAt` is when an open circuit admits calls again, if that is what stopped us. */
  | { kind: 'unavailable'; lastError?: JobError; retryAt?: number; outOfTime: boolean }
  /** The model's quota has no capacity now: wait `waitMs`, holding `reservation` if one was made. */
  | { kind: 'waiting'; waitMs: number; reservation?: Reservation };

/** A reservation due within this long is waited for in the invocation; a later one sends the job back to the queue. */
export const IN_INVOCATION_WAIT_MS = 1_000;

/** Thrown to leave a job to SQS redelivery after the queue's visibility timeout (requeue mode "redeliver"). */
export class RedeliverLater extends Error {
  constructor(readonly errorCode: string) {
    super(`no model could answer (${errorCode}); left to SQS redelivery`);
    this.name = 'RedeliverLater';
  }
}

/** The cache key of a request on a route: equal requests share answers, metadata and ids aside. */
export function responseCacheKey(job: Pick<Job, 'route' | 'request'>): string {
  return createHash('sha256').update(canonicalJson({ route: job.route, request: job.request })).digest('hex');
}

/**
 * What happens to a job when its message is delivered: claim it, walk its fallback chain (retrying each model
 * with backoff within the invocation's time, skipping models whose circuit is open), record the outcome and
 * announce it once; or, when no model can answer yet, put it back on the queue with a delay.
 * Safe under duplicate and concurrent deliveries of the same job.
 */
export async function processDelivery(delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const { store, log, clock } = deps;
  const claimedAt = clock();
  const job = await store.claim(delivery.jobId, delivery.owner, leaseExpiry(claimedAt, delivery.remainingMillis()), claimedAt);
  if (!job) return settleRefusedClaim(delivery.jobId, deps);
  log.info('job running', { jobId: job.jobId, route: job.route, modelId: job.modelId, receiveCount: delivery.receiveCount, requeues: job.requeues ?? 0 });

  const attempts: Attempt[] = [];
  let outcome: ChainOutcome;
  try {
    outcome = await answerFromChain(job, attempts, delivery, deps);
  } catch (error) {
    // Give the job back before the delivery fails, so its redelivery can claim it instead of waiting out the lease.
    await store.release(job.jobId, delivery.owner, attempts, clock()).catch(() => undefined);
    throw error;
  }

  if (outcome.kind === 'answered') return finishSucceeded(job, outcome.result, attempts, delivery, deps);
  if (outcome.kind === 'failed') return finishFailed(job, outcome.error, attempts, delivery, deps);
  if (outcome.kind === 'waiting') return waitForCapacity(job, outcome, attempts, delivery, deps);

  const route = deps.routing.routes[job.route];
  if (route?.cacheResponses) {
    const cached = await deps.cache.get(responseCacheKey(job), clock()).catch((error: Error) => {
      log.warn('response cache unavailable', { jobId: job.jobId, error: error.name });
      return undefined;
    });
    if (cached) {
      deps.observer.observe({ type: 'cache-served', route: job.route });
      return finishSucceeded(job, { ...cached, servedFrom: 'cache' }, attempts, delivery, deps);
    }
  }

  const now = clock();
  const calls = modelCalls(job) + modelCalls({ attempts });
  const pastDeadline = now.getTime() >= Date.parse(job.createdAt) + deps.policy.jobDeadlineSeconds * 1000;
  if (pastDeadline || calls >= deps.policy.maxModelCalls) {
    const why = pastDeadline ? `within ${deps.policy.jobDeadlineSeconds}s of submission` : `in ${calls} model calls`;
    const last = outcome.lastError ? ` (last error: ${outcome.lastError.code})` : '';
    return finishFailed(job, { code: 'ALL_MODELS_UNAVAILABLE', message: `No model of route "${job.route}" could answer ${why}${last}.` }, attempts, delivery, deps);
  }

  // Never sleep past the deadline: a job that cannot be answered in time should say so when its time is up.
  const secondsToDeadline = Math.ceil((Date.parse(job.createdAt) + deps.policy.jobDeadlineSeconds * 1000 - now.getTime()) / 1000) || Infinity;
  const delaySeconds = Math.max(1, Math.min(secondsToDeadline, requeueDelaySeconds(job.requeues ?? 0, deps.policy.requeue, outcome.retryAt ? { now: now.getTime(), at: outcome.retryAt } : undefined)));
  const released = await store.release(job.jobId, delivery.owner, attempts, now);
  if (!released) return { kind: 'skipped', reason: 'lease-lost' };
  if (deps.policy.requeue.mode === 'redeliver') {
    log.info('job left to SQS redelivery', { jobId: job.jobId, lastError: outcome.lastError?.code, receiveCount: delivery.receiveCount });
    throw new RedeliverLater(outcome.lastError?.code ?? 'UNAVAILABLE');
  }
  await deps.requeuer.requeue({ jobId: job.jobId, ...(delivery.tenant && { tenant: delivery.tenant }) }, delaySeconds);
  deps.observer.observe({ type: 'requeued', delaySeconds });
  log.info('job requeued', { jobId: job.jobId, delaySeconds, lastError: outcome.lastError?.code, outOfTime: outcome.outOfTime, requeues: (job.requeues ?? 0) + 1 });
  return { kind: 'requeued', delaySeconds };
}

/** No capacity now: back to the queue until the reserved slot (or until capacity may free up), without a model call. */
async function waitForCapacity(job: Job, waiting: { waitMs: number; reservation?: Reservation }, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const now = deps.clock();
  if (now.getTime() + waiting.waitMs >= Date.parse(job.createdAt) + deps.policy.jobDeadlineSeconds * 1000) {
    return finishFailed(job, { code: 'ALL_MODELS_UNAVAILABLE', message: `No capacity on the quota of route "${job.route}" within ${deps.policy.jobDeadlineSeconds}s of submission.` }, attempts, delivery, deps);
  }
  const delaySeconds = Math.min(900, Math.max(1, Math.ceil(waiting.waitMs / 1000)));
  const released = await deps.store.release(job.jobId, delivery.owner, attempts, now, waiting.reservation);
  if (!released) return { kind: 'skipped', reason: 'lease-lost' };
  await deps.requeuer.requeue({ jobId: job.jobId, ...(delivery.tenant && { tenant: delivery.tenant }) }, delaySeconds);
  deps.observer.observe({ type: 'requeued', delaySeconds });
  deps.log.info('job waiting for capacity', { jobId: job.jobId, modelId: waiting.reservation?.modelId, delaySeconds, reserved: waiting.reservation !== undefined });
  return { kind: 'requeued', delaySeconds };
}

/** Walks the candidates in order until one answers, the request proves unanswerable, or none can answer now. */
async function answerFromChain(job: Job, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<ChainOutcome> {
  const candidates = candidatesFor(job, deps.routing, deps.homeRegion);
  let lastError: JobError | undefined;
  let overflowedWindow: number | undefined;
  let earliestRetryAt: number | undefined;
  let previous: Candidate | undefined;

  for (const candidate of candidates) {
    if (!fitsLargerContext(candidate, overflowedWindow)) {
      attempts.push(skipped(candidate, 'CONTEXT_WINDOW_TOO_SMALL', deps.clock()));
      continue;
    }
    if (previous && previous.modelId !== candidate.modelId) {
      deps.observer.observe({ type: 'fallback', fromModelId: previous.modelId, toModelId: candidate.modelId, reason: lastError?.code ?? 'CIRCUIT_OPEN' });
    }
    previous = candidate;

    if (budgetSpent(job, attempts, deps)) break;
    const tried = await tryCandidate(job, candidate, attempts, delivery, deps);
    if (tried.kind === 'answered') return tried;
    if (tried.kind === 'final') return { kind: 'failed', error: tried.error };
    if (tried.kind === 'out-of-time') return { kind: 'unavailable', lastError: tried.error ?? lastError, retryAt: earliestRetryAt, outOfTime: true };
    if (tried.kind === 'wait') return { kind: 'waiting', waitMs: tried.waitMs, reservation: tried.reservation };
    if (tried.kind === 'busy') continue;
    if (tried.kind === 'circuit-open') {
      earliestRetryAt = Math.min(earliestRetryAt ?? Infinity, tried.retryAt);
      continue;
    }
    lastError = tried.error;
    if (tried.kind === 'context-overflow') overflowedWindow = candidate.contextWindow ?? 0;
  }

  if (overflowedWindow !== undefined && lastError?.code === 'CONTEXT_WINDOW_EXCEEDED') {
    return { kind: 'failed', error: { code: 'CONTEXT_WINDOW_EXCEEDED', message: `The input is too long for every model of route "${job.route}" (${lastError.message}).` } };
  }
  return { kind: 'unavailable', lastError, retryAt: earliestRetryAt, outOfTime: false };
}

type CandidateOutcome =
  | { kind: 'answered'; result: JobResult }
  | { kind: 'final'; error: JobError }
  | { kind: 'exhausted'; error: JobError }
  | { kind: 'context-overflow'; error: JobError }
  | { kind: 'circuit-open'; retryAt: number }
  | { kind: 'out-of-time'; error?: JobError }
  /** No capacity and the route waits for it. */
  | { kind: 'wait'; waitMs: number; reservation?: Reservation }
  /** No capacity and the route moves on to its next model. */
  | { kind: 'busy' };

/** Calls one candidate up to `attemptsPerModel` times with jittered backoff, as its circuit and the time allow. */
async function tryCandidate(job: Job, candidate: Candidate, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<CandidateOutcome> {
  const { policy, clock, log } = deps;
  let lastError: JobError | undefined;
  for (let call = 1; call <= policy.retry.attemptsPerModel; call++) {
    if (budgetSpent(job, attempts, deps)) return { kind: 'exhausted', error: lastError ?? { code: 'ALL_MODELS_UNAVAILABLE', message: 'model-call budget spent' } };
    if (!worthCalling(delivery.remainingMillis())) return { kind: 'out-of-time', error: lastError };

    const cost = costOf(job.request, deps.routing.models[candidate.modelId]?.maxOutputTokens ?? 4096);
    const held = call === 1 && job.reservation?.modelId === candidate.modelId && job.reservation.region === candidate.region ? job.reservation : undefined;
    const grant = held ? { kind: 'reserved' as const, waitMs: Math.max(0, held.notBefore - clock().getTime()) } : await deps.capacity.reserve(candidate, cost, clock());
    const waitMs = grant.kind === 'unlimited' ? 0 : grant.waitMs;
    if (grant.kind === 'refused' || waitMs > IN_INVOCATION_WAIT_MS || !worthCalling(delivery.remainingMillis() - waitMs)) {
      const reservation = grant.kind === 'reserved' ? (held ?? { modelId: candidate.modelId, region: candidate.region, notBefore: clock().getTime() + waitMs, ...cost }) : undefined;
      if (deps.routing.routes[job.route]?.fallbackWhenBusy) {
        if (reservation) await deps.capacity.settle(candidate, cost, { throttled: false, called: false }, clock());
        attempts.push(skipped(candidate, 'NO_CAPACITY', clock()));
        return lastError ? { kind: 'exhausted', error: lastError } : { kind: 'busy' };
      }
      return { kind: 'wait', waitMs, ...(reservation && { reservation }) };
    }
    if (waitMs > 0) await deps.sleep(waitMs);

    const admission = await deps.breaker.admit(candidate, clock());
    if (!admission.admitted) {
      if (grant.kind === 'reserved') await deps.capacity.settle(candidate, cost, { throttled: false, called: false }, clock());
      attempts.push(skipped(candidate, 'CIRCUIT_OPEN', clock()));
      log.info('model skipped: circuit open', { jobId: job.jobId, modelId: candidate.modelId, region: candidate.region, retryAt: new Date(admission.retryAt).toISOString() });
      return lastError ? { kind: 'exhausted', error: lastError } : { kind: 'circuit-open', retryAt: admission.retryAt };
    }

    const startedAt = clock();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(0, delivery.remainingMillis() - CALL_SAFETY_MARGIN_MS));
    let failure: ModelFailure | undefined;
    let answer: Awaited<ReturnType<ModelInvoker['converse']>> | undefined;
    try {
      answer = await deps.model.converse(candidate.modelId, job.request, { region: candidate.region, abortSignal: abort.signal });
    } catch (error) {
      failure = classifyModelError(error, { modelId: candidate.modelId, region: candidate.region, abandoned: abort.signal.aborted });
      if (failure.disposition === 'unexpected') throw error;
    } finally {
      clearTimeout(timer);
    }
    const endedAt = clock();
    const attempt: Attempt = {
      modelId: candidate.modelId,
      region: candidate.region,
      outcome: answer ? 'succeeded' : 'failed',
      ...(failure && { errorCode: failure.code }),
      latencyMs: endedAt.getTime() - startedAt.getTime(),
      startedAt: startedAt.toISOString(),
    };
    attempts.push(attempt);
    deps.observer.observe({ type: 'call', modelId: candidate.modelId, region: candidate.region, outcome: attempt.outcome as 'succeeded' | 'failed', ...(failure && { errorCode: failure.code }), latencyMs: attempt.latencyMs, ...(answer && { usage: answer.usage }) });
    log.info('model call', { jobId: job.jobId, modelId: candidate.modelId, region: candidate.region, call, outcome: attempt.outcome, errorCode: failure?.code, latencyMs: attempt.latencyMs, probe: admission.probe });

    if (grant.kind === 'reserved') {
      await deps.capacity.settle(candidate, cost, { ...(answer && { usage: answer.usage }), throttled: failure?.code === 'MODEL_THROTTLED', called: true }, endedAt);
    }
    // A request the model rejected still proves the model is up; only its own failures count against it.
    const transition = await deps.breaker.record(candidate, failure?.countsAgainstModel ? 'failure' : 'success', admission, endedAt);
    if (transition) {
      deps.observer.observe({ type: 'breaker', modelId: candidate.modelId, region: candidate.region, ...transition });
      log.warn('circuit breaker changed state', { modelId: candidate.modelId, region: candidate.region, ...transition });
    }

    if (answer) {
      return { kind: 'answered', result: { text: answer.text, stopReason: answer.stopReason, usage: answer.usage, modelId: candidate.modelId } };
    }
    const error = { code: failure!.code, message: failure!.message };
    if (failure!.disposition === 'fail') return { kind: 'final', error };
    if (failure!.disposition === 'larger-model') return { kind: 'context-overflow', error };
    if (failure!.code === 'CALL_ABANDONED') return { kind: 'out-of-time', error: lastError ?? error };
    lastError = error;
    if (call < policy.retry.attemptsPerModel) {
      const delayMs = backoffDelayMs(call, policy.retry, deps.random, failure!.retryAfterMs);
      if (!worthCalling(delivery.remainingMillis() - delayMs)) return { kind: 'out-of-time', error };
      deps.observer.observe({ type: 'retry', modelId: candidate.modelId, region: candidate.region, delayMs });
      await deps.sleep(delayMs);
    }
  }
  return { kind: 'exhausted', error: lastError! };
}

/** A job may make `maxModelCalls` calls in all, over every delivery. */
function budgetSpent(job: Job, attempts: Attempt[], deps: ProcessingDeps): boolean {
  return modelCalls(job) + modelCalls({ attempts }) >= deps.policy.maxModelCalls;
}

async function finishSucceeded(job: Job, full: JobResult, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const text = full.text ?? '';
  let result = full;
  let resultLocation: ResultLocation | undefined;
  if (shouldOffloadResult(text, deps.resultInlineMaxBytes)) {
    resultLocation = await deps.results.put(job.jobId, full);
    const { text: _offloaded, ...summary } = full;
    result = summary;
  }
  const succeeded = await deps.store.markSucceeded(job.jobId, delivery.owner, { result, resultLocation, attempts }, deps.clock());
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
    ...(deps.logText && { prompt: job.request, completion: text }),
  });
  if (full.servedFrom !== 'cache' && deps.routing.routes[job.route]?.cacheResponses && !resultLocation) {
    await deps.cache.put(responseCacheKey(job), { ...full, servedFrom: 'model' }, deps.clock()).catch((error: Error) => {
      deps.log.warn('could not fill the response cache', { jobId: job.jobId, error: error.name });
    });
  }
  await announce(succeeded, deps);
  return { kind: 'finished', status: 'SUCCEEDED' };
}

async function finishFailed(job: Job, error: JobError, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const failed = await deps.store.markFailed(job.jobId, delivery.owner, error, attempts, deps.clock());
  if (!failed) return { kind: 'skipped', reason: 'lease-lost' };
  deps.log.info('job failed', { jobId: job.jobId, route: job.route, modelId: job.modelId, errorCode: error.code, attempts: failed.attempts.length });
  await announce(failed, deps);
  return { kind: 'finished', status: 'FAILED' };
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

function skipped(candidate: Candidate, errorCode: string, at: Date): Attempt {
  return { modelId: candidate.modelId, region: candidate.region, outcome: 'skipped', errorCode, latencyMs: 0, startedAt: at.toISOString() };
}
