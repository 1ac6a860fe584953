import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { AsyncOutput, JobResult, ResultLocation } from '../core/job';

/** Seconds a presigned URL ends before its signing credentials expire, so it never outlives them. */
export const PRESIGN_EXPIRY_MARGIN_SECONDS = 60;

/**
 * The lifetime to sign a URL for: as asked, but a URL signed with temporary credentials stops working when they
 * expire, so never past their known expiry less {@link PRESIGN_EXPIRY_MARGIN_SECONDS} (and at least one second).
 * Without a known expiry (long-term keys, or a provider that does not say) the asked lifetime stands.
 */
export function presignLifetimeSeconds(requestedSeconds: number, credentialsExpiration: Date | undefined, now: Date): number {
  if (!credentialsExpiration) return requestedSeconds;
  const left = Math.floor((credentialsExpiration.getTime() - now.getTime()) / 1000) - PRESIGN_EXPIRY_MARGIN_SECONDS;
  return Math.max(1, Math.min(requestedSeconds, left));
}

/** Results too large for the job record, as JSON objects under results/. */
export class ResultStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async put(jobId: string, result: JobResult): Promise<ResultLocation> {
    const bucket = this.bucket;
    const key = `results/${jobId}.json`;
    const body = JSON.stringify({ jobId, ...result });
    await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
    return { bucket, key, bytes: Buffer.byteLength(body, 'utf8') };
  }

  /** The text of a result kept in S3 (what `put` wrote). */
  async text(location: ResultLocation): Promise<string | undefined> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return (JSON.parse(await object.Body!.transformToString('utf8')) as { text?: string }).text;
  }

  /**
   * A time-limited GET link; S3 checks the signer's own s3:GetObject permission when it is used. Its lifetime is
   * `expiresInSeconds`, capped at what the client's credentials allow ({@link presignLifetimeSeconds}).
   */
  /** An async invocation's output with a download link on each of its files (the bucket is the output folder's). */
  static async presignedOutput(client: S3Client, output: AsyncOutput, expiresInSeconds: number, now = new Date()): Promise<AsyncOutput> {
    const bucket = /^s3:\/\/([^/]+)\//.exec(output.s3Uri)?.[1];
    if (!bucket) return output;
    const files = await Promise.all(output.files.map(async (file) => ({ ...file, url: await ResultStore.presignedUrl(client, { bucket, key: file.key, bytes: file.bytes }, expiresInSeconds, now) })));
    return { ...output, files };
  }

  static async presignedUrl(client: S3Client, location: ResultLocation, expiresInSeconds: number, now = new Date()): Promise<string> {
    const credentials = await client.config.credentials();
    const expiresIn = presignLifetimeSeconds(expiresInSeconds, credentials.expiration, now);
    return getSignedUrl(client, new GetObjectCommand({ Bucket: location.bucket, Key: location.key }), { expiresIn });
  }
}
