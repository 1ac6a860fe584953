import { additionsOf, addSample, bucketsOfItem, latencyBucketOf, recentFigures, staleAttributesOf, type FigureBuckets } from '../../../lambda/core/model-stats';

/* The recent figures metric routing reads: buckets, their stored attributes, the weighted window and aging out. */

const MINUTE = 60_000;
const T0 = Date.parse('2026-12-07T12:00:00Z');
const call = (latencyMs: number, extra: Partial<{ failed: boolean; throttled: boolean }> = {}) => ({ latencyMs, failed: false, throttled: false, inputTokens: 10, outputTokens: 20, ...extra });

it('counts calls per bucket with a latency histogram, and stores them as attributes ADD can create', () => {
  const buckets: FigureBuckets = new Map();
  addSample(buckets, call(120), T0);
  addSample(buckets, call(4000, { failed: true, throttled: true }), T0 + 1000);
  expect(latencyBucketOf(120)).toBe(0);
  expect(latencyBucketOf(4000)).toBe(3);
  expect(latencyBucketOf(60_000)).toBe(5);
  const adds = additionsOf(buckets, T0);
  const suffix = Math.floor(T0 / MINUTE).toString(36);
  expect(adds).toEqual({ [`C${suffix}`]: 2, [`E${suffix}`]: 1, [`T${suffix}`]: 1, [`I${suffix}`]: 20, [`O${suffix}`]: 40, [`L0${suffix}`]: 1, [`L3${suffix}`]: 1 });
  expect(bucketsOfItem({ pk: 'BREAKER#x', state: 'CLOSED', ...adds })).toEqual(buckets);
});

it('weighs each earlier bucket half the next, and forgets buckets past the window', () => {
  const buckets: FigureBuckets = new Map();
  for (let i = 0; i < 10; i++) addSample(buckets, call(8000), T0); // slow, four minutes before "now"
  for (let i = 0; i < 10; i++) addSample(buckets, call(300), T0 + 4 * MINUTE);
  const now = T0 + 4 * MINUTE + 1000;
  const recent = recentFigures(buckets, now);
  expect(recent.calls).toBeCloseTo(10 + 10 / 16, 3);
  expect(recent.p50Ms).toBe(500);
  expect(recent.p90Ms).toBe(500); // the old slow calls weigh 1/16 each: under the top 10%
  expect(recentFigures(buckets, T0 + 5 * MINUTE).p90Ms).toBe(500);
  expect(recentFigures(buckets, T0 + 10 * MINUTE)).toEqual({ calls: 0, errorRate: 0, throttleRate: 0 });
});

it('never writes samples older than the window, and removes the attributes that aged out', () => {
  const old: FigureBuckets = new Map();
  addSample(old, call(100), T0);
  expect(additionsOf(old, T0 + 6 * MINUTE)).toEqual({});
  const stored = bucketsOfItem(additionsOf(old, T0));
  const stale = staleAttributesOf(stored, T0 + 7 * MINUTE);
  expect(stale).toContain(`C${Math.floor(T0 / MINUTE).toString(36)}`);
  expect(stale).toContain(`C${(Math.floor(T0 / MINUTE) + 2).toString(36)}`); // the bucket just past the window
  expect(staleAttributesOf(stored, T0)).not.toContain(`C${Math.floor(T0 / MINUTE).toString(36)}`);
});
