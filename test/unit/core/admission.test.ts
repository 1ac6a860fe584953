import {
  afterAdmitted,
  afterThrottle,
  COMMIT_AHEAD_MS,
  costOf,
  estimateInputTokens,
  hasQuota,
  liftedTat,
  MAX_AHEAD_MS,
  MIN_RATE_FACTOR,
  placeInLine,
  rateFactorAt,
  scheduleFor,
  slotAfterAdd,
  unusedMs,
  type RateState,
} from '../../../lambda/core/admission';

const quota = { requestsPerMinute: 120, tokensPerMinute: 60_000 };

/** Plays the store's algorithm in memory: lift an idle timeline, else ADD the interval. */
function simulate(arrivals: number[], q = quota, cost = { requests: 1, tokens: 10 }) {
  let tat: number | undefined;
  return arrivals.map((now) => {
    const s = scheduleFor(q, cost, 1);
    if (tat === undefined || tat < now) {
      tat = liftedTat(now, s);
      return 0;
    }
    tat += s.intervalMs;
    return slotAfterAdd(tat, s, now).waitMs;
  });
}

describe('admission schedules', () => {
  it('give each call a slot of 60 s / (94% of the quota), by requests or tokens, whichever is tighter', () => {
    expect(scheduleFor(quota, { requests: 1, tokens: 10 }, 1).intervalMs).toBeCloseTo(60_000 / (120 * 0.94));
    expect(scheduleFor(quota, { requests: 1, tokens: 4000 }, 1).intervalMs).toBeCloseTo((4000 * 60_000) / (60_000 * 0.94));
    expect(hasQuota(undefined)).toBe(false);
    expect(hasQuota({})).toBe(false);
  });

  it('let a small burst through at once after idling, then pace the rest one slot apart', () => {
    const waits = simulate(Array.from({ length: 8 }, () => 1_000_000));
    const slot = 60_000 / (120 * 0.94);
    // Burst of 3 (3% of 120), then one per slot.
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    expect(waits.slice(3)).toEqual([1, 2, 3, 4, 5].map((n) => Math.ceil(n * slot)));
  });

  it('never schedule more than the quota in any 60 s, whatever the arrival pattern', () => {
    const arrivals = [...Array.from({ length: 300 }, () => 0), ...Array.from({ length: 100 }, (_, i) => 90_000 + i * 700)];
    const starts = simulate(arrivals).map((w, i) => arrivals[i] + w).sort((a, b) => a - b);
    for (let i = 0; i < starts.length; i++) {
      const inWindow = starts.filter((t) => t >= starts[i] && t < starts[i] + 60_000).length;
      expect(inWindow).toBeLessThanOrEqual(120);
    }
  });

  it('promise slots only within a second, and send later calls to the line', () => {
    const s = scheduleFor(quota, { requests: 1, tokens: 1 }, 1);
    expect(slotAfterAdd(COMMIT_AHEAD_MS + s.intervalMs + s.toleranceMs + 10, s, 0).tooFar).toBe(true);
    expect(slotAfterAdd(10_000, s, 8_000)).toEqual({ waitMs: Math.ceil(10_000 - s.intervalMs - s.toleranceMs - 8_000), tooFar: false });
  });

  it('give a job in the line a place one slot after the last, and bring it back a second before that slot starts', () => {
    const s = { intervalMs: 500, toleranceMs: 1000 };
    // The line ends at 30 s, the schedule at 2 s: the place is the slot ending at 30 s, starting at 29.5 s.
    expect(placeInLine(30_000, 2_000, s, 0)).toEqual({ waitMs: 28_500, behind: false });
    // An emptied line (ending before the schedule) restarts right after the schedule's end.
    expect(placeInLine(1_000, 2_000, s, 0)).toEqual({ waitMs: 1_000, behind: true });
    // No further than SQS can delay a message.
    expect(placeInLine(2_000_000, 2_000, s, 0).waitMs).toBe(MAX_AHEAD_MS);
  });

  it('run at the configured quota until Bedrock throttles', () => {
    expect(rateFactorAt(undefined, 0)).toBe(1);
    expect(scheduleFor(quota, { requests: 1, tokens: 1 }, 0.5).intervalMs).toBeCloseTo(2 * scheduleFor(quota, { requests: 1, tokens: 1 }, 1).intervalMs);
  });

  it('pause 2 s on a throttle and probe at the lowest rate, doubling the pause per probe throttled, not per call that was already under way', () => {
    const first = afterThrottle(undefined, 10_000);
    expect(first).toEqual({ state: { floor: 1, ceiling: 1, since: 10_000, streak: 1, spellStart: 10_000, spellFactor: 1, pausedUntil: 12_000 }, pauseMs: 2_000 });
    expect(rateFactorAt(first.state, 11_000)).toBe(MIN_RATE_FACTOR);
    // A call started before the pause is throttled during it: nothing changes.
    expect(afterThrottle(first.state, 11_500)).toEqual({ state: first.state, pauseMs: 0 });
    const second = afterThrottle(first.state, 12_300);
    expect(second.pauseMs).toBe(4_000);
    expect(second.state).toMatchObject({ streak: 2, pausedUntil: 16_300, spellStart: 10_000 });
    expect(afterThrottle({ ...second.state, streak: 9, pausedUntil: 0 }, 50_000).pauseMs).toBe(32_000);
  });

  it('after a short spell, restart at 85% of the rate throttled and climb back: fast, slow near it, then faster past it', () => {
    const spell = afterThrottle(undefined, 0).state;
    // Admitted 3 s after the throttle: about 95% of the rate fitted in the minute; restart at 85%.
    const after = afterAdmitted(spell, 3_000)!;
    expect(after).toMatchObject({ floor: 0.85, ceiling: 0.95, since: 3_000, streak: 0 });
    expect(rateFactorAt(after, 3_000)).toBeCloseTo(0.85);
    // K = cbrt(0.10 / 1e-6) = 46.4 s: the climb reaches the ceiling then, and is at 0.95 - 1e-6 * 23.2^3 = 0.9375 halfway.
    expect(rateFactorAt(after, 3_000 + 23_208)).toBeCloseTo(0.9375, 3);
    expect(rateFactorAt(after, 3_000 + 46_416)).toBeCloseTo(0.95, 3);
    // 20 s past K: 0.95 + 1e-6 * 20^3 = 0.958; 60 s past K: 0.95 + 0.216, capped at the configured quota.
    expect(rateFactorAt(after, 3_000 + 66_416)).toBeCloseTo(0.958, 3);
    expect(rateFactorAt(after, 3_000 + 106_416)).toBe(1);
    expect(rateFactorAt(after, 3_000 + 600_000)).toBe(1);
    // A call that was under way before the spell and ends during the pause does not end it.
    expect(afterAdmitted(spell, 1_500)).toBeUndefined();
    // A success outside a spell writes nothing.
    expect(afterAdmitted(after, 10_000)).toBeUndefined();
    expect(afterAdmitted(undefined, 10_000)).toBeUndefined();
  });

  it('after a long spell, restart at the share of the rate that fitted in the minute (half after 30 s of throttles)', () => {
    const spell = afterThrottle(undefined, 0).state;
    const after = afterAdmitted(spell, 30_000)!;
    expect(after).toMatchObject({ floor: 0.5, ceiling: 0.5, since: 30_000 });
    // No gap to the ceiling: the climb is convex at once, 0.5 + 1e-6 * 20^3 = 0.508 after 20 s, 0.5 + 0.216 after 60 s.
    expect(rateFactorAt(after, 50_000)).toBeCloseTo(0.508, 3);
    expect(rateFactorAt(after, 90_000)).toBeCloseTo(0.716, 3);
    // A spell of a whole minute or more cannot take the rate below the minimum.
    expect(afterAdmitted(spell, 120_000)!.floor).toBe(MIN_RATE_FACTOR);
  });

  it('start a spell from the rate the workers really took when they did not fill the schedule', () => {
    const state: RateState = { floor: 0.8, ceiling: 0.8, since: 0, streak: 0, spellStart: 0, spellFactor: 1, pausedUntil: 0, usedAtSince: 1_000 };
    // 40 s of climbing at about 0.8, but only 24 s of full-rate slots taken: throttled at 0.6, not 0.8.
    expect(afterThrottle(state, 40_000, 1_000 + 24_000).state.spellFactor).toBeCloseTo(0.6);
    // Taking more than the schedule's rate (a burst after idling) does not raise it.
    expect(afterThrottle(state, 40_000, 1_000 + 39_000).state.spellFactor).toBeCloseTo(rateFactorAt(state, 40_000));
    // Less than 20 s says too little: the schedule's rate stands.
    expect(afterThrottle(state, 10_000, 1_000 + 1_000).state.spellFactor).toBeCloseTo(rateFactorAt(state, 10_000));
    // The end of a spell records the counter the next measure starts from.
    expect(afterAdmitted(afterThrottle(state, 40_000, 25_000).state, 43_000, 25_500)).toMatchObject({ since: 43_000, usedAtSince: 25_500 });
  });

  it('start a new spell from the rate reached, wherever the climb is', () => {
    const state: RateState = { floor: 0.4, ceiling: 0.5, since: 0, streak: 0, spellStart: 0, spellFactor: 0.5, pausedUntil: 0 };
    const now = 40_000;
    const reached = rateFactorAt(state, now);
    expect(afterThrottle(state, now).state).toMatchObject({ spellFactor: reached, spellStart: now, streak: 1 });
  });

  it('cost a call its estimated input plus max tokens, as Bedrock reserves, and give back the unused part', () => {
    const request = { messages: [{ role: 'user' as const, content: [{ text: 'x'.repeat(400) }] }], system: 'y'.repeat(40) };
    expect(estimateInputTokens(request)).toBe(110);
    expect(costOf(request, 4096)).toEqual({ requests: 1, tokens: 110 + 4096 });
    const tokenBound = { tokensPerMinute: 60_000 };
    const reserved = { requests: 1, tokens: 4000 };
    const s = scheduleFor(tokenBound, reserved, 1);
    expect(unusedMs(tokenBound, reserved, { inputTokens: 100, outputTokens: 900 }, s, true)).toBeCloseTo(s.intervalMs * 0.75);
    expect(unusedMs(tokenBound, reserved, undefined, s, false)).toBe(s.intervalMs);
  });
});
