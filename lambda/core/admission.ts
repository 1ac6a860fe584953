import { estimateMessageTokens, estimateOverheadTokens } from './converse-fields';
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
/**
 * How far ahead a slot is promised. A promise made at today's rate cannot be taken back when the rate drops (the job
 * sleeps on the queue until its slot), so calls further out are not promised a slot: they get a place in the line.
 */
export const COMMIT_AHEAD_MS = 1_000;
/** A job in the line comes back this long before its place, to take a slot then. */
export const LINE_LEAD_MS = 1_000;
/** How far ahead a job may be told to come back; SQS cannot delay a message longer. */
export const MAX_AHEAD_MS = 900_000;
export const MIN_RATE_FACTOR = 0.1;
/** After a short throttled spell the rate restarts this much below where Bedrock throttled it. */
export const RATE_DECREASE = 0.85;
/** Bedrock counts a quota over a minute: how long a throttled spell lasts says how much of the rate was over it. */
export const QUOTA_WINDOW_MS = 60_000;
/** Recovery curve: the rate factor climbs as ceiling + RECOVERY_CUBIC * (s - K)^3, s in seconds since the spell ended. */
export const RECOVERY_CUBIC = 1e-6;
/** First pause of the timeline after a throttle; doubled by each further throttle of the same spell. */
export const PAUSE_BASE_MS = 2_000;
export const PAUSE_MAX_MS = 32_000;

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

/** When a call whose slot ends at `newTat` (after the atomic ADD) may start, and whether that is beyond the promise horizon. */
export function slotAfterAdd(newTat: number, schedule: Schedule, now: number): { waitMs: number; tooFar: boolean } {
  const start = newTat - schedule.intervalMs - schedule.toleranceMs;
  const waitMs = Math.max(0, Math.ceil(start - now));
  return { waitMs, tooFar: waitMs > COMMIT_AHEAD_MS };
}

/**
 * A job with no slot within the horizon takes a place in the line (`lineTat`, advanced by the same interval, never
 * behind the schedule's end) and comes back a little before it; returning jobs then take slots at the rate of that
 * moment. Returns when to come back, at most as far as SQS can delay a message.
 */
