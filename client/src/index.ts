export { Quarry, JobsApi, ConversationsApi, BatchesApi, ModelsApi, CLIENT_VERSION } from './client';
export type { QuarryOptions, SubmitOptions, WaitOptions, JobWaitOptions, BatchWaitOptions, CallOptions } from './client';
export { QuarryError, WaitTimeoutError, JobFailedError, CLIENT_ERROR_CODES } from './errors';
export type { QuarryErrorInit } from './errors';
export { SseParser, readSse } from './sse';
export type { RawSseEvent } from './sse';
export { RETRYABLE_STATUSES, DEFAULT_BACKOFF, retryDelayMs, parseRetryAfter, pollDelayMs } from './retry-policy';
export type { BackoffOptions } from './retry-policy';
export type { FetchLike, RetryMode } from './transport';
export * from './types';
// verifyWebhook (./webhooks) is exported here once that module lands.
