import type { APIGatewayProxyResult } from 'aws-lambda';
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
    return jsonResponse(status, { error: { code: error.code, message: error.message, ...(error.details !== undefined && { details: error.details }) } });
  }
  logger.error('unexpected error', error as Error);
  return jsonResponse(500, { error: { code: 'INTERNAL_ERROR', message: 'Something went wrong on our side; the request can be retried.' } });
}

/** The caller's tenant: the API key id API Gateway authenticated, or "default" where no key is in use. */
export function tenantOf(event: { requestContext?: { identity?: { apiKeyId?: string | null } } }): string {
  return event.requestContext?.identity?.apiKeyId || 'default';
}
