/** Results whose text is larger than the inline limit go to S3; the record keeps a pointer. */
export function shouldOffloadResult(text: string, inlineMaxBytes: number): boolean {
  return Buffer.byteLength(text, 'utf8') > inlineMaxBytes;
}

/** The lease a claiming worker takes: as long as its invocation can still run, plus a margin for clock skew. */
export function leaseExpiry(now: Date, remainingMillis: number): number {
  return now.getTime() + remainingMillis + 5_000;
}
