import { randomBytes, randomUUID } from 'node:crypto';
import { isJsonProtocol, type AwsService, type RequestHead } from './operations';

/** The errors the layer answers with; each one as the real service sends it for the request's protocol. */
export const AWS_ERROR_KINDS = ['throttle', 'internal', 'unavailable'] as const;
export type AwsErrorKind = (typeof AWS_ERROR_KINDS)[number];

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface ErrorShape {
  status: number;
  code: string;
  message: string;
  /** Query protocol `<Type>`: Sender for the caller's fault (throttling), Receiver for the service's. */
  type: 'Sender' | 'Receiver';
}

/** What each service answers, per kind (the code is the SDK error's `name`, see local/README.md). */
export const ERROR_SHAPES: Record<AwsService, Record<AwsErrorKind, ErrorShape>> = {
  dynamodb: {
    throttle: {
      status: 400,
      code: 'ProvisionedThroughputExceededException',
      message: 'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
      type: 'Sender',
    },
    internal: { status: 500, code: 'InternalServerError', message: 'Internal server error', type: 'Receiver' },
    unavailable: { status: 503, code: 'ServiceUnavailable', message: 'The service is currently unavailable or busy.', type: 'Receiver' },
  },
  sqs: {
    throttle: { status: 400, code: 'RequestThrottled', message: 'Request is throttled.', type: 'Sender' },
    internal: { status: 500, code: 'InternalFailure', message: 'The request processing has failed because of an unknown error, exception or failure.', type: 'Receiver' },
    unavailable: { status: 503, code: 'ServiceUnavailable', message: 'The request has failed due to a temporary failure of the server.', type: 'Receiver' },
  },
  sns: {
    throttle: { status: 429, code: 'Throttled', message: 'Rate exceeded', type: 'Sender' },
    internal: { status: 500, code: 'InternalError', message: 'Internal Error', type: 'Receiver' },
    unavailable: { status: 503, code: 'ServiceUnavailable', message: 'Service Unavailable', type: 'Receiver' },
  },
  s3: {
    throttle: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.', type: 'Sender' },
    internal: { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.', type: 'Receiver' },
    unavailable: { status: 503, code: 'ServiceUnavailable', message: 'Service is unable to handle request.', type: 'Receiver' },
  },
};

const QUERY_NAMESPACES: Partial<Record<AwsService, string>> = {
  sqs: 'http://queue.amazonaws.com/doc/2012-11-05/',
  sns: 'http://sns.amazonaws.com/doc/2010-03-31/',
};

const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function withLength(status: number, headers: Record<string, string>, body: string, head: RequestHead): ErrorResponse {
  const payload = head.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(body, 'utf8');
  return { status, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, body: payload };
}

/** The answer AWS gives for `kind` on `service`, in the protocol of the request. */
export function errorResponse(service: AwsService, kind: AwsErrorKind, head: RequestHead): ErrorResponse {
  const shape = ERROR_SHAPES[service][kind];
  const requestId = randomUUID();
  switch (service) {
    case 'dynamodb':
      return withLength(
        shape.status,
        { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
        JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${shape.code}`, message: shape.message }),
        head,
      );
    case 'sqs':
      if (isJsonProtocol(head)) {
        return withLength(
          shape.status,
          { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId, 'x-amzn-query-error': `${shape.code};${shape.type}` },
          JSON.stringify({ __type: `com.amazonaws.sqs#${shape.code}`, message: shape.message }),
          head,
        );
      }
      return queryError(service, shape, requestId, head);
    case 'sns':
      return queryError(service, shape, requestId, head);
    case 's3': {
      const hostId = randomBytes(32).toString('base64');
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${shape.code}</Code><Message>${xmlEscape(shape.message)}</Message><RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`;
      return withLength(shape.status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId, 'x-amz-id-2': hostId }, body, head);
    }
  }
}

function queryError(service: AwsService, shape: ErrorShape, requestId: string, head: RequestHead): ErrorResponse {
  const body =
    `<?xml version="1.0"?>\n<ErrorResponse xmlns="${QUERY_NAMESPACES[service]}"><Error><Type>${shape.type}</Type><Code>${shape.code}</Code>` +
    `<Message>${xmlEscape(shape.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  return withLength(shape.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body, head);
}
