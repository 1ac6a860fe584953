import type { NormalizedJobRequest } from './job-request';

/**
 * Quota-aware admission: a token bucket per model and region, with two dimensions (requests and tokens), shared by
 * every worker. Bedrock counts a request's input tokens plus its max tokens against the tokens-per-minute quota when
 * the request starts and settles to the real usage when it ends; the bucket does the same.
 *
 * The bucket may go into debt up to `maxDebtSeconds` of refill: a job that finds no capacity reserves the next free
 * slot and is told how long to wait, so a burst is paced into a schedule instead of retried in a herd.
 */

export interface ModelQuota {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

export interface BucketState {
  requests: number;
  tokens: number;
  /** Epoch ms the levels were computed at. */
  updatedAt: number;
  /** Share of the configured rate in use, lowered by throttles Bedrock still sends (quota shared with others). */
  rateFactor: number;
  version: number;
}

export interface Cost {
  requests: number;
  tokens: number;
}

interface Dimension {
  capacity: number;
  /** Units per ms at rateFactor 1. */
  rate: number;
}

export interface BucketLimits {
  requests?: Dimension;
  tokens?: Dimension;
}

/** Share of a minute's quota allowed at once; the rest refills. */
export const BURST_SHARE = 0.03;
/**
 * Share of the quota the bucket hands out per minute (burst included). The rest is headroom: calls start a little
 * later than their slot under load, which bunches them, and a sliding 60 s window would count the bunch.
 */
export const PACING_SHARE = 0.94;
export const MAX_DEBT_SECONDS = 900;
export const MIN_RATE_FACTOR = 0.2;
/** Additive recovery per successful call after a throttle shrank the rate. */
export const RATE_RECOVERY_STEP = 0.01;
export const RATE_DECREASE = 0.7;

function dimension(perMinute: number | undefined): Dimension | undefined {
  if (!perMinute) return undefined;
  const capacity = Math.max(1, Math.floor(perMinute * BURST_SHARE));
  return { capacity, rate: Math.max(perMinute * 0.01, perMinute * PACING_SHARE - capacity) / 60_000 };
}

export function bucketLimits(quota: ModelQuota | undefined): BucketLimits | undefined {
  const limits = { requests: dimension(quota?.requestsPerMinute), tokens: dimension(quota?.tokensPerMinute) };
  return limits.requests || limits.tokens ? limits : undefined;
}

export function fullBucket(limits: BucketLimits, now: number): BucketState {
  return { requests: limits.requests?.capacity ?? 0, tokens: limits.tokens?.capacity ?? 0, updatedAt: now, rateFactor: 1, version: 0 };
}

/** Input tokens as Bedrock's quota counts them, estimated from text (about four characters a token). */
export function estimateInputTokens(request: NormalizedJobRequest): number {
  const chars = request.messages.reduce((n, m) => n + m.content.reduce((k, b) => k + b.text.length, 0), 0) + (request.system?.length ?? 0);
  return Math.ceil(chars / 4);
}

export function costOf(request: NormalizedJobRequest, defaultMaxTokens: number): Cost {
  return { requests: 1, tokens: estimateInputTokens(request) + (request.inferenceConfig?.maxTokens ?? defaultMaxTokens) };
}

function refill(level: number, d: Dimension | undefined, elapsedMs: number, rateFactor: number): number {
  if (!d) return 0;
  return Math.min(d.capacity, level + elapsedMs * d.rate * rateFactor);
}

export type AcquireDecision =
  /** Reserved; call after `waitMs` (0: now). */
  | { kind: 'reserved'; next: BucketState; waitMs: number }
  /** Not even a reservation fits within the debt limit; ask again after `waitMs`. */
  | { kind: 'refused'; waitMs: number };

export function decideAcquire(state: BucketState, cost: Cost, now: number, limits: BucketLimits): AcquireDecision {
  const elapsed = Math.max(0, now - state.updatedAt);
  const factor = Math.min(1, Math.max(MIN_RATE_FACTOR, state.rateFactor));
  const requests = refill(state.requests, limits.requests, elapsed, factor) - (limits.requests ? cost.requests : 0);
  const tokens = refill(state.tokens, limits.tokens, elapsed, factor) - (limits.tokens ? cost.tokens : 0);
  const waitFor = (level: number, d: Dimension | undefined) => (d && level < 0 ? -level / (d.rate * factor || Number.MIN_VALUE) : 0);
  const waitMs = Math.ceil(Math.max(waitFor(requests, limits.requests), waitFor(tokens, limits.tokens)));
  if (waitMs > MAX_DEBT_SECONDS * 1000) return { kind: 'refused', waitMs: Math.min(waitMs - MAX_DEBT_SECONDS * 1000, MAX_DEBT_SECONDS * 1000) };
  return { kind: 'reserved', next: { requests, tokens, updatedAt: Math.max(now, state.updatedAt), rateFactor: state.rateFactor, version: state.version + 1 }, waitMs };
}

/** Tokens to give back once the real usage is known (a failed call used none; Bedrock never counts more than reserved here). */
export function unusedTokens(reserved: Cost, used: { inputTokens: number; outputTokens: number } | undefined): number {
  if (!used) return reserved.tokens;
  return Math.max(0, reserved.tokens - used.inputTokens - used.outputTokens);
}

export function afterThrottle(rateFactor: number): number {
  return Math.max(MIN_RATE_FACTOR, rateFactor * RATE_DECREASE);
}

export function afterSuccess(rateFactor: number): number {
  return Math.min(1, rateFactor + RATE_RECOVERY_STEP);
}
