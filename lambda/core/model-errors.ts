/**
 * What the pipeline does after a failed model call:
 * - `retry`: transient (throttling, unavailability, timeouts, network); try again, then the next model;
 * - `larger-model`: the input does not fit this model's context window; only a model with a larger one can help;
 * - `next-model`: this model cannot be used here (no access granted, not offered in the region): the next model of
 *   the chain may be; no retry of this one;
 * - `fail`: the request or the configuration is at fault; no retry and no fallback can change the answer;
 * - `unexpected`: not an answer from Bedrock or the network at all (a defect, a corrupt record): let it crash the
 *   delivery, so SQS redelivers it and, if it keeps failing, dead-letters it.
 */
export type FailureDisposition = 'retry' | 'larger-model' | 'next-model' | 'fail' | 'unexpected';

export interface ModelFailure {
  code: string;
  disposition: FailureDisposition;
  message: string;
  /** Whether the failure says something about the model's health (feeds the circuit breaker). */
  countsAgainstModel: boolean;
  /** A server hint (Retry-After) of how long to wait before the next call. */
  retryAfterMs?: number;
}

const TRANSIENT: Record<string, string> = {
  ThrottlingException: 'MODEL_THROTTLED',
  ModelNotReadyException: 'MODEL_NOT_READY',
  ServiceUnavailableException: 'MODEL_UNAVAILABLE',
  InternalServerException: 'MODEL_INTERNAL_ERROR',
  // The SDK does not retry this one by default; a model that timed out once usually answers the next call.
  ModelTimeoutException: 'MODEL_TIMEOUT',
  TimeoutError: 'NETWORK_ERROR',
  RequestTimeout: 'NETWORK_ERROR',
};

/** The model cannot serve this deployment (access not granted, a Marketplace subscription missing, not in the region). */
const UNUSABLE: Record<string, string> = {
  AccessDeniedException: 'MODEL_ACCESS_DENIED',
  ResourceNotFoundException: 'MODEL_NOT_FOUND',
};

const FINAL: Record<string, string> = {
  ValidationException: 'MODEL_VALIDATION_ERROR',
  ModelErrorException: 'MODEL_ERROR',
  ServiceQuotaExceededException: 'MODEL_QUOTA_EXCEEDED',
};

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION']);

const CONTEXT_OVERFLOW = /input is too long|prompt is too long|too many input tokens|exceeds? the (model'?s? )?(context|maximum context)|context (window|length) (exceeded|is exceeded)/i;
const NEEDS_PROFILE = /on-demand throughput isn.?t supported/i;

interface ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

function retryAfterMs(e: ErrorShape): number | undefined {
  const header = e.$response?.headers?.['retry-after'] ?? e.$response?.headers?.['Retry-After'];
  if (header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The inference-profile id Bedrock wants for a model in a region, e.g. us.anthropic.claude-sonnet-4-... */
export function suggestedProfileId(modelId: string, region: string | undefined): string {
  const geography = !region ? 'us' : region.startsWith('us-gov-') ? 'us-gov' : region.startsWith('us-') ? 'us' : region.startsWith('eu-') ? 'eu' : region.startsWith('ap-') ? 'apac' : region.startsWith('ca-') ? 'ca' : 'global';
  return `${geography}.${modelId}`;
}

export interface CallContext {
  modelId: string;
  region?: string;
  /** True when a streaming call had already produced content before it broke. */
  contentProduced?: boolean;
  /** True when the pipeline itself abandoned the call (its time ran out), not the model. */
  abandoned?: boolean;
}

/** Classifies an error thrown by a Bedrock Runtime call. */
export function classifyModelError(error: unknown, call: CallContext = { modelId: '' }): ModelFailure {
  const e = (error ?? {}) as ErrorShape;
  const message = e.message ?? String(error);
  const name = e.name ?? '';
  const hint = retryAfterMs(e);
  const transient = (code: string, countsAgainstModel = true): ModelFailure => ({ code, disposition: 'retry', message, countsAgainstModel, ...(hint !== undefined && { retryAfterMs: hint }) });
  const final = (code: string, text = message): ModelFailure => ({ code, disposition: 'fail', message: text, countsAgainstModel: false });

  if (call.abandoned || name === 'AbortError') return transient('CALL_ABANDONED', false);
  // An attachment in the inputs bucket, read before the call: the caller's to fix, or S3's failure, never the model's.
  if (name === 'InputNotReadable') return final('INPUT_NOT_READABLE');
  if (name === 'InputReadFailed') return transient('INPUT_READ_FAILED', false);
  if (name === 'ModelStreamErrorException') return call.contentProduced ? final('MODEL_STREAM_INTERRUPTED') : transient('MODEL_STREAM_ERROR');
  if (name === 'ValidationException' && NEEDS_PROFILE.test(message)) {
    const profile = suggestedProfileId(call.modelId, call.region);
    return final(
      'MODEL_NEEDS_INFERENCE_PROFILE',
      `Bedrock serves ${call.modelId} only through an inference profile in ${call.region ?? 'this region'}: configure the model as "${profile}" (models.<key>.modelId) instead of the bare model id.`,
    );
  }
  if ((name === 'ValidationException' || name === 'ModelErrorException') && CONTEXT_OVERFLOW.test(message)) {
    return { code: 'CONTEXT_WINDOW_EXCEEDED', disposition: 'larger-model', message, countsAgainstModel: false };
  }
  if (name in TRANSIENT) return transient(TRANSIENT[name]);
  if (name in UNUSABLE) return { code: UNUSABLE[name], disposition: 'next-model', message, countsAgainstModel: false };
  if (name in FINAL) return final(FINAL[name]);
  if (e.code && NETWORK_CODES.has(e.code)) return transient('NETWORK_ERROR');
  const status = e.$metadata?.httpStatusCode;
  if (status === 429) return transient('MODEL_THROTTLED');
  if (status !== undefined && status >= 500) return transient('MODEL_UNAVAILABLE');
  if (status !== undefined && status >= 400) return final('MODEL_ERROR');
  if (e.$metadata || /timeout|socket|network|connect/i.test(`${name} ${message}`)) return transient('NETWORK_ERROR');
  return { code: 'UNEXPECTED_ERROR', disposition: 'unexpected', message, countsAgainstModel: false };
}
