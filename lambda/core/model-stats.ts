/*
 * Recent figures of a model in a region, as metric-based routing and GET /models read them: per time bucket (one
 * minute by default), calls, errors, throttles, a latency histogram and tokens. Every worker adds its calls to the
 * bucket they ended in (atomic ADDs, lambda/aws/breaker-store.ts: the figures ride on the breaker's own item and
 * writes). Readers sum the last WINDOW_BUCKETS buckets, each weighing half the one after it, so a change shows
 * within a bucket and old samples age out.
 */

/** Buckets a reader sums: the current one and the four before it. */
export const WINDOW_BUCKETS = 5;

/** The default bucket: one minute. */
export const DEFAULT_BUCKET_MS = 60_000;

/** Upper bounds (ms) of the latency histogram's buckets; the last bucket holds everything slower. */
export const LATENCY_BOUNDS_MS = [500, 1000, 2000, 5000, 10_000] as const;

/** One bucket's counts. `latency[i]`: calls that took at most LATENCY_BOUNDS_MS[i] (the last entry: slower). */
export interface BucketCounts {
  calls: number;
  errors: number;
  throttles: number;
  inputTokens: number;
  outputTokens: number;
  latency: number[];
}

/** Counts by bucket index (epoch ms / bucket length). */
export type FigureBuckets = Map<number, BucketCounts>;

/** One call's outcome as the figures count it. */
export interface CallSample {
  latencyMs: number;
  /** A failure that counts against the model (the breaker's kind of failure). */
  failed: boolean;
  throttled: boolean;
  inputTokens?: number;
  outputTokens?: number;
}

export const bucketOf = (epochMs: number, bucketMs: number) => Math.floor(epochMs / bucketMs);

const emptyCounts = (): BucketCounts => ({ calls: 0, errors: 0, throttles: 0, inputTokens: 0, outputTokens: 0, latency: LATENCY_BOUNDS_MS.map(() => 0).concat(0) });

export function latencyBucketOf(latencyMs: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => latencyMs <= bound);
  return i < 0 ? LATENCY_BOUNDS_MS.length : i;
}

/** Adds one call, ended at `epochMs`, to `buckets`. */
export function addSample(buckets: FigureBuckets, sample: CallSample, epochMs: number, bucketMs = DEFAULT_BUCKET_MS): void {
  const minute = bucketOf(epochMs, bucketMs);
  const counts = buckets.get(minute) ?? emptyCounts();
  counts.calls++;
  if (sample.failed) counts.errors++;
  if (sample.throttled) counts.throttles++;
  counts.inputTokens += sample.inputTokens ?? 0;
  counts.outputTokens += sample.outputTokens ?? 0;
  counts.latency[latencyBucketOf(sample.latencyMs)]++;
  buckets.set(minute, counts);
}

/** Adds `more` (times `weight`) into `into` (figures held back and not yet written, merged back after a failed write). */
export function mergeBuckets(into: FigureBuckets, more: FigureBuckets, weight = 1): void {
  for (const [minute, counts] of more) {
    const target = into.get(minute) ?? emptyCounts();
    target.calls += weight * counts.calls;
    target.errors += weight * counts.errors;
    target.throttles += weight * counts.throttles;
    target.inputTokens += weight * counts.inputTokens;
    target.outputTokens += weight * counts.outputTokens;
    counts.latency.forEach((n, i) => (target.latency[i] += weight * n));
    into.set(minute, target);
  }
}

/**
 * What a router sees of a model over the window, each bucket weighing half the next one (so `calls` is a weighted
 * count). Latencies are histogram upper bounds (a p90 of 2000: at most 2 s).
 */
export interface RecentFigures {
  calls: number;
  errorRate: number;
  throttleRate: number;
  p50Ms?: number;
  p90Ms?: number;
  meanInputTokens?: number;
  meanOutputTokens?: number;
}

/** Upper bound of the bucket holding the q-quantile; the slowest bucket reports twice the last bound. */
function quantileMs(latency: number[], calls: number, q: number): number {
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i];
    if (seen >= q * calls) return LATENCY_BOUNDS_MS[i] ?? 2 * LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
  }
  return 2 * LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}

