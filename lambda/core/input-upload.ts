import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import './schema-config';
import { QuarryError, ValidationError } from './errors';
import { inputsPrefix } from './converse-fields';
import { requestIssues } from './request-issues';

/*
 * POST /inputs: a place in the inputs bucket for one attachment, and a presigned PUT to upload it with, so that a
 * caller with an API key (and no AWS credentials) can name it in a request as an `s3Location`. The key is the
 * tenant's prefix and a random id: a caller cannot choose where it writes, nor overwrite another's object.
 */

export interface UploadPlace {
  bucket: string;
  key: string;
  s3Uri: string;
  contentType: string;
}

let schema: ReturnType<typeof buildSchema> | undefined;
/** The body of POST /inputs, for the API's document too. */
export const uploadRequestSchema = () => (schema ??= buildSchema());
function buildSchema() {
  return z.strictObject({
    contentType: z.optional(z.string().check(z.maxLength(200), z.regex(/^[a-z]+\/[a-z0-9.+-]+$/, 'a media type, e.g. image/png or application/pdf'))),
  });
}

export class NoInputsBucketError extends QuarryError {
  constructor() {
    super('INPUTS_NOT_CONFIGURED', 'This deployment has no inputs bucket.', 404);
  }
}

/** Where the upload goes, or a 400 naming the field. */
export function uploadPlace(body: unknown, tenant: string, bucket: string | undefined): UploadPlace {
  if (!bucket) throw new NoInputsBucketError();
  const parsed = (schema ??= buildSchema()).safeParse(body ?? {});
  if (!parsed.success) throw new ValidationError('The upload request is invalid.', requestIssues(parsed.error));
  const key = `${inputsPrefix(tenant)}${randomUUID()}`;
  return { bucket, key, s3Uri: `s3://${bucket}/${key}`, contentType: parsed.data.contentType ?? 'application/octet-stream' };
}