export function placeInLine(newLineTat: number, scheduleEnd: number, schedule: Schedule, now: number): { waitMs: number; behind: boolean } {
  // A millisecond of slack: the two timelines add the same fractional intervals in different orders.
  const behind = newLineTat - schedule.intervalMs < scheduleEnd - 1;
  const place = behind ? scheduleEnd + schedule.intervalMs : newLineTat;
  const waitMs = Math.max(0, Math.ceil(place - schedule.intervalMs - LINE_LEAD_MS - now));
  return { waitMs: Math.min(waitMs, MAX_AHEAD_MS), behind };
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

/** Input tokens as Bedrock's quota counts them, estimated (lambda/core/converse-fields.ts estimateBlockTokens). */
export function estimateInputTokens(request: NormalizedJobRequest): number {
  return request.messages.reduce((n, m) => n + estimateMessageTokens(m), 0) + estimateOverheadTokens(request);
}

export function costOf(request: NormalizedJobRequest, defaultMaxTokens: number): Cost {
  return { requests: 1, tokens: estimateInputTokens(request) + (request.inferenceConfig?.maxTokens ?? defaultMaxTokens) };
}

/**
 * How the schedule adapts to what Bedrock really admits (the quota may be shared with other applications). A throttle
 * starts a spell: the timeline pauses (doubling per throttle that follows a pause) and probes at the lowest rate until
 * a call is admitted. The spell's length measures the cut (Bedrock counts a minute: a spell of d seconds means about
 * (60 - d) / 60 of the rate fitted), the rate restarts there, and climbs back on a cubic curve: quickly while far below
 * the rate Bedrock last throttled, slowly near it, then faster again to find a quota that came back.
 */
export interface RateState {
  /** The rate factor the recovery starts from. */
  floor: number;
  /** The rate factor at which Bedrock last throttled (estimated): the climb slows near it. */
  ceiling: number;
  /** Start of the climb (epoch ms). */
  since: number;
  /** Throttles in the current spell; 0 once a call was admitted after them. */
  streak: number;
  /** When the spell began, and the rate factor then. */
  spellStart: number;
  spellFactor: number;
  /** The timeline is paused until then (epoch ms). */
  pausedUntil: number;
  /** The schedule's `usedMs` counter when the climb started: what the workers really took since then is measured. */
  usedAtSince?: number;
}

/** A climb this long at least says what rate the workers really took (they may not fill the schedule). */
export const MEASURE_MIN_MS = 20_000;

/**
 * The rate factor the workers really used since the climb started: the schedule's `usedMs` counter adds each slot's
 * length at full rate, so over a stretch used at factor f it grows by f times the stretch. Undefined if unknown.
 */
export function usedFactor(state: RateState | undefined, used: number | undefined, now: number): number | undefined {
  if (!state || state.usedAtSince === undefined || used === undefined || now - state.since < MEASURE_MIN_MS) return undefined;
  return Math.max(0, used - state.usedAtSince) / (now - state.since);
}

export function rateFactorAt(state: RateState | undefined, now: number): number {
  if (!state) return 1;
  if (state.streak > 0) return MIN_RATE_FACTOR;
  const seconds = Math.max(0, now - state.since) / 1000;
  const k = Math.cbrt(Math.max(0, state.ceiling - state.floor) / RECOVERY_CUBIC);
  return Math.min(1, Math.max(MIN_RATE_FACTOR, state.ceiling + RECOVERY_CUBIC * (seconds - k) ** 3));
}

/**
 * The rate factor a settling call's slot is measured at: during a spell, the rate before it (most slots settling
 * then were taken before it; a slot taken during it is longer, and giving back too little is the safe error).
 */
export function settlementFactor(state: RateState | undefined, now: number): number {
  return state && state.streak > 0 ? Math.max(MIN_RATE_FACTOR, state.spellFactor) : rateFactorAt(state, now);
}

/** A throttled call: the new state, and how long the timeline pauses from now (0: the throttle came during the pause, from a call started before it). */
export function afterThrottle(state: RateState | undefined, now: number, used?: number): { state: RateState; pauseMs: number } {
  if (state && state.streak > 0) {
    if (now < state.pausedUntil) return { state, pauseMs: 0 };
    const pauseMs = Math.min(PAUSE_MAX_MS, PAUSE_BASE_MS * 2 ** state.streak);
    return { state: { ...state, streak: state.streak + 1, pausedUntil: now + pauseMs }, pauseMs };
  }
  // Throttled at the rate really taken, if the workers did not fill the schedule.
  const factor = Math.max(MIN_RATE_FACTOR, Math.min(rateFactorAt(state, now), usedFactor(state, used, now) ?? 1));
  return {
    state: { floor: factor, ceiling: factor, since: now, streak: 1, spellStart: now, spellFactor: factor, pausedUntil: now + PAUSE_BASE_MS },
    pauseMs: PAUSE_BASE_MS,
  };
}

/** An admitted call: ends a spell (the only write a success makes), or undefined when there is none to end. */
export function afterAdmitted(state: RateState | undefined, now: number, used?: number): RateState | undefined {
  // Only a call that ended after the pause says Bedrock has room again; one under way before the spell says nothing.
  if (!state || state.streak === 0 || now < state.pausedUntil) return undefined;
  const fitted = state.spellFactor * Math.min(1, Math.max(0, 1 - (now - state.spellStart) / QUOTA_WINDOW_MS));
  const floor = Math.max(MIN_RATE_FACTOR, Math.min(state.spellFactor * RATE_DECREASE, fitted));
  return { ...state, floor, ceiling: Math.max(floor, fitted), since: now, streak: 0, ...(used !== undefined && { usedAtSince: used }) };
}
