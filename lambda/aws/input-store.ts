import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { parseS3Uri } from '../core/converse-fields';
import type { InputReader } from '../core/ports';
import { presignLifetimeSeconds } from './result-store';

/** The stack's inputs bucket, read when a model is called with an attachment stored there. */
export class InputStore implements InputReader {
  constructor(private readonly client: S3Client) {}

  /**
   * The object's bytes; `InputNotReadable` (the caller's to fix: no such object, or too large) or `InputReadFailed`
   * (S3 failed: worth another try, and nothing to hold against a model).
   */
  async read(uri: string, maxBytes: number): Promise<Uint8Array> {
    const place = parseS3Uri(uri);
    if (!place) throw inputError('InputNotReadable', `${uri} is not an s3://bucket/key URI`);
    const { bucket, key } = place;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if ((object.ContentLength ?? 0) > maxBytes) {
        object.Body?.transformToWebStream().cancel().catch(() => undefined);
        throw inputError('InputNotReadable', `${uri} is ${object.ContentLength} bytes; at most ${maxBytes} are allowed`);
      }
      return await object.Body!.transformToByteArray();
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'InputNotReadable') throw error;
      if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) throw inputError('InputNotReadable', `${uri} does not exist`);
      if (e.name === 'AccessDenied' || e.$metadata?.httpStatusCode === 403) throw inputError('InputNotReadable', `${uri} cannot be read: access denied`);
      throw inputError('InputReadFailed', `${uri} could not be read: ${e.name ?? 'error'}`);
    }
  }
}

function inputError(name: 'InputNotReadable' | 'InputReadFailed', message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** A time-limited PUT of one object with this content type (the upload must send the same Content-Type). */
export async function presignedUpload(client: S3Client, place: { bucket: string; key: string; contentType: string }, expiresInSeconds: number, now = new Date()): Promise<{ url: string; expiresAt: string }> {
  const credentials = await client.config.credentials();
  const expiresIn = presignLifetimeSeconds(expiresInSeconds, credentials.expiration, now);
  const url = await getSignedUrl(client, new PutObjectCommand({ Bucket: place.bucket, Key: place.key, ContentType: place.contentType }), { expiresIn, signableHeaders: new Set(['content-type']) });
  return { url, expiresAt: new Date(now.getTime() + expiresIn * 1000).toISOString() };
}