/** The figures of the last WINDOW_BUCKETS buckets at `epochMs`. */
export function recentFigures(buckets: FigureBuckets, epochMs: number, bucketMs = DEFAULT_BUCKET_MS): RecentFigures {
  const now = bucketOf(epochMs, bucketMs);
  const summed: FigureBuckets = new Map();
  for (const [bucket, counts] of buckets) if (bucket > now - WINDOW_BUCKETS && bucket <= now) mergeBuckets(summed, new Map([[0, counts]]), 2 ** -(now - bucket));
  const sum = summed.get(0) ?? emptyCounts();
  if (sum.calls === 0) return { calls: 0, errorRate: 0, throttleRate: 0 };
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    calls: round(sum.calls),
    errorRate: round(sum.errors / sum.calls),
    throttleRate: round(sum.throttles / sum.calls),
    p50Ms: quantileMs(sum.latency, sum.calls, 0.5),
    p90Ms: quantileMs(sum.latency, sum.calls, 0.9),
    meanInputTokens: Math.round(sum.inputTokens / sum.calls),
    meanOutputTokens: Math.round(sum.outputTokens / sum.calls),
  };
}

/*
 * Stored form: one number attribute per field and bucket, named <field><bucket index in base 36>, e.g. `Chm3k2z`
 * (calls) or `L2hm3k2z` (latency bucket 2), so that every worker's ADD creates or adds to it without reading first.
 */
const FIELDS = { calls: 'C', errors: 'E', throttles: 'T', inputTokens: 'I', outputTokens: 'O' } as const;
const ATTRIBUTE = /^(C|E|T|I|O|L\d)([0-9a-z]+)$/;

/** The buckets stored in an item's attributes. */
export function bucketsOfItem(item: Record<string, unknown> | undefined): FigureBuckets {
  const buckets: FigureBuckets = new Map();
  for (const [name, value] of Object.entries(item ?? {})) {
    const match = ATTRIBUTE.exec(name);
    if (!match || typeof value !== 'number') continue;
    const minute = parseInt(match[2], 36);
    const counts = buckets.get(minute) ?? emptyCounts();
    const field = match[1];
    if (field.startsWith('L')) counts.latency[Number(field.slice(1))] = value;
    else {
      const key = (Object.keys(FIELDS) as (keyof typeof FIELDS)[]).find((k) => FIELDS[k] === field)!;
      counts[key] = value;
    }
    buckets.set(minute, counts);
  }
  return buckets;
}

/** An ADD clause (attribute -> amount) for `buckets`, without zero amounts and without buckets already past the window. */
export function additionsOf(buckets: FigureBuckets, epochMs: number, bucketMs = DEFAULT_BUCKET_MS): Record<string, number> {
  const adds: Record<string, number> = {};
  const oldest = bucketOf(epochMs, bucketMs) - WINDOW_BUCKETS + 1;
  for (const [minute, counts] of buckets) {
    if (minute < oldest) continue;
    const suffix = minute.toString(36);
    for (const [key, code] of Object.entries(FIELDS)) if (counts[key as keyof typeof FIELDS] > 0) adds[`${code}${suffix}`] = counts[key as keyof typeof FIELDS];
    counts.latency.forEach((n, i) => n > 0 && (adds[`L${i}${suffix}`] = n));
  }
  return adds;
}

/**
 * Attributes past the window to remove in the next write, so the item stays under 1 KB (one write unit): those of
 * the bucket just past the window, and any older ones seen in the stored item.
 */
export function staleAttributesOf(stored: FigureBuckets, epochMs: number, bucketMs = DEFAULT_BUCKET_MS): string[] {
  const oldest = bucketOf(epochMs, bucketMs) - WINDOW_BUCKETS + 1;
  const minutes = new Set([...stored.keys()].filter((m) => m < oldest));
  minutes.add(oldest - 1);
  return attributesOfBuckets([...minutes]);
}

/** Every attribute name the figures of these buckets may have. */
export function attributesOfBuckets(buckets: Iterable<number>): string[] {
  const codes = [...Object.values(FIELDS), ...LATENCY_BOUNDS_MS.map((_, i) => `L${i}`), `L${LATENCY_BOUNDS_MS.length}`];
  return [...buckets].flatMap((bucket) => codes.map((code) => `${code}${bucket.toString(36)}`));
}
