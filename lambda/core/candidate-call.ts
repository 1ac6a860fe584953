import { costOf, type Cost } from './admission';
import type { Candidate } from './fallback-chain';
import type { Attempt, Job, JobError, JobResult, Reservation } from './job';
import type { NormalizedJobRequest } from './job-request';
import { classifyModelError, type ModelFailure } from './model-errors';
import { nativeCost } from './native-body';
import type { Admission, CapacityGrant } from './ports';
import { backoffDelayMs, CALL_SAFETY_MARGIN_MS, worthCalling } from './retry-policy';
import type { ProcessingDeps } from './job-processing';

/*
 * One candidate (a model in a region) of a job's fallback chain, called up to `attemptsPerModel` times. Each call
 * goes through three named steps: admission (quota capacity, then the circuit breaker), the call itself (aborted
 * before the invocation runs out of time), and settlement (capacity given back, breaker told, metrics).
 */

/**
 * What a walk of a fallback chain calls models for: a queued job, or a synchronous invocation that is never stored
 * (then `jobId` is the invocation's id, and it holds no reservation and has no earlier attempts).
 */
export type ChainWork = Pick<Job, 'jobId' | 'tenant' | 'route' | 'modelId' | 'attempts' | 'reservation' | 'modelNamed'> & {
  /** The models to walk, in order, as routing decided them (lambda/core/route-decision.ts); absent: the static chain. */
  chain?: string[];
} & (
    | { request: NormalizedJobRequest; native?: undefined }
    /** A native body (lambda/core/native-body.ts): sent as given through InvokeModel, to models of its family only. */
    | { native: Record<string, unknown>; request?: undefined }
  );

/** What calling a candidate needs: the resilience ports and policy, not the job store or the queue. */
export type CallDeps = Pick<ProcessingDeps, 'model' | 'breaker' | 'capacity' | 'observer' | 'log' | 'clock' | 'sleep' | 'random' | 'routing' | 'policy' | 'homeRegion' | 'allowedModels'>;

/** How long the caller may still run (an SQS delivery's invocation, or a synchronous request's gateway deadline). */
export interface TimeBudget {
  remainingMillis: () => number;
  /**
   * Streamed calls: where the answer's text goes as it comes. A call that fails after its first piece of text is
   * final (MODEL_STREAM_INTERRUPTED): the caller has already shown that text, so it is never retried or fallen back from.
   */
  stream?: { onText(text: string): void; /** A native body's stream: each decoded chunk. */ onChunk?(chunk: unknown): void };
}

/** A reservation due within this long is waited for in the invocation; a later one sends the job back to the queue. */
export const IN_INVOCATION_WAIT_MS = 1_000;

export type CandidateOutcome =
  | { kind: 'answered'; result: JobResult }
  | { kind: 'final'; error: JobError }
  | { kind: 'exhausted'; error: JobError }
  | { kind: 'context-overflow'; error: JobError }
  /** This model cannot serve the deployment (access denied, not found): the next one may. */
  | { kind: 'unusable'; error: JobError }
  | { kind: 'circuit-open'; retryAt: number }
  /** The invocation's time ran out (before or during a call); the next delivery continues after this candidate. */
  | { kind: 'out-of-time'; error?: JobError }
  /** No capacity and the route waits for it. */
  | { kind: 'wait'; waitMs: number; reservation?: Reservation }
  /** No capacity and the route moves on to its next model; its capacity frees up in about `waitMs`. */
  | { kind: 'busy'; waitMs: number };

/** The request as this candidate gets it: `maxTokens` clamped to the model's output limit (a fallback may have a lower one). */
export function requestFor(candidate: Candidate, request: NormalizedJobRequest, deps: Pick<ProcessingDeps, 'routing'>): NormalizedJobRequest {
  const limit = deps.routing.models[candidate.modelId]?.maxOutputTokens;
  const asked = request.inferenceConfig?.maxTokens;
  if (limit === undefined || asked === undefined || asked <= limit) return request;
  return { ...request, inferenceConfig: { ...request.inferenceConfig, maxTokens: limit } };
}

/**
 * The service tier a call of this candidate asks for: the job's, else the route's; the default tier once the
 * candidate refused it (a ValidationException for a call that asked for it) or, for flex, once the job's flex calls
 * were throttled `flexPatience` times, unless the route keeps the tier (`serviceTierFallback: false`). Decided from
 * the attempts, so a requeued job continues where it was.
 */
