/** Every error the API returns carries a stable `code`; clients branch on it, never on the message. */
export class QuarryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends QuarryError {
  constructor(message: string, details?: unknown) {
    super('VALIDATION_ERROR', message, 400, details);
  }
}

export class MalformedJsonError extends QuarryError {
  constructor() {
    super('MALFORMED_JSON', 'The request body is not valid JSON.', 400);
  }
}

export class PayloadTooLargeError extends QuarryError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`, 413, { limitBytes: limit });
  }
}

export class UnsupportedMediaTypeError extends QuarryError {
  constructor(received: string | undefined) {
    super('UNSUPPORTED_MEDIA_TYPE', 'Send the job as JSON with Content-Type: application/json.', 415, { contentType: received ?? null });
  }
}

export class UnknownRouteError extends QuarryError {
  constructor(route: string, known: string[]) {
    super('UNKNOWN_ROUTE', `Route "${route}" is not configured.`, 422, { route, knownRoutes: known });
  }
}

export class ModelNotAllowedError extends QuarryError {
  constructor(modelId: string, allowed: string[]) {
    super('MODEL_NOT_ALLOWED', `Model "${modelId}" is not one of the configured models.`, 422, { modelId, allowedModels: allowed });
  }
}

export class IdempotencyConflictError extends QuarryError {
  constructor(jobId: string) {
    super('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request body.', 409, { jobId });
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
