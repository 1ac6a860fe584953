import { answerFromChain, type ChainOutcome } from './chain-walk';
import type { CallDeps, ChainWork, TimeBudget } from './candidate-call';
import { InvokeTimeoutError, ModelAnswerError, ModelBusyError, ModelsUnavailableError } from './errors';
import type { Attempt, JobResult, Usage } from './job';
import { normalizeJobRequest } from './job-request';
import { acceptRequest, routeWithinPlan } from './job-submission';
import { isNativeRequest, parseNativeRequest } from './native-body';
import { decideRoute, settledRouting, type Routing } from './route-decision';
import { routeFor } from './routing';
import type { ModelCallEvent, ResponseCache } from './ports';
import { isCacheable, responseCacheKey } from './response-cache-key';
import type { Tenant } from './tenants';
import type { OutputBlock, RequestPolicy } from './converse-fields';

/*
 * POST /invoke: a synchronous answer through the same routing, admission, circuit breaker and fallback chain as a
 * job (lambda/core/chain-walk.ts), within the time the API gateway waits. Nothing is stored: an invocation has no
 * job item, no queue message and no event; what it cannot do in time it says at once (429, 503, 504), so that the
 * caller can retry or submit a job, and no request ever waits unboundedly inside the gateway's integration.
 */

export interface Invocation {
  body: unknown;
  tenant: Tenant;
  /** Unique per request (the gateway's request id): names the invocation in logs, as a job id would. */
  invocationId: string;
}

export interface InvocationDeps extends CallDeps {
  cache: ResponseCache;
  /** Where attachments may be and which guardrails a request may name. @default CLOSED_POLICY (neither) */
  requestPolicy?: RequestPolicy;
}

/** The 200 body of POST /invoke: `text`, or for a native body `nativeResponse`, the model's own answer. */
export interface InvokeAnswer {
  text?: string;
  /** The answer's content blocks when they hold more than text (tool calls, `stopReason: "tool_use"`). */
  content?: OutputBlock[];
  /** The service tier that served the answer, when Bedrock says. */
  serviceTier?: string;
  /** Bedrock's trace (a guardrail's assessment), when the request asked for it. */
  trace?: Record<string, unknown>;
  nativeResponse?: unknown;
  stopReason: string;
  usage: Usage;
  modelId: string;
  route: string;
  routing: Routing;
  attempts: Attempt[];
  latencyMs: number;
  /** `cache` when every model failed and the route's cached answer to the same request was served. */
  servedFrom?: 'model' | 'cache';
}

/**
 * POST /invoke/stream: what the caller is told as it happens. `start` once the request is accepted, `fallback` when
 * the chain moves to another model before any text was sent, `text` for each piece of the answer.
 */
export interface InvocationStream {
  start(choice: { route: string; modelId: string; routing: Routing }): void;
  text(text: string): void;
  /** A native body's stream: each chunk as the model sent it. */
  chunk(chunk: unknown): void;
  fallback(change: { from: string; to: string; reason: string }): void;
}

export interface InvocationOptions extends Pick<TimeBudget, 'remainingMillis'> {
  /** The integration's timeout, for the 504's message. */
  seconds: number;
  /** Stream the answer (ConverseStream) instead of returning it whole only. */
  stream?: InvocationStream;
}

/** Answers the request now, or throws the QuarryError that says why not (4xx for the request, 429/502/503/504). */
export async function invokeNow(invocation: Invocation, options: InvocationOptions, deps: InvocationDeps): Promise<InvokeAnswer> {
  const startedAt = deps.clock().getTime();
  const work = accepted(invocation, deps);
  const { route } = work;
  const attempts: Attempt[] = [];
  const { stream } = options;
  let produced = false;
  const budget: TimeBudget = {
    remainingMillis: options.remainingMillis,
    ...(stream && { stream: { onText: (text: string) => ((produced = true), stream.text(text)), onChunk: (chunk: unknown) => ((produced = true), stream.chunk(chunk)) } }),
  };
  // Moving to another model is news to a stream's reader until text was sent (after that, nothing moves).
  const observer = stream
    ? { observe: (event: ModelCallEvent) => (event.type === 'fallback' && !produced && stream.fallback({ from: event.fromModelId, to: event.toModelId, reason: event.reason }), deps.observer.observe(event)) }
    : deps.observer;
  const decision = await decideRoute(work, budget, deps);
  stream?.start({ route, modelId: decision.chain[0] ?? work.modelId, routing: decision.routing });
  const outcome = await answerFromChain({ ...work, chain: decision.chain }, attempts, budget, { ...deps, observer });
  const result = outcome.kind === 'answered' ? outcome.result : await settleUnanswered(work, outcome, options, deps);
  if (outcome.kind === 'answered') await fillCache(work, result, deps);
  // A cached answer was not streamed from a model: it goes out whole.
  if (stream && result.servedFrom === 'cache' && result.text) stream.text(result.text);

  const latencyMs = deps.clock().getTime() - startedAt;
  deps.log.info('invocation answered', { invocationId: work.jobId, route, modelId: result.modelId, native: work.native !== undefined, tenant: work.tenant, latencyMs, calls: attempts.filter((a) => a.outcome !== 'skipped').length, servedFrom: result.servedFrom ?? 'model' });
  return {
    ...(work.native ? { nativeResponse: result.nativeResponse } : { text: result.text ?? '', ...(result.content && { content: result.content }), ...(result.serviceTier && { serviceTier: result.serviceTier }), ...(result.trace && { trace: result.trace }) }),
    stopReason: result.stopReason,
    usage: result.usage,
    modelId: result.modelId,
    route,
    routing: settledRouting(decision, result.modelId, attempts),
    attempts,
    latencyMs,
    ...(result.servedFrom === 'cache' && { servedFrom: 'cache' as const }),
  };
}

