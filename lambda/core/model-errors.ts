/** How the pipeline treats a failed model call. */
export interface ModelFailure {
  code: string;
  retryable: boolean;
  message: string;
}

const RETRYABLE: Record<string, string> = {
  ThrottlingException: 'MODEL_THROTTLED',
  ModelNotReadyException: 'MODEL_NOT_READY',
  ServiceUnavailableException: 'MODEL_UNAVAILABLE',
  InternalServerException: 'MODEL_INTERNAL_ERROR',
  ModelTimeoutException: 'MODEL_TIMEOUT',
  ModelStreamErrorException: 'MODEL_STREAM_ERROR',
  TimeoutError: 'NETWORK_ERROR',
  RequestTimeout: 'NETWORK_ERROR',
};

const TERMINAL: Record<string, string> = {
  ValidationException: 'MODEL_VALIDATION_ERROR',
  AccessDeniedException: 'MODEL_ACCESS_DENIED',
  ResourceNotFoundException: 'MODEL_NOT_FOUND',
  ModelErrorException: 'MODEL_ERROR',
  ServiceQuotaExceededException: 'MODEL_QUOTA_EXCEEDED',
};

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR']);

/** Classifies an error thrown by a Bedrock Runtime call: transient (retry later) or final for this job. */
export function classifyModelError(error: unknown): ModelFailure {
  const e = (error ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const message = e.message ?? String(error);
  const name = e.name ?? '';
  if (name in RETRYABLE) return { code: RETRYABLE[name], retryable: true, message };
  if (name in TERMINAL) return { code: TERMINAL[name], retryable: false, message };
  if (e.code && NETWORK_CODES.has(e.code)) return { code: 'NETWORK_ERROR', retryable: true, message };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return { code: 'MODEL_UNAVAILABLE', retryable: true, message };
  if (status === 429) return { code: 'MODEL_THROTTLED', retryable: true, message };
  if (status !== undefined && status >= 400) return { code: 'MODEL_ERROR', retryable: false, message };
  return { code: 'NETWORK_ERROR', retryable: true, message };
}
