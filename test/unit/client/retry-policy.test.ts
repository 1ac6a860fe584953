import { DEFAULT_BACKOFF, RETRYABLE_STATUSES, parseRetryAfter, pollDelayMs, retryDelayMs } from '../../../client/src/retry-policy';

describe('the client retry policy', () => {
  it('retries throttling and server faults, never a client error', () => {
    for (const status of [429, 500, 502, 503, 504]) expect(RETRYABLE_STATUSES.has(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 409, 413, 415, 422, 501]) expect(RETRYABLE_STATUSES.has(status)).toBe(false);
  });

  it('backs off exponentially with full jitter, capped', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 5].map((retry) => retryDelayMs(retry, undefined, DEFAULT_BACKOFF, top))).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
    expect(retryDelayMs(3, undefined, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(retryDelayMs(1, undefined, DEFAULT_BACKOFF, () => 0.5)).toBe(500);
  });

  it("waits what the server's Retry-After asks, spread by at most 10%", () => {
    expect(retryDelayMs(0, 2, DEFAULT_BACKOFF, () => 0)).toBe(2000);
    expect(retryDelayMs(0, 2, DEFAULT_BACKOFF, () => 0.999)).toBe(2200);
  });

  it('gives up instead of sleeping when Retry-After is longer than the client waits', () => {
    expect(retryDelayMs(0, 31, DEFAULT_BACKOFF)).toBeUndefined();
    expect(retryDelayMs(0, 30, DEFAULT_BACKOFF, () => 0)).toBe(30_000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-08T01:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Tue, 08 Dec 2026 01:00:10 GMT', now)).toBe(10);
    expect(parseRetryAfter('Tue, 08 Dec 2026 00:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it("paces polls by Retry-After within bounds, and never sleeps past the caller's deadline", () => {
    const bounds = { minMs: 250, maxMs: 30_000, defaultMs: 1000 };
    expect(pollDelayMs(2, bounds, 60_000)).toBe(2000);
    expect(pollDelayMs(300, bounds, 60_000)).toBe(30_000);
    expect(pollDelayMs(0, bounds, 60_000)).toBe(250);
    expect(pollDelayMs(undefined, bounds, 60_000)).toBe(1000);
    expect(pollDelayMs(2, bounds, 700)).toBe(700);
  });
});