export function tierFor(job: ChainWork, attempts: Attempt[], candidate: Candidate, deps: Pick<CallDeps, 'routing'>): string | undefined {
  if (job.native) return undefined;
  const route = deps.routing.routes[job.route];
  const asked = job.request.serviceTier ?? route?.serviceTier;
  if (!asked || asked === 'default' || route?.serviceTierFallback === false) return asked;
  const all = [...job.attempts, ...attempts].filter((a) => a.serviceTier === asked);
  const refused = all.some((a) => a.modelId === candidate.modelId && (a.region ?? candidate.region) === candidate.region && a.errorCode === 'MODEL_VALIDATION_ERROR');
  const throttled = asked === 'flex' && all.filter((a) => a.errorCode === 'MODEL_THROTTLED').length >= (route?.flexPatience ?? 2);
  return refused || throttled ? 'default' : asked;
}

/** Calls one candidate up to `attemptsPerModel` times with jittered backoff, as its quota, circuit and the time allow. */
export async function tryCandidate(job: ChainWork, candidate: Candidate, attempts: Attempt[], delivery: TimeBudget, deps: CallDeps): Promise<CandidateOutcome> {
  const { policy } = deps;
  let lastError: JobError | undefined;
  for (let call = 1; call <= policy.retry.attemptsPerModel; call++) {
    const tier = tierFor(job, attempts, candidate, deps);
    const { cost, invoke } = callFor(job, candidate, delivery, deps, tier);
    if (budgetSpent(job, attempts, deps)) return { kind: 'exhausted', error: lastError ?? { code: 'ALL_MODELS_UNAVAILABLE', message: 'model-call budget spent' } };
    if (!worthCalling(delivery.remainingMillis())) return { kind: 'out-of-time', error: lastError };

    const admitted = await admit(job, candidate, cost, call, attempts, delivery, deps);
    if (admitted.kind !== 'admitted') {
      // A candidate skipped after failed calls is exhausted (its last error stands); one never called is just skipped.
      const skippedAfterFailures = lastError && (admitted.kind === 'refused' || admitted.outcome.kind === 'busy');
      return skippedAfterFailures ? { kind: 'exhausted', error: lastError! } : admitted.outcome;
    }

    const called = await callModel(candidate, invoke, delivery, deps);
    await settle(job, candidate, cost, admitted, called, call, attempts, deps, tier);

    if (called.answer) return { kind: 'answered', result: { ...called.answer, modelId: candidate.modelId } };
    const failure = called.failure!;
    const error = { code: failure.code, message: failure.message };
    const nextTier = tierFor(job, attempts, candidate, deps);
    if (nextTier !== tier) {
      deps.observer.observe({ type: 'tier-fallback', modelId: candidate.modelId, from: tier ?? 'default', to: nextTier ?? 'default' });
      deps.log.info('service tier fell back', { jobId: job.jobId, modelId: candidate.modelId, region: candidate.region, from: tier, to: nextTier, errorCode: failure.code });
      // A refused tier says nothing about the model: the call is made again at once, on the default tier.
      if (failure.code === 'MODEL_VALIDATION_ERROR') {
        call--;
        continue;
      }
    }
    if (failure.disposition === 'fail') return { kind: 'final', error };
    if (failure.disposition === 'larger-model') return { kind: 'context-overflow', error };
    if (failure.disposition === 'next-model') return { kind: 'unusable', error };
    if (called.abandoned) return { kind: 'out-of-time', error: lastError ?? error };
    lastError = error;
    if (call < policy.retry.attemptsPerModel) {
      const delayMs = backoffDelayMs(call, policy.retry, deps.random, failure.retryAfterMs);
      if (!worthCalling(delivery.remainingMillis() - delayMs)) return { kind: 'out-of-time', error };
      deps.observer.observe({ type: 'retry', modelId: candidate.modelId, region: candidate.region, delayMs });
      await deps.sleep(delayMs);
    }
  }
  return { kind: 'exhausted', error: lastError! };
}

/** A job may make `maxModelCalls` calls in all, over every delivery. */
export function budgetSpent(job: Pick<Job, 'attempts'>, attempts: Attempt[], deps: Pick<ProcessingDeps, 'policy'>): boolean {
  const calls = (list: Attempt[]) => list.filter((a) => a.outcome !== 'skipped').length;
  return calls(job.attempts) + calls(attempts) >= deps.policy.maxModelCalls;
}

/** Skipped candidates recorded on a job at most (calls are bounded by `maxModelCalls`), so the job item stays small. */
export const MAX_RECORDED_SKIPS = 20;

/** Records a candidate skipped without a call, unless the job already recorded its share of skips. */
export function recordSkip(job: Pick<Job, 'attempts'>, attempts: Attempt[], candidate: Candidate, errorCode: string, at: Date): void {
  const skips = [...job.attempts, ...attempts].filter((a) => a.outcome === 'skipped').length;
  if (skips < MAX_RECORDED_SKIPS) attempts.push({ modelId: candidate.modelId, region: candidate.region, outcome: 'skipped', errorCode, latencyMs: 0, startedAt: at.toISOString() });
}

