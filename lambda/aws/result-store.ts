import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { JobResult, ResultLocation } from '../core/job';

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

  /** A time-limited GET link; S3 checks the signer's own s3:GetObject permission when it is used. */
  static async presignedUrl(client: S3Client, location: ResultLocation, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(client, new GetObjectCommand({ Bucket: location.bucket, Key: location.key }), { expiresIn: expiresInSeconds });
  }
}
