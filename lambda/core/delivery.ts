/**
 * How long a job that failed transiently waits before SQS hands it out again: doubles per receive,
 * never beyond the queue's visibility timeout (the delay it would get anyway).
 */
export function redeliveryDelaySeconds(receiveCount: number, baseSeconds: number, visibilityTimeoutSeconds: number): number {
  const exponent = Math.max(0, Math.min(receiveCount - 1, 16));
  return Math.min(baseSeconds * 2 ** exponent, visibilityTimeoutSeconds, 43_200);
}

/** Results whose text is larger than the inline limit go to S3; the record keeps a pointer. */
export function shouldOffloadResult(text: string, inlineMaxBytes: number): boolean {
  return Buffer.byteLength(text, 'utf8') > inlineMaxBytes;
}

/** The lease a claiming worker takes: as long as its invocation can still run, plus a margin for clock skew. */
export function leaseExpiry(now: Date, remainingMillis: number): number {
  return now.getTime() + remainingMillis + 5_000;
}
