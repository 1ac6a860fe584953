import {
  breakerView,
  bucketStartFor,
  cooldownMs,
  decideAdmission,
  decideAfterCount,
  decideRecord,
  shouldOpen,
  windowCounts,
  type BreakerSettings,
  type BreakerSnapshot,
} from '../../../lambda/core/circuit-breaker';

const settings: BreakerSettings = { windowSeconds: 60, minimumCalls: 10, failureRateThreshold: 0.5, cooldownSeconds: 30, maxCooldownSeconds: 600, halfOpenProbes: 2 };
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000); // a bucket boundary
const target = { modelId: 'model-a', region: 'us-east-1' };

function snapshot(overrides: Partial<BreakerSnapshot> = {}): BreakerSnapshot {
  return { state: 'CLOSED', version: 3, bucketStart: T0, calls: 0, failures: 0, prevCalls: 0, prevFailures: 0, consecutiveOpens: 0, probes: {}, ...overrides };
}

describe('rolling window', () => {
  it('aligns buckets to multiples of the window', () => {
    expect(bucketStartFor(T0 + 59_999, settings)).toBe(T0);
    expect(bucketStartFor(T0 + 60_000, settings)).toBe(T0 + 60_000);
  });

  it('weighs the previous bucket by how much of it the window still covers', () => {
    const s = snapshot({ calls: 4, failures: 1, prevCalls: 10, prevFailures: 10 });
    expect(windowCounts(s, T0, settings)).toEqual({ calls: 14, failures: 11, errorRate: 11 / 14 });
    expect(windowCounts(s, T0 + 45_000, settings)).toEqual({ calls: 6.5, failures: 3.5, errorRate: 3.5 / 6.5 });
  });

  it('treats a stored current bucket one window old as the previous bucket, and older ones as empty', () => {
    const s = snapshot({ calls: 8, failures: 4, prevCalls: 100, prevFailures: 100 });
    expect(windowCounts(s, T0 + 60_000 + 15_000, settings)).toEqual({ calls: 6, failures: 3, errorRate: 0.5 });
    expect(windowCounts(s, T0 + 120_000, settings)).toEqual({ calls: 0, failures: 0, errorRate: 0 });
  });

  it('reads a bucket another worker already started (its clock reading a little later) as the current one', () => {
    const s = snapshot({ bucketStart: T0 + 60_000, calls: 3, failures: 3, prevCalls: 10, prevFailures: 0 });
    expect(windowCounts(s, T0 + 59_990, settings)).toEqual({ calls: 13, failures: 3, errorRate: 3 / 13 });
  });

  it('reports an unknown breaker as an empty window', () => {
    expect(windowCounts(undefined, T0, settings)).toEqual({ calls: 0, failures: 0, errorRate: 0 });
  });
});

describe('when a CLOSED breaker opens', () => {
  it('stays closed below minimumCalls even when every call failed', () => {
    expect(shouldOpen({ calls: 9, failures: 9, errorRate: 1 }, settings)).toBe(false);
    expect(decideAfterCount(snapshot({ calls: 9, failures: 9 }), T0 + 1000, settings)).toEqual({ kind: 'stay' });
  });

  it('stays closed below the failure rate threshold past minimumCalls', () => {
    expect(decideAfterCount(snapshot({ calls: 20, failures: 9 }), T0 + 1000, settings)).toEqual({ kind: 'stay' });
  });

  it('opens at minimumCalls and the threshold, for the first cooldown, conditioned on the version it read', () => {
    expect(decideAfterCount(snapshot({ calls: 10, failures: 5 }), T0 + 1000, settings)).toEqual({
      kind: 'open',
      expectVersion: 3,
      consecutiveOpens: 1,
      openedAt: T0 + 1000,
      openUntil: T0 + 1000 + 30_000,
    });
  });

  it('counts the weighted previous bucket towards both minimumCalls and the rate', () => {
    const s = snapshot({ calls: 2, failures: 2, prevCalls: 16, prevFailures: 8 });
    expect(decideAfterCount(s, T0 + 30_000, settings).kind).toBe('open'); // 2 + 8 calls, 2 + 4 failures
    expect(decideAfterCount(s, T0 + 31_000, settings).kind).toBe('stay'); // fewer than 10 calls left in the window
  });

  it('never opens a breaker that is not CLOSED', () => {
    expect(decideAfterCount(snapshot({ state: 'HALF_OPEN', calls: 50, failures: 50 }), T0, settings)).toEqual({ kind: 'stay' });
  });
});

