import { afterSuccess, afterThrottle, costOf, estimateInputTokens, hasQuota, liftedTat, MAX_AHEAD_MS, scheduleFor, slotAfterAdd, unusedMs } from '../../../lambda/core/admission';

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

  it('say when a slot is further ahead than SQS can delay a message', () => {
    const s = scheduleFor(quota, { requests: 1, tokens: 1 }, 1);
    expect(slotAfterAdd(MAX_AHEAD_MS + 10_000, s, 0).tooFar).toBe(true);
    expect(slotAfterAdd(10_000, s, 0)).toEqual({ waitMs: Math.ceil(10_000 - s.intervalMs - s.toleranceMs), tooFar: false });
  });

  it('slow down on throttles and recover a step per success', () => {
    expect(afterThrottle(1)).toBeCloseTo(0.7);
    expect(afterThrottle(0.21)).toBe(0.2);
    expect(afterSuccess(0.7)).toBeCloseTo(0.71);
    expect(afterSuccess(1)).toBe(1);
    expect(scheduleFor(quota, { requests: 1, tokens: 1 }, 0.5).intervalMs).toBeCloseTo(2 * scheduleFor(quota, { requests: 1, tokens: 1 }, 1).intervalMs);
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
