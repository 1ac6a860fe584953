import type { APIGatewayProxyResult } from 'aws-lambda';
import { tenantFor, type Tenant, type TenantDirectory } from '../core/tenants';
import { QuarryError } from '../core/errors';
import { logger } from './observability';

const BASE_HEADERS = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** `{error:{code,message,details?}}` for every failure; unexpected errors say nothing about internals. */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (error instanceof QuarryError) {
    const status = error.httpStatus;
    if (status >= 500) logger.error('request failed', { code: error.code });
    const headers = error.retryAfterSeconds !== undefined ? { 'Retry-After': String(error.retryAfterSeconds) } : undefined;
    return jsonResponse(status, { error: { code: error.code, message: error.message, ...(error.details !== undefined && { details: error.details }) } }, headers);
  }
  logger.error('unexpected error', error as Error);
  return jsonResponse(500, { error: { code: 'INTERNAL_ERROR', message: 'Something went wrong on our side; the request can be retried.' } });
}

/**
 * A `Location` usable as given: `resourcePath` under the prefix the caller reached the API by, i.e. what the
 * request's full path (`requestContext.path`: `/v1/jobs` on API Gateway's own URL, with a base path on a custom
 * domain) has before the API's path (`/jobs`); the stage when the event does not say.
 */
export function locationOf(event: { path?: string | null; requestContext?: { path?: string | null; stage?: string | null } }, resourcePath: string): string {
  const fullPath = event.requestContext?.path;
  const apiPath = event.path;
  const prefix =
    fullPath && apiPath && fullPath.endsWith(apiPath) ? fullPath.slice(0, fullPath.length - apiPath.length) : event.requestContext?.stage ? `/${event.requestContext.stage}` : '';
  return `${prefix.replace(/\/+$/, '')}${resourcePath}`;
}

/** The caller's tenant: named by the API key API Gateway authenticated ("default" where no key is in use). */
export function tenantOf(event: { requestContext?: { identity?: { apiKeyId?: string | null } } }, directory: TenantDirectory): Tenant {
  return tenantFor(event.requestContext?.identity?.apiKeyId ?? undefined, directory);
}
