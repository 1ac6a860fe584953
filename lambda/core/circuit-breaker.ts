import type { BreakerState, BreakerTarget, BreakerView } from './ports';
import type { ResiliencePolicy } from './settings';

/*
 * The circuit breaker's decisions, pure: what state a breaker is in, whether a call may go ahead, when it opens,
 * how long it stays open and what the rolling failure rate is. lambda/aws/breaker-store.ts executes each decision
 * as one conditional write, re-reads and decides again when the condition fails.
 */

type ResilienceBreakerPolicy = ResiliencePolicy['breaker'];

/** The config's breaker policy (resilience.breaker), plus the probe lease. */
export interface BreakerSettings extends ResilienceBreakerPolicy {
  /**
   * A probe slot frees itself after this long, so a worker that died mid-probe cannot wedge HALF_OPEN.
   * @default DEFAULT_PROBE_LEASE_SECONDS
   */
  probeLeaseSeconds?: number;
}

/**
 * Long enough for a typical model call to report back; a slower probe only lets one more probe in. Short enough
 * that a crashed probe keeps a recovered model waiting one minute at most.
 */
export const DEFAULT_PROBE_LEASE_SECONDS = 60;

/**
 * A breaker as stored. Counting uses two fixed buckets of `windowSeconds`: the current one (starting at
 * `bucketStart`) and the one before it, which the rolling rate weighs by how much of it the window still covers.
 */
export interface BreakerSnapshot {
  state: BreakerState;
  /** Bumped by every state change; transitions are conditional on it. */
  version: number;
  /** Epoch ms, a multiple of the window. */
  bucketStart: number;
  calls: number;
  failures: number;
  prevCalls: number;
  prevFailures: number;
  /** Openings since the breaker last closed; the cooldown doubles with each. */
  consecutiveOpens: number;
  openedAt?: number;
  /** Epoch ms when an OPEN breaker lets its first probe through. */
  openUntil?: number;
  /** HALF_OPEN probe slots ("0".."halfOpenProbes-1") -> lease expiry (epoch ms). */
  probes: Record<string, number>;
}

export interface WindowCounts {
  calls: number;
  failures: number;
  /** failures / calls, 0 without calls. */
  errorRate: number;
}

const windowMs = (settings: BreakerSettings) => settings.windowSeconds * 1000;

export function bucketStartFor(now: number, settings: BreakerSettings): number {
  return Math.floor(now / windowMs(settings)) * windowMs(settings);
}

/** The rolling window's counts at `now`: the current bucket plus the overlapping share of the previous one. */
export function windowCounts(snapshot: BreakerSnapshot | undefined, now: number, settings: BreakerSettings): WindowCounts {
  if (!snapshot) return { calls: 0, failures: 0, errorRate: 0 };
  // A worker whose clock reading is a little older than the last writer's sees the stored bucket as current.
  now = Math.max(now, snapshot.bucketStart);
  const current = bucketStartFor(now, settings);
  const overlap = 1 - (now - current) / windowMs(settings);
  let calls = 0;
  let failures = 0;
  if (snapshot.bucketStart === current) {
    calls = snapshot.calls + snapshot.prevCalls * overlap;
    failures = snapshot.failures + snapshot.prevFailures * overlap;
  } else if (snapshot.bucketStart === current - windowMs(settings)) {
    calls = snapshot.calls * overlap;
    failures = snapshot.failures * overlap;
  }
  return { calls, failures, errorRate: calls > 0 ? failures / calls : 0 };
}

export function shouldOpen(counts: WindowCounts, settings: BreakerSettings): boolean {
  return counts.calls >= settings.minimumCalls && counts.errorRate >= settings.failureRateThreshold;
}

/** How long the n-th consecutive opening lasts: the cooldown, doubled per opening, capped. */
export function cooldownMs(consecutiveOpens: number, settings: BreakerSettings): number {
  const seconds = settings.cooldownSeconds * 2 ** Math.max(0, consecutiveOpens - 1);
  return Math.min(seconds, settings.maxCooldownSeconds) * 1000;
}

export type AdmissionDecision =
  /** CLOSED: the call goes ahead; nothing to write. */
  | { kind: 'admit' }
  | { kind: 'refuse'; state: 'OPEN' | 'HALF_OPEN'; retryAt: number }
  /** Take probe `slot` until `leaseUntil`, if the breaker is still at `expectVersion` (and, when `startHalfOpen`, OPEN). */
  | { kind: 'probe'; slot: string; leaseUntil: number; expectVersion: number; startHalfOpen: boolean };

