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
  BATCH_NOT_FOUND: { status: 404, cause: "no batch with this id for this tenant (an unknown id, an expired one, another tenant's)" },
  CONVERSATION_NOT_FOUND: { status: 404, cause: "no conversation with this id for this tenant (an unknown id, a deleted or expired one, another tenant's)" },
  INPUTS_NOT_CONFIGURED: { status: 404, cause: 'POST /inputs: this deployment has no inputs bucket' },
  METHOD_NOT_ALLOWED: { status: 405, cause: 'the path exists but not with this method; `Allow` lists its methods' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, cause: 'the `Idempotency-Key` was used before with a different body' },
  JOB_NOT_CANCELLABLE: { status: 409, cause: 'DELETE /jobs/{jobId}: the job has started or finished (`details` gives its status); only a QUEUED job can be cancelled' },
  BATCH_NOT_CANCELLABLE: { status: 409, cause: 'DELETE /batches/{batchId}: the batch has finished (`details` gives its status)' },
  TURN_IN_PROGRESS: { status: 409, cause: 'a turn of this conversation is still being answered; `Retry-After`' },
  CONVERSATION_FULL: { status: 409, cause: 'the conversation reached its size limit (400 KB of history); start a new one' },
  PAYLOAD_TOO_LARGE: { status: 413, cause: 'the body is larger than `api.maxRequestBytes`' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, cause: 'the body is not sent as `Content-Type: application/json`' },
  UNKNOWN_ROUTE: { status: 422, cause: '`route` names no configured route' },
  MODEL_NOT_ALLOWED: { status: 422, cause: '`modelId` names no configured model' },
  ROUTE_NOT_IN_PLAN: { status: 403, cause: "the route is not one the tenant's plan allows" },
  MODEL_NOT_IN_PLAN: { status: 403, cause: "the model (asked for, or the route's) is not one the tenant's plan allows" },
  THROTTLED: { status: 429, cause: "over the usage plan's rate or burst, or the stage's; `Retry-After`" },
  QUOTA_EXCEEDED: { status: 429, cause: "the usage plan's quota is spent for the period; `Retry-After`" },
  MODEL_BUSY: { status: 429, cause: "POST /invoke: the model's quota has no room within a second; `Retry-After` says when it has (or submit a job)" },
  INPUT_NOT_READABLE: { status: 422, cause: 'an attachment named by `s3Location` does not exist in the inputs bucket, or is over its size limit' },
  MODEL_REJECTED_REQUEST: { status: 422, cause: 'POST /invoke: the model refused the request as invalid (its reason in the message)' },
  CONTEXT_WINDOW_EXCEEDED: { status: 422, cause: "POST /invoke: the input is too long for every model of the route" },
  INTERNAL_ERROR: { status: 500, cause: 'a fault on our side; the request can be retried' },
  MODEL_FAILED: { status: 502, cause: 'POST /invoke: the model answered with an error retrying cannot fix (its code in the message)' },
  MODEL_STREAM_INTERRUPTED: { status: 502, cause: "POST /invoke/stream: the model's stream broke after text was sent (an `error` event with `incomplete: true`; never retried)" },
  ENQUEUE_FAILED: { status: 503, cause: 'the job could not be queued; nothing was kept, retry' },
  BREAKER_STATE_UNAVAILABLE: { status: 503, cause: 'GET /models could not read the circuit breakers; retry' },
  MODELS_UNAVAILABLE: { status: 503, cause: "POST /invoke: no model of the route could answer now (errors, open circuits); `Retry-After`, or submit a job" },
  INVOKE_TIMEOUT: { status: 504, cause: 'POST /invoke: no answer fits in the time left before the gateway gives up; submit the request to POST /jobs instead' },
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
    /** Seconds after which the same request may succeed (the `Retry-After` header). */
    readonly retryAfterSeconds?: number,
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
  constructor(
    readonly jobId: string,
    kind: 'job' | 'batch' = 'job',
  ) {
    super('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request body.', 409, [
      { path: headerPath('Idempotency-Key'), message: `was used for ${kind} ${jobId} with a different body` },
    ]);
  }
}

export class BatchNotFoundError extends QuarryError {
  constructor(batchId: string) {
    super('BATCH_NOT_FOUND', `No batch with id ${batchId}.`, 404);
  }
}

export class BatchNotCancellableError extends QuarryError {
  constructor(batchId: string, status: string) {
    super('BATCH_NOT_CANCELLABLE', `Batch ${batchId} is ${status}: there is nothing left to cancel.`, 409, [{ path: 'status', message: status }]);
  }
}

export class JobNotFoundError extends QuarryError {
  constructor(jobId: string) {
    super('JOB_NOT_FOUND', `No job with id ${jobId}.`, 404);
  }
}

export class JobNotCancellableError extends QuarryError {
  constructor(jobId: string, status: string) {
    super('JOB_NOT_CANCELLABLE', `Job ${jobId} is ${status}: only a job that has not started (QUEUED) can be cancelled.`, 409, [{ path: 'status', message: status }]);
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

/** Whole seconds of a wait, at least one: what a `Retry-After` says. */
export const retryAfterSecondsOf = (waitMs: number) => Math.max(1, Math.ceil(waitMs / 1000));

export class ModelBusyError extends QuarryError {
  constructor(modelId: string, waitMs: number) {
    super('MODEL_BUSY', `The quota of model ${modelId} has no room now; retry after the Retry-After delay, or submit the request to POST /jobs.`, 429, undefined, retryAfterSecondsOf(waitMs));
  }
}

export class InvokeTimeoutError extends QuarryError {
  constructor(seconds: number, lastError?: { code: string }) {
    const last = lastError ? ` (last error: ${lastError.code})` : '';
    super('INVOKE_TIMEOUT', `No model answered within the ${seconds}s a synchronous call may take${last}; submit the request to POST /jobs, which waits as long as it takes.`, 504);
  }
}

export class ModelsUnavailableError extends QuarryError {
  constructor(route: string, waitMs: number, lastError?: { code: string }) {
    const last = lastError ? ` (last error: ${lastError.code})` : '';
    super('MODELS_UNAVAILABLE', `No model of route "${route}" could answer now${last}; retry after the Retry-After delay, or submit the request to POST /jobs.`, 503, undefined, retryAfterSecondsOf(waitMs));
  }
}

/** A model's final answer to a synchronous call that was an error: the caller's request, or the model itself. */
export class ModelAnswerError extends QuarryError {
  constructor(error: { code: string; message: string }) {
    if (error.code === 'CONTEXT_WINDOW_EXCEEDED') super('CONTEXT_WINDOW_EXCEEDED', error.message, 422);
    else if (error.code === 'INPUT_NOT_READABLE') super('INPUT_NOT_READABLE', `An attachment could not be read: ${error.message}`, 422);
    else if (error.code === 'MODEL_VALIDATION_ERROR') super('MODEL_REJECTED_REQUEST', `The model refused the request: ${error.message}`, 422);
    else if (error.code === 'MODEL_STREAM_INTERRUPTED') super('MODEL_STREAM_INTERRUPTED', `The model's stream broke after part of the answer was sent: ${error.message}`, 502);
    else super('MODEL_FAILED', `The model failed with ${error.code}: ${error.message}`, 502);
  }
}
