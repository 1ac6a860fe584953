import { budgetSpent, recordSkip, tryCandidate, type CallDeps, type ChainWork, type TimeBudget } from './candidate-call';
import { candidatesFor, fitsLargerContext, type Candidate } from './fallback-chain';
import type { Attempt, Job, JobError, JobResult, Reservation } from './job';
import { sameFamily } from './native-body';

/*
 * A walk down a fallback chain: each candidate (a model in a region) in turn, through admission, the call and its
 * settlement (lambda/core/candidate-call.ts), until one answers. Shared by queued jobs (lambda/core/job-processing.ts)
 * and synchronous invocations (lambda/core/invocation.ts), which differ only in what they do with the outcome.
 */

export type ChainOutcome =
  | { kind: 'answered'; result: JobResult }
  | { kind: 'failed'; error: JobError }
  /**
   * No model could answer now. `retryAt`: when an open circuit admits calls again, if that is what stopped us;
   * `busyWaitMs`: the soonest a candidate skipped for want of capacity (`fallbackWhenBusy`) has room again.
   */
  | { kind: 'unavailable'; lastError?: JobError; retryAt?: number; outOfTime: boolean; busyWaitMs?: number }
  /** The model's quota has no capacity now: wait `waitMs`, holding `reservation` if one was made. */
  | { kind: 'waiting'; waitMs: number; reservation?: Reservation };

/**
 * The candidates this delivery walks: the job's fallback chain, limited to the models the tenant's plan allows,
 * starting after the candidate whose call last ran out of the invocation's time (so a model slower than the
 * worker's timeout cannot hold a job on the same model at every delivery).
 */
export function chainFor(job: Pick<Job, 'route' | 'modelId' | 'tenant' | 'attempts'> & { native?: unknown }, deps: Pick<CallDeps, 'routing' | 'homeRegion' | 'allowedModels'>): Candidate[] {
  const allowed = deps.allowedModels?.(job.tenant);
  const chain = candidatesFor(job, deps.routing, deps.homeRegion).filter(
    // A native body is only meaningful to models of its own provider family.
    (c) => (!allowed || allowed.includes(c.modelId)) && (job.native === undefined || sameFamily(c.modelId, job.modelId)),
  );
  const lastCall = job.attempts.filter((a) => a.outcome !== 'skipped').at(-1);
  if (lastCall?.errorCode !== 'CALL_ABANDONED') return chain;
  const at = chain.findIndex((c) => c.modelId === lastCall.modelId && c.region === (lastCall.region ?? deps.homeRegion));
  return at < 0 ? chain : [...chain.slice(at + 1), ...chain.slice(0, at + 1)];
}

/** Walks the candidates in order until one answers, the request proves unanswerable, or none can answer now. */
export async function answerFromChain(job: ChainWork, attempts: Attempt[], delivery: TimeBudget, deps: CallDeps): Promise<ChainOutcome> {
  let lastError: JobError | undefined;
  let overflowedWindow: number | undefined;
  let earliestRetryAt: number | undefined;
  let previous: Candidate | undefined;
  let busyWaitMs: number | undefined;
  /** Stays true while every candidate tried was unusable (access denied, not found): then waiting cannot help. */
  let onlyUnusable = true;

  for (const candidate of chainFor(job, deps)) {
    if (!fitsLargerContext(candidate, overflowedWindow)) {
      recordSkip(job, attempts, candidate, 'CONTEXT_WINDOW_TOO_SMALL', deps.clock());
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
    if (tried.kind !== 'unusable') onlyUnusable = false;
    if (tried.kind === 'busy') {
      busyWaitMs = Math.min(busyWaitMs ?? Infinity, tried.waitMs);
      continue;
    }
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
  if (onlyUnusable && lastError) {
    return { kind: 'failed', error: { code: lastError.code, message: `No model of route "${job.route}" can be used by this deployment (${lastError.message}).` } };
  }
  return { kind: 'unavailable', lastError, retryAt: earliestRetryAt, outOfTime: false, ...(busyWaitMs !== undefined && { busyWaitMs }) };
}
