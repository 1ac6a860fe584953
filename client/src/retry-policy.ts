/** HTTP statuses worth sending again: throttled, or a fault on the server's side that the next try may not meet. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

export interface BackoffOptions {
  /** The first retry's ceiling; each further one doubles it. */
  baseDelayMs: number;
  /** No computed delay is longer. */
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the call fails with the error (and its `retryAfter`). */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 30_000 };

/**
 * How long to wait before retry number `retry` (0 for the first), or undefined to give up: the server's Retry-After
 * when it gave one (plus up to 10% so callers told the same second spread out), else exponential backoff with full
 * jitter.
 */
export function retryDelayMs(retry: number, retryAfterSeconds: number | undefined, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number | undefined {
  if (retryAfterSeconds !== undefined) {
    const asked = retryAfterSeconds * 1000;
    if (asked > options.maxRetryAfterMs) return undefined;
    return Math.round(asked * (1 + 0.1 * random()));
  }
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
  return Math.round(ceiling * random());
}

/** `Retry-After` in seconds: delta-seconds or an HTTP date (relative to `now`); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/** The pause between two polls of a job: the API's Retry-After, kept within [min, max] and before the deadline. */
export function pollDelayMs(retryAfterSeconds: number | undefined, bounds: { minMs: number; maxMs: number; defaultMs: number }, remainingMs: number): number {
  const asked = retryAfterSeconds === undefined ? bounds.defaultMs : retryAfterSeconds * 1000;
  return Math.max(0, Math.min(Math.max(bounds.minMs, Math.min(bounds.maxMs, asked)), remainingMs));
}
