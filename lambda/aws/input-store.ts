import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { InputReader } from '../core/ports';

/** The stack's inputs bucket, read when a model is called with an attachment stored there. */
export class InputStore implements InputReader {
  constructor(private readonly client: S3Client) {}

  /**
   * The object's bytes; `InputNotReadable` (the caller's to fix: no such object, or too large) or `InputReadFailed`
   * (S3 failed: worth another try, and nothing to hold against a model).
   */
  async read(uri: string, maxBytes: number): Promise<Uint8Array> {
    const { bucket, key } = parseS3Uri(uri);
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

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw inputError('InputNotReadable', `${uri} is not an s3://bucket/key URI`);
  return { bucket: match[1], key: match[2] };
}

function inputError(name: 'InputNotReadable' | 'InputReadFailed', message: string): Error {
  return Object.assign(new Error(message), { name });
}