describe('cooldown', () => {
  it('doubles per consecutive opening and stops at maxCooldownSeconds', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 30].map((n) => cooldownMs(n, settings) / 1000)).toEqual([30, 60, 120, 240, 480, 600, 600, 600]);
  });
});

describe('admission', () => {
  it('admits every call while CLOSED or never written, without a write', () => {
    expect(decideAdmission(undefined, T0, settings)).toEqual({ kind: 'admit' });
    expect(decideAdmission(snapshot({ calls: 100, failures: 100 }), T0, settings)).toEqual({ kind: 'admit' });
  });

  it('refuses while OPEN until the cooldown ends', () => {
    const open = snapshot({ state: 'OPEN', openedAt: T0, openUntil: T0 + 30_000, consecutiveOpens: 1 });
    expect(decideAdmission(open, T0 + 29_999, settings)).toEqual({ kind: 'refuse', state: 'OPEN', retryAt: T0 + 30_000 });
  });

  it('turns the first call after the cooldown into a probe that moves the breaker HALF_OPEN', () => {
    const open = snapshot({ state: 'OPEN', openedAt: T0, openUntil: T0 + 30_000, consecutiveOpens: 1 });
    expect(decideAdmission(open, T0 + 30_000, settings)).toEqual({ kind: 'probe', slot: '0', leaseUntil: T0 + 30_000 + 60_000, expectVersion: 3, startHalfOpen: true });
  });

  it('admits at most halfOpenProbes probes while HALF_OPEN, then refuses until the first lease ends', () => {
    const halfOpen = snapshot({ state: 'HALF_OPEN', probes: { '0': T0 + 60_000 } });
    expect(decideAdmission(halfOpen, T0 + 1000, settings)).toEqual({ kind: 'probe', slot: '1', leaseUntil: T0 + 61_000, expectVersion: 3, startHalfOpen: false });
    const full = snapshot({ state: 'HALF_OPEN', probes: { '0': T0 + 60_000, '1': T0 + 50_000 } });
    expect(decideAdmission(full, T0 + 1000, settings)).toEqual({ kind: 'refuse', state: 'HALF_OPEN', retryAt: T0 + 50_000 });
  });

  it('frees the slot of a probe that never reported once its lease ends', () => {
    const full = snapshot({ state: 'HALF_OPEN', probes: { '0': T0 + 60_000, '1': T0 + 50_000 } });
    expect(decideAdmission(full, T0 + 50_000, settings)).toMatchObject({ kind: 'probe', slot: '1', startHalfOpen: false });
  });

  it('ignores slots beyond halfOpenProbes and spreads probers over the free ones', () => {
    const one = { ...settings, halfOpenProbes: 1 };
    expect(decideAdmission(snapshot({ state: 'HALF_OPEN', probes: { '0': T0 + 9000 } }), T0, one)).toMatchObject({ kind: 'refuse' });
    const three = { ...settings, halfOpenProbes: 3 };
    expect(decideAdmission(snapshot({ state: 'HALF_OPEN' }), T0, three, () => 0.99)).toMatchObject({ slot: '2' });
    expect(decideAdmission(snapshot({ state: 'HALF_OPEN' }), T0, three, () => 0.4)).toMatchObject({ slot: '1' });
  });
});

