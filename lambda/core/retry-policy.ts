import type { ResiliencePolicy } from './settings';

/**
 * Backoff before call number `retry + 1` to the same model: exponential with full jitter (a random share of the
 * exponential ceiling), so workers that failed together do not retry together. A server hint wins if longer.
 */
export function backoffDelayMs(retry: number, policy: ResiliencePolicy['retry'], random: () => number, hintMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(random() * ceiling);
  return hintMs !== undefined ? Math.max(jittered, Math.min(hintMs, policy.maxDelayMs)) : jittered;
}

/** Delay before a requeued job is handed out again: doubles per requeue, within SQS's 15-minute limit. */
export function requeueDelaySeconds(requeues: number, policy: Pick<ResiliencePolicy['requeue'], 'baseDelaySeconds' | 'maxDelaySeconds'>, notBefore?: { now: number; at: number }): number {
  const exponential = Math.min(policy.maxDelaySeconds, policy.baseDelaySeconds * 2 ** Math.max(0, requeues));
  const untilAdmitted = notBefore ? Math.ceil((notBefore.at - notBefore.now) / 1000) : 0;
  return Math.min(900, Math.max(exponential, untilAdmitted, 0));
}

/** Time the worker keeps in hand when it abandons a call: enough to record the outcome and requeue the job. */
export const CALL_SAFETY_MARGIN_MS = 1_500;

/** Whether a call that may take up to `remainingMs - margin` is worth starting at all. */
export function worthCalling(remainingMs: number, minimumCallMs = 1_000): boolean {
  return remainingMs - CALL_SAFETY_MARGIN_MS >= minimumCallMs;
}