type AdmissionStep =
  | { kind: 'admitted'; grant: CapacityGrant; admission: Extract<Admission, { admitted: true }> }
  /** The breaker refused: the candidate is skipped (the caller reports `circuit-open` unless an earlier call failed). */
  | { kind: 'refused'; outcome: CandidateOutcome }
  /** No capacity: wait for it, or move on. */
  | { kind: 'no-capacity'; outcome: CandidateOutcome };

/**
 * The breaker first (usually a cached read: a candidate whose circuit is open costs no capacity reservation), then
 * capacity: a reservation the job already holds, or a new one.
 */
async function admit(job: ChainWork, candidate: Candidate, cost: Cost, call: number, attempts: Attempt[], delivery: TimeBudget, deps: CallDeps): Promise<AdmissionStep> {
  const { clock } = deps;
  const admission = await deps.breaker.admit(candidate, clock());
  if (!admission.admitted) {
    recordSkip(job, attempts, candidate, 'CIRCUIT_OPEN', clock());
    deps.log.info('model skipped: circuit open', { jobId: job.jobId, modelId: candidate.modelId, region: candidate.region, retryAt: new Date(admission.retryAt).toISOString() });
    return { kind: 'refused', outcome: { kind: 'circuit-open', retryAt: admission.retryAt } };
  }

  const held = call === 1 && job.reservation?.modelId === candidate.modelId && job.reservation.region === candidate.region ? job.reservation : undefined;
  const grant: CapacityGrant = held ? { kind: 'reserved', waitMs: Math.max(0, held.notBefore - clock().getTime()) } : await deps.capacity.reserve(candidate, cost, clock());
  const waitMs = grant.kind === 'unlimited' ? 0 : grant.waitMs;
  if (grant.kind === 'refused' || waitMs > IN_INVOCATION_WAIT_MS || !worthCalling(delivery.remainingMillis() - waitMs)) {
    // An admitted probe that cannot run now frees its slot by lease; the breaker stays HALF_OPEN for the next caller.
    const reservation = grant.kind === 'reserved' ? (held ?? { modelId: candidate.modelId, region: candidate.region, notBefore: clock().getTime() + waitMs, ...cost }) : undefined;
    if (!deps.routing.routes[job.route]?.fallbackWhenBusy) return { kind: 'no-capacity', outcome: { kind: 'wait', waitMs, ...(reservation && { reservation }) } };
    if (reservation) await deps.capacity.settle(candidate, cost, { throttled: false, called: false }, clock());
    recordSkip(job, attempts, candidate, 'NO_CAPACITY', clock());
    return { kind: 'no-capacity', outcome: { kind: 'busy', waitMs } };
  }
  if (waitMs > 0) await deps.sleep(waitMs);
  return { kind: 'admitted', grant, admission };
}

interface CallResult {
  answer?: ModelAnswer;
  failure?: ModelFailure;
  /** The pipeline gave the call up (the invocation's time ran out): says nothing about the model. */
  abandoned: boolean;
  startedAt: Date;
  endedAt: Date;
}

type ModelAnswer = { text: string; stopReason: string; usage: { inputTokens: number; outputTokens: number }; nativeResponse?: unknown };

/** One call of a candidate: `onFirst` is told when the first piece of a streamed answer went out. */
type Invoke = (options: { region: string; abortSignal: AbortSignal }, onFirst: () => void) => Promise<ModelAnswer>;

/**
 * What calling this candidate costs the quota and how it is called: Converse (streamed or not) with the request as
 * this model takes it, or InvokeModel (streamed or not) with the native body as given.
 */
function callFor(job: ChainWork, candidate: Candidate, delivery: TimeBudget, deps: CallDeps, tier?: string): { cost: Cost; invoke: Invoke } {
  const maxOutputTokens = deps.routing.models[candidate.modelId]?.maxOutputTokens ?? 4096;
  const sink = delivery.stream;
  if (job.native) {
    const body = job.native;
    return {
      cost: nativeCost(body, maxOutputTokens),
      invoke: (options, onFirst) => {
        if (!deps.model.invokeNative) throw new Error('this model invoker cannot take native bodies');
        const onChunk = sink?.onChunk;
        return deps.model.invokeNative(candidate.modelId, body, { ...options, ...(onChunk && { onChunk: (chunk: unknown) => (onFirst(), onChunk(chunk)) }) });
      },
    };
  }
  const clamped = requestFor(candidate, job.request, deps);
  const request = tier !== undefined && tier !== clamped.serviceTier ? { ...clamped, serviceTier: tier as NonNullable<NormalizedJobRequest['serviceTier']> } : clamped;
  return {
    cost: costOf(request, maxOutputTokens),
    invoke: (options, onFirst) => {
      if (!sink) return deps.model.converse(candidate.modelId, request, options);
      if (!deps.model.converseStream) throw new Error('this model invoker cannot stream');
      return deps.model.converseStream(candidate.modelId, request, { ...options, onText: (text) => (onFirst(), sink.onText(text)) });
    },
  };
}