describe('recording an outcome', () => {
  it('counts a call of a breaker never written into the current bucket', () => {
    expect(decideRecord(undefined, 'failure', false, T0 + 5000, settings)).toEqual({ kind: 'count', failure: true, bucketStart: T0 });
  });

  it('counts into the current bucket while it lasts', () => {
    expect(decideRecord(snapshot(), 'success', false, T0 + 59_999, settings)).toEqual({ kind: 'count', failure: false, bucketStart: T0 });
  });

  it('counts a call that ended just before another worker rolled the bucket into the new bucket, never rolling back', () => {
    expect(decideRecord(snapshot({ bucketStart: T0 + 60_000 }), 'failure', false, T0 + 59_990, settings)).toEqual({ kind: 'count', failure: true, bucketStart: T0 + 60_000 });
  });

  it('rolls to a new bucket, keeping the last one as previous only when adjacent', () => {
    expect(decideRecord(snapshot(), 'failure', false, T0 + 60_000, settings)).toEqual({ kind: 'roll', failure: true, bucketStart: T0 + 60_000, previous: 'shift', seenBucketStart: T0 });
    expect(decideRecord(snapshot(), 'success', false, T0 + 125_000, settings)).toEqual({ kind: 'roll', failure: false, bucketStart: T0 + 120_000, previous: 'clear', seenBucketStart: T0 });
  });

  it('closes a HALF_OPEN breaker on a successful probe, conditioned on its version', () => {
    expect(decideRecord(snapshot({ state: 'HALF_OPEN', version: 7 }), 'success', true, T0 + 70_000, settings)).toEqual({ kind: 'close', expectVersion: 7, bucketStart: T0 + 60_000 });
  });

  it('reopens a HALF_OPEN breaker on a failed probe with a doubled cooldown', () => {
    expect(decideRecord(snapshot({ state: 'HALF_OPEN', version: 7, consecutiveOpens: 2 }), 'failure', true, T0, settings)).toEqual({
      kind: 'reopen',
      expectVersion: 7,
      consecutiveOpens: 3,
      openedAt: T0,
      openUntil: T0 + 120_000,
    });
  });

  it('ignores calls that were not probes while OPEN or HALF_OPEN, and probes reporting to an OPEN breaker', () => {
    expect(decideRecord(snapshot({ state: 'OPEN' }), 'failure', false, T0, settings)).toEqual({ kind: 'ignore' });
    expect(decideRecord(snapshot({ state: 'HALF_OPEN' }), 'success', false, T0, settings)).toEqual({ kind: 'ignore' });
    expect(decideRecord(snapshot({ state: 'OPEN' }), 'success', true, T0, settings)).toEqual({ kind: 'ignore' });
  });

  it('counts a late probe like any call once another probe has closed the breaker', () => {
    expect(decideRecord(snapshot(), 'failure', true, T0, settings)).toEqual({ kind: 'count', failure: true, bucketStart: T0 });
  });
});

describe('the view GET /models shows', () => {
  it('shows a breaker never written as CLOSED with an empty window', () => {
    expect(breakerView(target, undefined, T0, settings)).toEqual({ ...target, state: 'CLOSED', errorRate: 0, calls: 0, failures: 0 });
  });

  it('shows a CLOSED breaker with its rounded window counts and no probe time', () => {
    expect(breakerView(target, snapshot({ calls: 2, failures: 1, prevCalls: 3, prevFailures: 0 }), T0 + 20_000, settings)).toEqual({
      ...target,
      state: 'CLOSED',
      errorRate: 0.25,
      calls: 4,
      failures: 1,
    });
  });

  it('shows an OPEN breaker with when it opened and when it will next probe', () => {
    const open = snapshot({ state: 'OPEN', openedAt: T0, openUntil: T0 + 30_000, calls: 10, failures: 10, consecutiveOpens: 1 });
    expect(breakerView(target, open, T0 + 1000, settings)).toEqual({
      ...target,
      state: 'OPEN',
      errorRate: 1,
      calls: 10,
      failures: 10,
      openedAt: new Date(T0).toISOString(),
      nextProbeAt: new Date(T0 + 30_000).toISOString(),
    });
  });

  it('shows a HALF_OPEN breaker with all slots busy as probing again when the first lease ends', () => {
    const busy = snapshot({ state: 'HALF_OPEN', openedAt: T0, probes: { '0': T0 + 90_000, '1': T0 + 80_000 } });
    expect(breakerView(target, busy, T0 + 40_000, settings).nextProbeAt).toBe(new Date(T0 + 80_000).toISOString());
    expect(breakerView(target, snapshot({ state: 'HALF_OPEN', openedAt: T0 }), T0 + 40_000, settings).nextProbeAt).toBe(new Date(T0 + 40_000).toISOString());
  });
});
