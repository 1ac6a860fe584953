import type { ApiErrorDetail } from './types';

/** Codes the client gives errors that no API answer carried. */
export const CLIENT_ERROR_CODES = {
  /** The request never got an answer: DNS, refused connection, reset. */
  NETWORK_ERROR: 'NETWORK_ERROR',
  /** No answer within the client's `timeoutMs`. */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** The caller's AbortSignal fired. */
  ABORTED: 'ABORTED',
  /** `waitFor` reached the caller's deadline before the job or batch ended. */
  WAIT_TIMEOUT: 'WAIT_TIMEOUT',
  /** The answer was not the JSON (or event stream) the API sends. */
  INVALID_RESPONSE: 'INVALID_RESPONSE',
} as const;

export interface QuarryErrorInit {
  code: string;
  message: string;
  /** The HTTP status, or 0 when no answer came. */
  status: number;
  details?: ApiErrorDetail[];
  /** Seconds the API asked to wait before trying again (`Retry-After`). */
  retryAfter?: number;
  requestId?: string;
  cause?: unknown;
}

/** Every failure of a client call: an API error answer (its stable `code`), or one of CLIENT_ERROR_CODES. */
export class QuarryError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: ApiErrorDetail[];
  readonly retryAfter?: number;
  readonly requestId?: string;

  constructor(init: QuarryErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.status = init.status;
    this.details = init.details ?? [];
    this.retryAfter = init.retryAfter;
    this.requestId = init.requestId;
  }
}

/** `jobs.waitFor` / `batches.waitFor` reached the caller's deadline; `lastStatus` is what was seen last. */
export class WaitTimeoutError extends QuarryError {
  constructor(
    readonly resource: { jobId?: string; batchId?: string },
    readonly lastStatus: string | undefined,
    waitedMs: number,
  ) {
    const what = resource.jobId ? `job ${resource.jobId}` : `batch ${resource.batchId}`;
    super({
      code: CLIENT_ERROR_CODES.WAIT_TIMEOUT,
      status: 0,
      message: `${what} was still ${lastStatus ?? 'unknown'} after ${(waitedMs / 1000).toFixed(1)} s`,
      details: lastStatus ? [{ path: 'status', message: lastStatus }] : [],
    });
  }
}

/** A job that ended FAILED or CANCELLED, for callers that asked for its text (`jobs.run`, the CLI). */
export class JobFailedError extends QuarryError {
  constructor(readonly jobId: string, status: string, error?: { code: string; message: string }) {
    super({
      code: error?.code ?? (status === 'CANCELLED' ? 'JOB_CANCELLED' : 'JOB_FAILED'),
      status: 0,
      message: error?.message ?? `job ${jobId} ended ${status}`,
      details: [{ path: 'status', message: status }],
    });
  }
}
