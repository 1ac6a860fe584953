/** Results whose text is larger than the inline limit go to S3; the record keeps a pointer. */
export function shouldOffloadResult(text: string, inlineMaxBytes: number): boolean {
  return Buffer.byteLength(text, 'utf8') > inlineMaxBytes;
}

/** The lease a claiming worker takes: as long as its invocation can still run, plus a margin for clock skew. */
export function leaseExpiry(now: Date, remainingMillis: number): number {
  return now.getTime() + remainingMillis + 5_000;
}

/** A request small enough to travel in the queue message stays within SQS's first 64 KB billing chunk. */
export const MESSAGE_REQUEST_MAX_BYTES = 48 * 1024;

/**
 * Whether a job's request travels in its queue message (then the message is its only copy: no item is written for
 * it) or is too large and is written as an item of its own before the message is sent.
 */
export function requestTravelsInMessage(request: unknown): boolean {
  return Buffer.byteLength(JSON.stringify(request), 'utf8') <= MESSAGE_REQUEST_MAX_BYTES;
}
