import { afterSuccess, afterThrottle, bucketLimits, costOf, decideAcquire, estimateInputTokens, fullBucket, MAX_DEBT_SECONDS, unusedTokens } from '../../../lambda/core/admission';

const limits = bucketLimits({ requestsPerMinute: 120, tokensPerMinute: 60_000 })!;

describe('admission buckets', () => {
  it('allow a small burst and refill so that no 60 s window exceeds the quota, with headroom for late calls', () => {
    expect(limits.requests).toEqual({ capacity: 3, rate: (120 * 0.94 - 3) / 60_000 });
    // A full bucket plus a minute of refill is 94% of the per-minute quota.
    expect(limits.requests!.capacity + limits.requests!.rate * 60_000).toBeCloseTo(112.8);
    expect(limits.tokens!.capacity + limits.tokens!.rate * 60_000).toBeCloseTo(56_400);
    expect(bucketLimits(undefined)).toBeUndefined();
    expect(bucketLimits({})).toBeUndefined();
  });

  it('reserve immediately while capacity lasts, then hand out later slots in order', () => {
    let state = fullBucket(limits, 0);
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      const d = decideAcquire(state, { requests: 1, tokens: 10 }, 0, limits);
      if (d.kind !== 'reserved') throw new Error('refused');
      waits.push(d.waitMs);
      state = d.next;
    }
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    const slot = 1 / limits.requests!.rate;
    expect(waits.slice(3)).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => Math.ceil(n * slot)));
  });

  it('pace by tokens when tokens are the tighter limit', () => {
    const state = fullBucket(limits, 0);
    const d = decideAcquire(state, { requests: 1, tokens: 4000 }, 0, limits);
    expect(d).toMatchObject({ kind: 'reserved', waitMs: Math.ceil((4000 - 1800) / limits.tokens!.rate) });
  });

  it('refuse a reservation beyond the debt limit, saying how long to wait', () => {
    const deep = { ...fullBucket(limits, 0), requests: -limits.requests!.rate * MAX_DEBT_SECONDS * 1000 };
    const d = decideAcquire(deep, { requests: 1, tokens: 1 }, 0, limits);
    expect(d.kind).toBe('refused');
    expect(d.waitMs).toBeGreaterThan(0);
  });

  it('refill with time, never above capacity', () => {
    const empty = { ...fullBucket(limits, 0), requests: 0, tokens: 0 };
    const later = decideAcquire(empty, { requests: 1, tokens: 1 }, 3_600_000, limits);
    expect(later).toMatchObject({ kind: 'reserved', waitMs: 0, next: { requests: 2, tokens: 1799 } });
  });

  it('slow down on throttles and recover a step per success', () => {
    expect(afterThrottle(1)).toBeCloseTo(0.7);
    expect(afterThrottle(0.21)).toBe(0.2);
    expect(afterSuccess(0.7)).toBeCloseTo(0.71);
    expect(afterSuccess(1)).toBe(1);
    const slowed = { ...fullBucket(limits, 0), requests: -1, rateFactor: 0.5 };
    const d = decideAcquire(slowed, { requests: 1, tokens: 0 }, 0, limits);
    expect(d.waitMs).toBe(Math.ceil(2 / (limits.requests!.rate * 0.5)));
  });

  it('cost a call its estimated input plus max tokens, as Bedrock reserves, and give back the unused part', () => {
    const request = { messages: [{ role: 'user' as const, content: [{ text: 'x'.repeat(400) }] }], system: 'y'.repeat(40) };
    expect(estimateInputTokens(request)).toBe(110);
    expect(costOf(request, 4096)).toEqual({ requests: 1, tokens: 110 + 4096 });
    expect(costOf({ ...request, inferenceConfig: { maxTokens: 100 } }, 4096)).toEqual({ requests: 1, tokens: 210 });
    expect(unusedTokens({ requests: 1, tokens: 210 }, { inputTokens: 110, outputTokens: 40 })).toBe(60);
    expect(unusedTokens({ requests: 1, tokens: 210 }, undefined)).toBe(210);
  });
});