/** The request as the chain walks it: a Converse request, or a native body for models of its family. */
function accepted(invocation: Invocation, deps: Pick<InvocationDeps, 'routing' | 'requestPolicy'>): ChainWork {
  const base = { jobId: invocation.invocationId, tenant: invocation.tenant.name, attempts: [] };
  if (isNativeRequest(invocation.body)) {
    const native = parseNativeRequest(invocation.body);
    const choice = routeWithinPlan(routeFor(native, deps.routing), native, invocation.tenant, deps.routing);
    return { ...base, ...choice, native: native.nativeBody };
  }
  const { request, route, modelId } = acceptRequest({ body: invocation.body, tenant: invocation.tenant }, deps.routing, deps.requestPolicy, 'synchronous');
  return { ...base, route, modelId, request: normalizeJobRequest(request) };
}

/**
 * No model answered: the route's cached answer if it keeps one, else the error that tells the caller when to come
 * back. A reservation the chain took for a later slot is given back (an invocation does not wait for it).
 */
async function settleUnanswered(work: ChainWork, outcome: Exclude<ChainOutcome, { kind: 'answered' }>, budget: { seconds: number }, deps: InvocationDeps): Promise<JobResult> {
  const now = deps.clock();
  if (outcome.kind === 'failed') throw refused(work, new ModelAnswerError(outcome.error), deps);
  if (outcome.kind === 'waiting') {
    const { reservation } = outcome;
    if (reservation) {
      await deps.capacity.settle(reservation, { requests: reservation.requests, tokens: reservation.tokens }, { throttled: false, called: false }, now);
    }
    throw refused(work, new ModelBusyError(reservation?.modelId ?? work.modelId, outcome.waitMs), deps);
  }
  const cached = await cachedAnswer(work, deps);
  if (cached) return cached;
  if (outcome.outOfTime) throw refused(work, new InvokeTimeoutError(budget.seconds, outcome.lastError), deps);
  if (outcome.busyWaitMs !== undefined && !outcome.lastError && outcome.retryAt === undefined) throw refused(work, new ModelBusyError(work.modelId, outcome.busyWaitMs), deps);
  const waitMs = outcome.retryAt !== undefined ? outcome.retryAt - now.getTime() : (outcome.busyWaitMs ?? deps.policy.requeue.baseDelaySeconds * 1000);
  throw refused(work, new ModelsUnavailableError(work.route, waitMs, outcome.lastError), deps);
}

function refused<E extends Error & { code: string }>(work: ChainWork, error: E, deps: Pick<InvocationDeps, 'log'>): E {
  deps.log.info('invocation not answered', { invocationId: work.jobId, route: work.route, modelId: work.modelId, tenant: work.tenant, code: error.code });
  return error;
}

async function cachedAnswer(work: ChainWork, deps: InvocationDeps): Promise<JobResult | undefined> {
  // The response cache holds Converse answers: a native body is never answered from it.
  if (!isCacheable(work, deps.routing)) return undefined;
  const cached = await deps.cache.get(responseCacheKey(work), deps.clock()).catch((error: Error) => {
    deps.log.warn('response cache unavailable', { invocationId: work.jobId, error: error.name });
    return undefined;
  });
  if (!cached) return undefined;
  deps.observer.observe({ type: 'cache-served', route: work.route });
  return { ...cached, servedFrom: 'cache' };
}

/** A route that caches answers keeps this one too, as a job's would be (same key: tenant, route, model, request). */
async function fillCache(work: ChainWork, result: JobResult, deps: InvocationDeps): Promise<void> {
  if (!isCacheable(work, deps.routing)) return;
  await deps.cache.put(responseCacheKey(work), { ...result, servedFrom: 'model' }, deps.clock()).catch((error: Error) => {
    deps.log.warn('could not fill the response cache', { invocationId: work.jobId, error: error.name });
  });
}

