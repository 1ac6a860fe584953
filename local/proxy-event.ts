import type { APIGatewayProxyEvent } from 'aws-lambda';

/** An HTTP request as the local API server received it. */
export interface IncomingApiRequest {
  method: string;
  /** Path without the query string and without any stage prefix, e.g. /jobs/abc. */
  path: string;
  query: string;
  /** Raw header pairs in arrival order (node's `rawHeaders`). */
  rawHeaders: string[];
  body: string;
  sourceIp: string;
}

export interface MatchedRoute {
  /** The API Gateway resource path, e.g. /jobs/{jobId}. */
  resourcePath: string;
  pathParameters: Record<string, string> | null;
  stage: string;
  apiId: string;
}

export interface RequestIdentityInfo {
  requestId: string;
  requestTimeEpoch: number;
  apiKey?: string | null;
  apiKeyId?: string | null;
  accountId?: string;
}

/** Builds the API Gateway REST (v1) proxy event a Lambda AWS_PROXY integration receives. */
export function buildProxyEvent(request: IncomingApiRequest, route: MatchedRoute, info: RequestIdentityInfo): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i];
    const value = request.rawHeaders[i + 1];
    const existing = Object.keys(multiValueHeaders).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
    (multiValueHeaders[existing] ??= []).push(value);
    headers[existing] = value;
  }
  // As API Gateway does: the scheme the caller used (here always plain HTTP on loopback).
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'x-forwarded-proto')) {
    headers['X-Forwarded-Proto'] = 'http';
    multiValueHeaders['X-Forwarded-Proto'] = ['http'];
  }

  const queryStringParameters: Record<string, string> = {};
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [key, value] of new URLSearchParams(request.query)) {
    (multiValueQueryStringParameters[key] ??= []).push(value);
    queryStringParameters[key] = value;
  }
  const hasQuery = Object.keys(queryStringParameters).length > 0;
  const hasHeaders = Object.keys(headers).length > 0;
  const userAgent = Object.entries(headers).find(([k]) => k.toLowerCase() === 'user-agent')?.[1] ?? null;
  const requestTime = new Date(info.requestTimeEpoch);

  return {
    resource: route.resourcePath,
    path: request.path,
    httpMethod: request.method,
    headers: hasHeaders ? headers : (null as unknown as APIGatewayProxyEvent['headers']),
    multiValueHeaders: hasHeaders ? multiValueHeaders : (null as unknown as APIGatewayProxyEvent['multiValueHeaders']),
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
    pathParameters: route.pathParameters,
    stageVariables: null,
    body: request.body.length > 0 ? request.body : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: info.accountId ?? '000000000000',
      apiId: route.apiId,
      authorizer: null,
      domainName: 'localhost',
      domainPrefix: 'localhost',
      extendedRequestId: info.requestId,
      httpMethod: request.method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: info.apiKey ?? null,
        apiKeyId: info.apiKeyId ?? null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: null,
        userAgent,
        userArn: null,
      },
      path: `/${route.stage}${request.path}`,
      protocol: 'HTTP/1.1',
      requestId: info.requestId,
      requestTime: formatRequestTime(requestTime),
      requestTimeEpoch: info.requestTimeEpoch,
      resourceId: route.resourcePath,
      resourcePath: route.resourcePath,
      stage: route.stage,
    },
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's `requestTime` format: 09/Apr/2015:12:34:56 +0000. */
function formatRequestTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

export interface HttpResponse {
  statusCode: number;
  headers: Array<[string, string]>;
  body: Buffer;
}

/**
 * Maps a Lambda proxy result back to HTTP as API Gateway does; a result that is not a valid proxy response is
 * answered 502 "Internal server error", the way API Gateway answers a malformed Lambda proxy response.
 */
export function mapProxyResult(result: unknown): HttpResponse {
  const malformed: HttpResponse = { statusCode: 502, headers: [['Content-Type', 'application/json']], body: Buffer.from('{"message": "Internal server error"}') };
  if (result === null || typeof result !== 'object') return malformed;
  const r = result as Record<string, unknown>;
  const statusCode = r.statusCode === undefined ? 200 : Number(r.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return malformed;
  if (r.body !== undefined && r.body !== null && typeof r.body !== 'string') return malformed;
  const headers: Array<[string, string]> = [];
  const single = (r.headers ?? {}) as Record<string, unknown>;
  const multi = (r.multiValueHeaders ?? {}) as Record<string, unknown>;
  const multiNames = new Set(Object.keys(multi).map((k) => k.toLowerCase()));
  for (const [name, value] of Object.entries(multi)) {
    if (!Array.isArray(value)) return malformed;
    for (const v of value) headers.push([name, String(v)]);
  }
  for (const [name, value] of Object.entries(single)) {
    if (value !== null && typeof value === 'object') return malformed;
    // A header named in both maps is sent with the values of both, as API Gateway does.
    if (multiNames.has(name.toLowerCase()) && (multi[name] as unknown[] | undefined)?.map(String).includes(String(value))) continue;
    headers.push([name, String(value)]);
  }
  if (!headers.some(([n]) => n.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/json']);
  const text = typeof r.body === 'string' ? r.body : '';
  const body = r.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  return { statusCode, headers, body };
}