/** The model call, aborted `CALL_SAFETY_MARGIN_MS` before the invocation would be killed, so its outcome can be recorded. */
async function callModel(candidate: Candidate, invoke: Invoke, delivery: TimeBudget, deps: CallDeps): Promise<CallResult> {
  const startedAt = deps.clock();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.max(0, delivery.remainingMillis() - CALL_SAFETY_MARGIN_MS));
  let produced = false;
  try {
    const answer = await invoke({ region: candidate.region, abortSignal: abort.signal }, () => (produced = true));
    return { answer, abandoned: false, startedAt, endedAt: deps.clock() };
  } catch (error) {
    const classified = classifyModelError(error, { modelId: candidate.modelId, region: candidate.region, abandoned: abort.signal.aborted, contentProduced: produced });
    if (classified.disposition === 'unexpected') throw error;
    const failure: ModelFailure = produced && classified.disposition !== 'fail' ? { ...classified, code: 'MODEL_STREAM_INTERRUPTED', disposition: 'fail' } : classified;
    return { failure, abandoned: classified.code === 'CALL_ABANDONED', startedAt, endedAt: deps.clock() };
  } finally {
    clearTimeout(timer);
  }
}

/** Records the call on the job, gives back unused capacity, tells the breaker (not for an abandoned call) and the metrics. */
async function settle(job: ChainWork, candidate: Candidate, cost: Cost, admitted: Extract<AdmissionStep, { kind: 'admitted' }>, called: CallResult, call: number, attempts: Attempt[], deps: CallDeps, tier?: string): Promise<void> {
  const { failure, answer } = called;
  const attempt: Attempt = {
    modelId: candidate.modelId,
    region: candidate.region,
    outcome: answer ? 'succeeded' : 'failed',
    ...(failure && { errorCode: failure.code }),
    ...(tier !== undefined && { serviceTier: tier }),
    latencyMs: called.endedAt.getTime() - called.startedAt.getTime(),
    startedAt: called.startedAt.toISOString(),
  };
  attempts.push(attempt);
  // A call that answered is told by the job's own "job succeeded" line (latency, calls): its line is a debug one.
  const callLine = { jobId: job.jobId, modelId: candidate.modelId, region: candidate.region, call, outcome: attempt.outcome, errorCode: failure?.code, latencyMs: attempt.latencyMs, probe: admitted.admission.probe };
  if (failure) deps.log.info('model call', callLine);
  else deps.log.debug?.('model call', callLine);

  if (admitted.grant.kind === 'reserved') {
    await deps.capacity.settle(candidate, cost, { ...(answer && { usage: answer.usage }), throttled: failure?.code === 'MODEL_THROTTLED', called: true }, called.endedAt);
  }
  if (called.abandoned) {
    // Neither a success nor a failure of the model: we stopped waiting. A probe slot it held frees itself by lease.
    deps.observer.observe({ type: 'abandoned', modelId: candidate.modelId, region: candidate.region });
    return;
  }
  deps.observer.observe({ type: 'call', modelId: candidate.modelId, region: candidate.region, outcome: answer ? 'succeeded' : 'failed', ...(failure && { errorCode: failure.code }), latencyMs: attempt.latencyMs, ...(answer && { usage: answer.usage }) });
  // A request the model rejected still proves the model is up; only its own failures count against it.
  const sample = {
    latencyMs: attempt.latencyMs,
    failed: failure?.countsAgainstModel ?? false,
    throttled: failure?.code === 'MODEL_THROTTLED',
    ...(answer && { inputTokens: answer.usage.inputTokens, outputTokens: answer.usage.outputTokens }),
  };
  const transition = await deps.breaker.record(candidate, failure?.countsAgainstModel ? 'failure' : 'success', admitted.admission, called.endedAt, sample);
  if (transition) {
    deps.observer.observe({ type: 'breaker', modelId: candidate.modelId, region: candidate.region, ...transition });
    deps.log.warn('circuit breaker changed state', { modelId: candidate.modelId, region: candidate.region, ...transition });
  }
}
