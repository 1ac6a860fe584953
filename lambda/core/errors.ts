import type { RequestIssue } from './request-issues';

/**
 * Every code the HTTP API answers with (the README's error table lists exactly these), with its status and cause.
 * Handlers raise the ones below as typed errors; API Gateway answers the gateway's own (403, 404, 405, 429).
 */
export const API_ERRORS = {
  VALIDATION_ERROR: { status: 400, cause: 'a field of the body or a header is invalid; `details` names each one' },
  MALFORMED_JSON: { status: 400, cause: 'the body is not JSON' },
  INVALID_API_KEY: { status: 403, cause: 'no `x-api-key`, an unknown or disabled key, or a key in no usage plan' },
  FORBIDDEN: { status: 403, cause: 'the request was denied (a resource policy or WAF rule)' },
  NOT_FOUND: { status: 404, cause: 'no such path' },
  JOB_NOT_FOUND: { status: 404, cause: "no job with this id for this tenant (an unknown id, a malformed one, another tenant's job)" },
  METHOD_NOT_ALLOWED: { status: 405, cause: 'the path exists but not with this method; `Allow` lists its methods' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, cause: 'the `Idempotency-Key` was used before with a different body' },
  PAYLOAD_TOO_LARGE: { status: 413, cause: 'the body is larger than `api.maxRequestBytes`' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, cause: 'the body is not sent as `Content-Type: application/json`' },
  UNKNOWN_ROUTE: { status: 422, cause: '`route` names no configured route' },
  MODEL_NOT_ALLOWED: { status: 422, cause: '`modelId` names no configured model' },
  ROUTE_NOT_IN_PLAN: { status: 403, cause: "the route is not one the tenant's plan allows" },
  MODEL_NOT_IN_PLAN: { status: 403, cause: "the model (asked for, or the route's) is not one the tenant's plan allows" },
  THROTTLED: { status: 429, cause: "over the usage plan's rate or burst, or the stage's; `Retry-After`" },
  QUOTA_EXCEEDED: { status: 429, cause: "the usage plan's quota is spent for the period; `Retry-After`" },
  INTERNAL_ERROR: { status: 500, cause: 'a fault on our side; the request can be retried' },
  ENQUEUE_FAILED: { status: 503, cause: 'the job could not be queued; nothing was kept, retry' },
  BREAKER_STATE_UNAVAILABLE: { status: 503, cause: 'GET /models could not read the circuit breakers; retry' },
} as const satisfies Record<string, { status: number; cause: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Every error the API returns carries a stable `code`; clients branch on it, never on the message. */
export class QuarryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
    /** What exactly is wrong, field by field: `[{path, message}]`. */
    readonly details?: RequestIssue[],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request header, named as `headers.<Name>` in `details[].path`. */
export const headerPath = (header: string) => `headers.${header}`;

export class ValidationError extends QuarryError {
  /** `details` names each offending field; `{ header }` says the message is about that request header. */
  constructor(message: string, details?: RequestIssue[] | { header: string }) {
    const issues = Array.isArray(details) ? details : [{ path: details ? headerPath(details.header) : '(body)', message }];
    super('VALIDATION_ERROR', message, 400, issues);
  }
}

export class MalformedJsonError extends QuarryError {
  constructor(reason?: string) {
    super('MALFORMED_JSON', 'The request body is not valid JSON.', 400, [{ path: '(body)', message: reason ?? 'is not valid JSON' }]);
  }
}

export class PayloadTooLargeError extends QuarryError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`, 413, [{ path: '(body)', message: `must be at most ${limit} bytes` }]);
  }
}

export class UnsupportedMediaTypeError extends QuarryError {
  constructor(received: string | undefined) {
    super('UNSUPPORTED_MEDIA_TYPE', 'Send the job as JSON with Content-Type: application/json.', 415, [
      { path: headerPath('Content-Type'), message: received === undefined ? 'is missing; send application/json' : `${JSON.stringify(received)} is not JSON; send application/json` },
    ]);
  }
}

export class UnknownRouteError extends QuarryError {
  constructor(route: string, known: string[]) {
    super('UNKNOWN_ROUTE', `Route "${route}" is not configured.`, 422, [{ path: 'route', message: `is not a configured route; known routes: ${known.join(', ')}` }]);
  }
}

export class ModelNotAllowedError extends QuarryError {
  constructor(modelId: string, allowed: string[]) {
    super('MODEL_NOT_ALLOWED', `Model "${modelId}" is not one of the configured models.`, 422, [{ path: 'modelId', message: `is not a configured model; allowed: ${allowed.join(', ')}` }]);
  }
}

export class IdempotencyConflictError extends QuarryError {
  constructor(readonly jobId: string) {
    super('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request body.', 409, [
      { path: headerPath('Idempotency-Key'), message: `was used for job ${jobId} with a different body` },
    ]);
  }
}

export class JobNotFoundError extends QuarryError {
  constructor(jobId: string) {
    super('JOB_NOT_FOUND', `No job with id ${jobId}.`, 404);
  }
}

export class EnqueueFailedError extends QuarryError {
  constructor() {
    super('ENQUEUE_FAILED', 'The job could not be queued; nothing was kept. Retry the request.', 503);
  }
}

export class RouteNotInPlanError extends QuarryError {
  constructor(route: string, allowed: string[]) {
    super('ROUTE_NOT_IN_PLAN', `Route "${route}" is not in your plan; it allows: ${allowed.join(', ')}.`, 403, [{ path: 'route', message: `not in your plan (allowed: ${allowed.join(', ')})` }]);
  }
}

export class ModelNotInPlanError extends QuarryError {
  constructor(modelId: string, allowed: readonly string[], field: 'modelId' | 'route') {
    const message = field === 'modelId' ? `Model "${modelId}" is not in your plan.` : `No model of this route is in your plan (its model: "${modelId}").`;
    super('MODEL_NOT_IN_PLAN', message, 403, [{ path: field, message: `not in your plan (allowed models: ${allowed.join(', ')})` }]);
  }
}
