import type { NormalizedJobRequest } from './job-request';

/**
 * Quota-aware admission as a schedule (the generic cell rate algorithm): each call to a model in a region takes a
 * slot of `intervalMs` on a shared timeline whose free point is `tat` (theoretical arrival time). A call may start
 * at its slot; a slot in the future means "wait until then". Slots are taken with one atomic ADD in DynamoDB, so any
 * number of workers reserve concurrently without conflicts, and a burst becomes a schedule instead of a herd.
 *
 * Bedrock counts a request's input tokens plus its max tokens against the tokens-per-minute quota when it starts and
 * settles to the real usage when it ends; a slot is as long as the larger of the request and token costs, and the
 * unused part is given back when the call ends.
 */

export interface ModelQuota {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

export interface Cost {
  requests: number;
  tokens: number;
}

/** Share of the quota scheduled per minute. The rest is headroom for calls that start a little after their slot. */
export const PACING_SHARE = 0.94;
/** Calls allowed at once after an idle spell, as a share of a minute's requests (at least one). */
export const BURST_SHARE = 0.03;
/** How far ahead slots may be handed out; SQS cannot delay a message longer. */
export const MAX_AHEAD_MS = 900_000;
export const MIN_RATE_FACTOR = 0.2;
export const RATE_DECREASE = 0.7;
/** Additive recovery per successful call after a throttle shrank the rate. */
export const RATE_RECOVERY_STEP = 0.01;

export interface Schedule {
  /** Milliseconds of timeline one call costs at full rate. */
  intervalMs: number;
  /** How far behind "now" the free point may lag, i.e. how many calls may start at once after idling. */
  toleranceMs: number;
}

export function hasQuota(quota: ModelQuota | undefined): quota is ModelQuota {
  return Boolean(quota?.requestsPerMinute || quota?.tokensPerMinute);
}

/** The slot length of one call of `cost` under `quota`, slowed by `rateFactor` after throttles. */
export function scheduleFor(quota: ModelQuota, cost: Cost, rateFactor: number): Schedule {
  const factor = Math.min(1, Math.max(MIN_RATE_FACTOR, rateFactor));
  const byRequests = quota.requestsPerMinute ? (cost.requests * 60_000) / (quota.requestsPerMinute * PACING_SHARE * factor) : 0;
  const byTokens = quota.tokensPerMinute ? (cost.tokens * 60_000) / (quota.tokensPerMinute * PACING_SHARE * factor) : 0;
  const intervalMs = Math.max(byRequests, byTokens);
  const burstCalls = quota.requestsPerMinute ? Math.max(1, Math.floor(quota.requestsPerMinute * BURST_SHARE)) : 1;
  return { intervalMs, toleranceMs: (burstCalls - 1) * intervalMs };
}

/** When a call whose slot ends at `newTat` (after the atomic ADD) may start, and whether that is too far ahead. */
export function slotAfterAdd(newTat: number, schedule: Schedule, now: number): { waitMs: number; tooFar: boolean } {
  const start = newTat - schedule.intervalMs - schedule.toleranceMs;
  const waitMs = Math.max(0, Math.ceil(start - now));
  return { waitMs, tooFar: waitMs > MAX_AHEAD_MS };
}

/** An idle timeline (free point behind now) restarts at now: the lifting call takes the first slot. */
export function liftedTat(now: number, schedule: Schedule): number {
  return now + schedule.intervalMs;
}

/** Timeline to give back once the real usage is known; a call that was not made or was throttled gives back all. */
export function unusedMs(quota: ModelQuota, reserved: Cost, used: { inputTokens: number; outputTokens: number } | undefined, schedule: Schedule, called: boolean): number {
  if (!called || !used) return schedule.intervalMs;
  const actual = scheduleFor(quota, { requests: reserved.requests, tokens: used.inputTokens + used.outputTokens }, 1);
  // Same rate factor as the reservation: scale the unslowed actual interval the same way.
  const scale = schedule.intervalMs / Math.max(scheduleFor(quota, reserved, 1).intervalMs, Number.MIN_VALUE);
  return Math.max(0, schedule.intervalMs - actual.intervalMs * scale);
}

/** Input tokens as Bedrock's quota counts them, estimated from text (about four characters a token). */
export function estimateInputTokens(request: NormalizedJobRequest): number {
  const chars = request.messages.reduce((n, m) => n + m.content.reduce((k, b) => k + b.text.length, 0), 0) + (request.system?.length ?? 0);
  return Math.ceil(chars / 4);
}

export function costOf(request: NormalizedJobRequest, defaultMaxTokens: number): Cost {
  return { requests: 1, tokens: estimateInputTokens(request) + (request.inferenceConfig?.maxTokens ?? defaultMaxTokens) };
}

export function afterThrottle(rateFactor: number): number {
  return Math.max(MIN_RATE_FACTOR, rateFactor * RATE_DECREASE);
}

export function afterSuccess(rateFactor: number): number {
  return Math.min(1, rateFactor + RATE_RECOVERY_STEP);
}
