import { CLIENT_ERROR_CODES, QuarryError } from './errors';
import { RETRYABLE_STATUSES, parseRetryAfter, retryDelayMs, type BackoffOptions } from './retry-policy';
import type { ApiErrorBody } from './types';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/**
 * Which failures a call sends again:
 * - `idempotent`: 429, 500, 502, 503, 504 and network errors (GET, DELETE, and POSTs that carry an Idempotency-Key);
 * - `refusals`: only 429, which the API and the gateway answer before anything is done or a model is called;
 * - `never`.
 */
export type RetryMode = 'idempotent' | 'refusals' | 'never';

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  /** A path under the base URL, or an absolute URL (a presigned link: sent without the API key). */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  retry: RetryMode;
  signal?: AbortSignal;
}

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string;
  maxRetries: number;
  timeoutMs: number;
  fetch: FetchLike;
  backoff: BackoffOptions;
  userAgent: string;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** An answer whose status was 2xx: its headers, and a body not read yet. */
export interface Answer {
  response: Response;
  retryAfter?: number;
  requestId?: string;
  /** Ends the request timeout's watch (called once the body was read, or before a stream is handed over). */
  settle(): void;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function abortedError(signal: AbortSignal): QuarryError {
  if (signal.reason instanceof QuarryError) return signal.reason;
  return new QuarryError({ code: CLIENT_ERROR_CODES.ABORTED, status: 0, message: 'the request was aborted', cause: signal.reason });
}

export class Transport {
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(readonly options: TransportOptions) {
    this.sleep = options.sleep ?? sleep;
  }

  url(path: string, query?: Call['query']): string {
    const base = this.options.baseUrl.endsWith('/') ? this.options.baseUrl : `${this.options.baseUrl}/`;
    const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(path.replace(/^\//, ''), base);
    for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    return url.toString();
  }

  /** The call's JSON answer (undefined for 204). */
  async json<T>(call: Call): Promise<{ body: T; retryAfter?: number; headers: Headers }> {
    const answer = await this.send(call);
    try {
      const text = await answer.response.text();
      if (answer.response.status === 204 || text === '') return { body: undefined as T, retryAfter: answer.retryAfter, headers: answer.response.headers };
      try {
        return { body: JSON.parse(text) as T, retryAfter: answer.retryAfter, headers: answer.response.headers };
      } catch (cause) {
        throw new QuarryError({ code: CLIENT_ERROR_CODES.INVALID_RESPONSE, status: answer.response.status, message: `the answer to ${call.method} ${call.path} is not JSON`, requestId: answer.requestId, cause });
      }
    } catch (error) {
      throw this.mapThrown(error, call);
    } finally {
      answer.settle();
    }
  }

  /** Sends the call, retrying as its mode allows, and gives back a 2xx answer or throws its QuarryError. */
  async send(call: Call): Promise<Answer> {
    for (let retry = 0; ; retry++) {
      let error: QuarryError;
      const attempt = this.attempt(call);
      try {
        const answer = await attempt.start();
        if (answer.response.ok) return answer;
        error = await errorOf(answer, call);
        answer.settle();
      } catch (thrown) {
        attempt.settle();
        error = this.mapThrown(thrown, call);
        if (error.code === CLIENT_ERROR_CODES.ABORTED) throw error;
      }
      const retryable = call.retry === 'idempotent' ? error.status === 0 || RETRYABLE_STATUSES.has(error.status) : call.retry === 'refusals' && error.status === 429;
      if (!retryable || retry >= this.options.maxRetries || error.code === CLIENT_ERROR_CODES.INVALID_RESPONSE) throw error;
      const delay = retryDelayMs(retry, error.retryAfter, this.options.backoff);
      if (delay === undefined) throw error;
      await this.sleep(delay, call.signal);
    }
  }

  private attempt(call: Call) {
    const controller = new AbortController();
    const timeout = new QuarryError({ code: CLIENT_ERROR_CODES.REQUEST_TIMEOUT, status: 0, message: `no answer to ${call.method} ${call.path} within ${this.options.timeoutMs} ms` });
    const timer = setTimeout(() => controller.abort(timeout), this.options.timeoutMs);
    const onAbort = () => controller.abort(call.signal!.reason);
    call.signal?.addEventListener('abort', onAbort, { once: true });
    if (call.signal?.aborted) controller.abort(call.signal.reason);
    const settle = () => {
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', onAbort);
    };
    const absolute = /^https?:\/\//.test(call.path);
    const headers: Record<string, string> = {
      accept: 'application/json, text/event-stream',
      'user-agent': this.options.userAgent,
      ...(!absolute && this.options.apiKey !== undefined && { 'x-api-key': this.options.apiKey }),
      ...(call.body !== undefined && { 'content-type': 'application/json' }),
      ...call.headers,
    };
    const start = async (): Promise<Answer> => {
      const response = await this.options.fetch(this.url(call.path, call.query), {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: controller.signal,
      });
      return { response, retryAfter: parseRetryAfter(response.headers.get('retry-after')), requestId: response.headers.get('x-amzn-requestid') ?? undefined, settle };
    };
    return { start, settle, signal: controller.signal };
  }

  private mapThrown(thrown: unknown, call: Call): QuarryError {
    if (thrown instanceof QuarryError) return thrown;
    if (call.signal?.aborted) return abortedError(call.signal);
    const reason = (thrown as { cause?: unknown })?.cause;
    if (reason instanceof QuarryError) return reason;
    const message = thrown instanceof Error ? `${thrown.message}${reason instanceof Error ? `: ${reason.message}` : ''}` : String(thrown);
    return new QuarryError({ code: CLIENT_ERROR_CODES.NETWORK_ERROR, status: 0, message: `${call.method} ${this.url(call.path)}: ${message}`, cause: thrown });
  }
}

async function errorOf(answer: Answer, call: Call): Promise<QuarryError> {
  const { response } = answer;
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The status says enough when the body cannot be read.
  }
  let body: Partial<ApiErrorBody> | undefined;
  try {
    body = JSON.parse(text) as Partial<ApiErrorBody>;
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (error && typeof error.code === 'string') {
    return new QuarryError({ code: error.code, message: error.message ?? error.code, status: response.status, details: error.details, retryAfter: answer.retryAfter, requestId: answer.requestId });
  }
  return new QuarryError({
    code: `HTTP_${response.status}`,
    message: `${call.method} ${call.path} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
    status: response.status,
    retryAfter: answer.retryAfter,
    requestId: answer.requestId,
  });
}
