import type { IncomingHttpHeaders } from 'node:http';

export const AWS_SERVICES = ['dynamodb', 'sqs', 'sns', 's3'] as const;
export type AwsService = (typeof AWS_SERVICES)[number];

/** What the fault layer knows of a request before it reads the body. */
export interface RequestHead {
  method: string;
  /** Path and query string, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
}

/** The operation could not be told from the head alone: it is in the form body (query protocol). */
export const OPERATION_IN_BODY = Symbol('operation in body');

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The `Action` of a query-protocol request, from the query string or a form-encoded body. */
export function queryAction(url: string, body?: Buffer): string | undefined {
  const fromUrl = new URL(url, 'http://local').searchParams.get('Action');
  if (fromUrl) return fromUrl;
  if (!body) return undefined;
  return new URLSearchParams(body.toString('utf8')).get('Action') ?? undefined;
}

/**
 * The operation of a request as AWS names it, from what the SDK puts on the wire: DynamoDB and SQS (JSON protocol)
 * name it in `X-Amz-Target` (`DynamoDB_20120810.UpdateItem`, `AmazonSQS.SendMessage`); SNS and SQS's query protocol
 * in the form body's `Action`; S3 by method, path and sub-resource. Returns OPERATION_IN_BODY when only the body
 * can tell.
 */
export function operationOf(service: AwsService, head: RequestHead, body?: Buffer): string | typeof OPERATION_IN_BODY {
  if (service === 's3') return s3Operation(head);
  const target = header(head.headers, 'x-amz-target');
  if (target && (service === 'dynamodb' || service === 'sqs')) return target.slice(target.lastIndexOf('.') + 1);
  const action = queryAction(head.url, body);
  if (action) return action;
  if (body === undefined && head.method !== 'GET' && head.method !== 'HEAD') return OPERATION_IN_BODY;
  return 'Unknown';
}

/** The bucket and key of an S3 request, path-style or virtual-hosted (`<bucket>.localhost:<port>`). */
export function s3Location(head: RequestHead): { bucket?: string; key?: string } {
  const path = new URL(head.url, 'http://local').pathname;
  const segments = path.split('/').slice(1);
  const host = (header(head.headers, 'host') ?? '').replace(/:\d+$/, '');
  const virtualHosted = /^(.+)\.(localhost|s3[.-].*amazonaws\.com)$/.exec(host);
  if (virtualHosted && !virtualHosted[1].startsWith('s3')) {
    const key = decodeURIComponent(segments.join('/'));
    return { bucket: virtualHosted[1], key: key || undefined };
  }
  const bucket = segments[0] ? decodeURIComponent(segments[0]) : undefined;
  const key = decodeURIComponent(segments.slice(1).join('/'));
  return { bucket, key: key || undefined };
}

function s3Operation(head: RequestHead): string {
  const query = new URL(head.url, 'http://local').searchParams;
  const { bucket, key } = s3Location(head);
  const method = head.method.toUpperCase();
  if (!bucket) return method === 'GET' ? 'ListBuckets' : 'Unknown';
  if (!key) {
    switch (method) {
      case 'PUT':
        if (query.has('tagging')) return 'PutBucketTagging';
        if (query.has('policy')) return 'PutBucketPolicy';
        if (query.has('lifecycle')) return 'PutBucketLifecycleConfiguration';
        if (query.has('cors')) return 'PutBucketCors';
        return 'CreateBucket';
      case 'DELETE':
        return 'DeleteBucket';
      case 'HEAD':
        return 'HeadBucket';
      case 'POST':
        return query.has('delete') ? 'DeleteObjects' : 'Unknown';
      case 'GET':
        if (query.has('location')) return 'GetBucketLocation';
        if (query.has('uploads')) return 'ListMultipartUploads';
        if (query.has('versions')) return 'ListObjectVersions';
        return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
      default:
        return 'Unknown';
    }
  }
  switch (method) {
    case 'PUT':
      if (query.has('uploadId')) return header(head.headers, 'x-amz-copy-source') ? 'UploadPartCopy' : 'UploadPart';
      if (query.has('tagging')) return 'PutObjectTagging';
      return header(head.headers, 'x-amz-copy-source') ? 'CopyObject' : 'PutObject';
    case 'GET':
      if (query.has('uploadId')) return 'ListParts';
      if (query.has('tagging')) return 'GetObjectTagging';
      return 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return query.has('uploadId') ? 'AbortMultipartUpload' : query.has('tagging') ? 'DeleteObjectTagging' : 'DeleteObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Unknown';
    default:
      return 'Unknown';
  }
}

/** Whether an SQS request speaks the JSON protocol (SDK v3) rather than the query protocol (XML answers). */
export function isJsonProtocol(head: RequestHead): boolean {
  return Boolean(header(head.headers, 'x-amz-target')) || /application\/x-amz-json/.test(header(head.headers, 'content-type') ?? '');
}