/** Whether a call may go ahead now. `random` spreads concurrent probers over the free slots. */
export function decideAdmission(snapshot: BreakerSnapshot | undefined, now: number, settings: BreakerSettings, random: () => number = () => 0): AdmissionDecision {
  if (!snapshot || snapshot.state === 'CLOSED') return { kind: 'admit' };
  const leaseUntil = now + (settings.probeLeaseSeconds ?? DEFAULT_PROBE_LEASE_SECONDS) * 1000;
  if (snapshot.state === 'OPEN') {
    const openUntil = snapshot.openUntil ?? now;
    if (now < openUntil) return { kind: 'refuse', state: 'OPEN', retryAt: openUntil };
    return { kind: 'probe', slot: '0', leaseUntil, expectVersion: snapshot.version, startHalfOpen: true };
  }
  const slots = probeSlots(settings);
  const free = slots.filter((slot) => !(snapshot.probes[slot] > now));
  if (free.length === 0) return { kind: 'refuse', state: 'HALF_OPEN', retryAt: Math.min(...slots.map((slot) => snapshot.probes[slot])) };
  const slot = free[Math.min(free.length - 1, Math.floor(random() * free.length))];
  return { kind: 'probe', slot, leaseUntil, expectVersion: snapshot.version, startHalfOpen: false };
}

const probeSlots = (settings: BreakerSettings) => Array.from({ length: settings.halfOpenProbes }, (_, i) => String(i));

export type RecordDecision =
  /** Nothing to write: the outcome says nothing the breaker's state can use. */
  | { kind: 'ignore' }
  /** Add the call to the current bucket (creating the breaker if it does not exist yet). */
  | { kind: 'count'; failure: boolean; bucketStart: number }
  /** Start a new bucket with this call; the old current bucket becomes the previous one (`shift`) or is too old (`clear`). */
  | { kind: 'roll'; failure: boolean; bucketStart: number; previous: 'shift' | 'clear'; seenBucketStart: number }
  /** HALF_OPEN -> CLOSED: counts and openings start again. */
  | { kind: 'close'; expectVersion: number; bucketStart: number }
  /** HALF_OPEN -> OPEN for a longer cooldown. */
  | { kind: 'reopen'; expectVersion: number; consecutiveOpens: number; openedAt: number; openUntil: number };

/** What the outcome of an admitted call changes. `probe`: the admission was a probe. */
export function decideRecord(snapshot: BreakerSnapshot | undefined, outcome: 'success' | 'failure', probe: boolean, now: number, settings: BreakerSettings): RecordDecision {
  const failure = outcome === 'failure';
  const bucketStart = bucketStartFor(now, settings);
  if (!snapshot) return { kind: 'count', failure, bucketStart };
  if (snapshot.state === 'CLOSED') {
    // Never roll back to an older bucket: a call that ended just before another worker rolled counts in the new one.
    if (snapshot.bucketStart >= bucketStart) return { kind: 'count', failure, bucketStart: snapshot.bucketStart };
    const previous = snapshot.bucketStart === bucketStart - windowMs(settings) ? 'shift' : 'clear';
    return { kind: 'roll', failure, bucketStart, previous, seenBucketStart: snapshot.bucketStart };
  }
  // Calls admitted before the breaker opened (or while its store was down) finish late: they are not probes.
  if (snapshot.state === 'OPEN' || !probe) return { kind: 'ignore' };
  if (!failure) return { kind: 'close', expectVersion: snapshot.version, bucketStart };
  return opening(snapshot, now, settings, 'reopen');
}

/** After a call was counted: whether the breaker's window now says OPEN. */
export function decideAfterCount(
  snapshot: BreakerSnapshot,
  now: number,
  settings: BreakerSettings,
): { kind: 'stay' } | { kind: 'open'; expectVersion: number; consecutiveOpens: number; openedAt: number; openUntil: number } {
  if (snapshot.state !== 'CLOSED' || !shouldOpen(windowCounts(snapshot, now, settings), settings)) return { kind: 'stay' };
  return opening(snapshot, now, settings, 'open');
}

function opening<K extends 'open' | 'reopen'>(snapshot: BreakerSnapshot, now: number, settings: BreakerSettings, kind: K) {
  const consecutiveOpens = snapshot.consecutiveOpens + 1;
  return { kind, expectVersion: snapshot.version, consecutiveOpens, openedAt: now, openUntil: now + cooldownMs(consecutiveOpens, settings) };
}

/** A breaker as GET /models shows it; a breaker never written is CLOSED with an empty window. */
export function breakerView(target: BreakerTarget, snapshot: BreakerSnapshot | undefined, now: number, settings: BreakerSettings): BreakerView {
  const counts = windowCounts(snapshot, now, settings);
  const view: BreakerView = {
    modelId: target.modelId,
    region: target.region,
    state: snapshot?.state ?? 'CLOSED',
    errorRate: Math.round(counts.errorRate * 1000) / 1000,
    calls: Math.round(counts.calls),
    failures: Math.round(counts.failures),
  };
  if (!snapshot || snapshot.state === 'CLOSED') return view;
  if (snapshot.openedAt !== undefined) view.openedAt = new Date(snapshot.openedAt).toISOString();
  const admission = decideAdmission(snapshot, now, settings);
  const nextProbeAt = admission.kind === 'refuse' ? admission.retryAt : snapshot.state === 'OPEN' ? (snapshot.openUntil ?? now) : now;
  view.nextProbeAt = new Date(nextProbeAt).toISOString();
  return view;
}
