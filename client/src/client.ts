import { randomUUID } from 'node:crypto';
import { CLIENT_ERROR_CODES, JobFailedError, QuarryError, WaitTimeoutError } from './errors';
import { DEFAULT_BACKOFF, pollDelayMs, type BackoffOptions } from './retry-policy';
import { readSse } from './sse';
import { Transport, sleep, type Call, type FetchLike } from './transport';
import {
  TERMINAL_BATCH_STATUSES,
  TERMINAL_JOB_STATUSES,
  type Batch,
  type BatchRequest,
  type BatchResultLine,
  type Conversation,
  type ConversationTurnRequest,
  type CreateConversationRequest,
  type InvokeRequest,
  type InvokeResponse,
  type Job,
  type JobList,
  type JobRequest,
  type JobStatus,
  type JobSummary,
  type ListJobsQuery,
  type ModelList,
  type StreamEvent,
  type SubmittedBatch,
  type SubmittedJob,
} from './types';

export const CLIENT_VERSION = '0.1.0';

export interface QuarryOptions {
  /** The API's address: `http://localhost:3000` locally, the stack's `ApiUrl` output (ending in `/v1/`) on AWS. */
  baseUrl: string;
  /** The tenant's key, sent as `x-api-key`. */
  apiKey?: string;
  /** Retries of a retryable failure (see the README's "Client and CLI"); default 2. */
  maxRetries?: number;
  /** Per HTTP request, until the whole answer is read (a stream: until its headers); default 60,000. */
  timeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Another fetch (a proxy agent, a test double); default the global fetch. */
  fetch?: FetchLike;
}

export interface SubmitOptions {
  /** Sent as `Idempotency-Key`; a random one by default, so a retried submit returns the same job. `false` sends none (and disables retries). */
  idempotencyKey?: string | false;
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Give up after this many ms (a `WaitTimeoutError`); default: wait as long as it takes. */
  timeoutMs?: number;
  /** Give up at this time (a Date or epoch ms), whichever of it and `timeoutMs` comes first. */
  deadline?: Date | number;
  signal?: AbortSignal;
  /** Bounds on the pause between polls; the API's Retry-After picks it within them. Default 250 and 30,000. */
  minIntervalMs?: number;
  maxIntervalMs?: number;
}

export interface JobWaitOptions extends WaitOptions {
  /** Called after each poll with the job as it is. */
  onStatus?: (job: Job, elapsedMs: number) => void;
}

export interface BatchWaitOptions extends WaitOptions {
  /** Called after each poll with the batch's counts. */
  onProgress?: (batch: Batch, elapsedMs: number) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
}

const isTerminalJob = (status: JobStatus) => TERMINAL_JOB_STATUSES.includes(status);

/** The typed client of the Quarry HTTP API (v1). */
export class Quarry {
  readonly jobs: JobsApi;
  readonly conversations: ConversationsApi;
  readonly batches: BatchesApi;
  readonly models: ModelsApi;
  private readonly transport: Transport;

  constructor(options: QuarryOptions) {
    if (!options?.baseUrl) throw new QuarryError({ code: 'CONFIG_MISSING', status: 0, message: 'baseUrl is required' });
    this.transport = new Transport({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      maxRetries: options.maxRetries ?? 2,
      timeoutMs: options.timeoutMs ?? 60_000,
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      userAgent: `quarry-client/${CLIENT_VERSION}`,
    });
    this.jobs = new JobsApi(this.transport);
    this.conversations = new ConversationsApi(this.transport);
    this.batches = new BatchesApi(this.transport);
    this.models = new ModelsApi(this.transport);
  }

  /** POST /invoke: a synchronous answer. Only refusals (429) are retried: another failure may have spent a model call. */
  async invoke(request: InvokeRequest, options: CallOptions = {}): Promise<InvokeResponse> {
    return (await this.transport.json<InvokeResponse>({ method: 'POST', path: '/invoke', body: request, retry: 'refusals', signal: options.signal })).body;
  }

  /** POST /invoke/stream: its events as they come. A 4xx/5xx before the stream is thrown; a failure inside it is an `error` event. */
  stream(request: InvokeRequest, options: CallOptions = {}): AsyncGenerator<StreamEvent> {
    return streamEvents(this.transport, { method: 'POST', path: '/invoke/stream', body: request, retry: 'refusals', signal: options.signal });
  }
}

async function* streamEvents(transport: Transport, call: Call): AsyncGenerator<StreamEvent> {
  const answer = await transport.send(call);
  answer.settle();
  const { response } = answer;
  if (!response.body || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    throw new QuarryError({ code: CLIENT_ERROR_CODES.INVALID_RESPONSE, status: response.status, message: `${call.path} did not answer an event stream`, requestId: answer.requestId });
  }
  try {
    for await (const raw of readSse(response.body as unknown as AsyncIterable<Uint8Array>)) {
      let data: unknown;
      try {
        data = JSON.parse(raw.data);
      } catch (cause) {
        throw new QuarryError({ code: CLIENT_ERROR_CODES.INVALID_RESPONSE, status: response.status, message: `an event "${raw.event}" of ${call.path} has data that is not JSON`, cause });
      }
      yield { event: raw.event, data } as StreamEvent;
    }
  } catch (error) {
    if (error instanceof QuarryError) throw error;
    if (call.signal?.aborted) throw new QuarryError({ code: CLIENT_ERROR_CODES.ABORTED, status: 0, message: 'the stream was aborted', cause: error });
    throw new QuarryError({ code: CLIENT_ERROR_CODES.NETWORK_ERROR, status: 0, message: `the stream of ${call.path} broke: ${(error as Error).message}`, cause: error });
  }
}

/** The moment a wait gives up, from `timeoutMs` and `deadline`. */
function deadlineOf(options: WaitOptions, started: number): number {
  const candidates = [options.timeoutMs === undefined ? Infinity : started + options.timeoutMs, options.deadline === undefined ? Infinity : +options.deadline];
  return Math.min(...candidates);
}

/** A signal that fires at the deadline (with the wait's error) or with the caller's. */
function waitSignal(deadline: number, onTimeout: () => QuarryError, caller?: AbortSignal) {
  const controller = new AbortController();
  const timer = Number.isFinite(deadline) ? setTimeout(() => controller.abort(onTimeout()), Math.max(0, deadline - Date.now())) : undefined;
  const onAbort = () => controller.abort(caller!.reason);
  caller?.addEventListener('abort', onAbort, { once: true });
  if (caller?.aborted) onAbort();
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

export class JobsApi {
  constructor(private readonly transport: Transport) {}

  /** POST /jobs. With its (default, random) Idempotency-Key a retried submit is safe, so it is retried like a GET. */
  async submit(request: JobRequest, options: SubmitOptions = {}): Promise<SubmittedJob & { location?: string }> {
    const key = options.idempotencyKey === false ? undefined : (options.idempotencyKey ?? randomUUID());
    const { body, headers } = await this.transport.json<SubmittedJob>({
      method: 'POST',
      path: '/jobs',
      body: request,
      headers: key === undefined ? {} : { 'idempotency-key': key },
      retry: key === undefined ? 'refusals' : 'idempotent',
      signal: options.signal,
    });
    const location = headers.get('location') ?? undefined;
    return { ...body, ...(location && { location }) };
  }

  /** GET /jobs/{jobId}. */
  async get(jobId: string, options: CallOptions = {}): Promise<Job> {
    return (await this.read(jobId, options.signal)).job;
  }

  private async read(jobId: string, signal?: AbortSignal): Promise<{ job: Job; retryAfter?: number }> {
    const { body, retryAfter } = await this.transport.json<Job>({ method: 'GET', path: `/jobs/${encodeURIComponent(jobId)}`, retry: 'idempotent', signal });
    return { job: body, retryAfter };
  }

  /**
   * Polls the job until it is SUCCEEDED, FAILED or CANCELLED and resolves with it (a failed job resolves too: look at
   * `status`), sleeping what each answer's Retry-After asks (within the interval bounds, never past the deadline).
   * Rejects with a WaitTimeoutError at the deadline, or ABORTED when the signal fires.
   */
  async waitFor(jobId: string, options: JobWaitOptions = {}): Promise<Job> {
    const started = Date.now();
    const deadline = deadlineOf(options, started);
    let last: Job | undefined;
    const wait = waitSignal(deadline, () => new WaitTimeoutError({ jobId }, last?.status, Date.now() - started), options.signal);
    try {
      for (;;) {
        const { job, retryAfter } = await this.read(jobId, wait.signal);
        last = job;
        options.onStatus?.(job, Date.now() - started);
        if (isTerminalJob(job.status)) return job;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new WaitTimeoutError({ jobId }, job.status, Date.now() - started);
        await sleep(pollDelayMs(retryAfter, { minMs: options.minIntervalMs ?? 250, maxMs: options.maxIntervalMs ?? 30_000, defaultMs: 1_000 }, remaining), wait.signal);
      }
    } finally {
      wait.dispose();
    }
  }

  /** Submits and waits; resolves with the SUCCEEDED job, rejects with a JobFailedError for a FAILED or CANCELLED one. */
  async run(request: JobRequest, options: JobWaitOptions & SubmitOptions = {}): Promise<Job> {
    const { jobId } = await this.submit(request, options);
    const job = await this.waitFor(jobId, options);
    if (job.status !== 'SUCCEEDED') throw new JobFailedError(job.jobId, job.status, job.error);
    return job;
  }

  /** The text of a succeeded job, read from `resultUrl` when it was too large to be inline. */
  async text(job: Job, options: CallOptions = {}): Promise<string | undefined> {
    if (job.result?.text !== undefined) return job.result.text;
    if (!job.resultUrl) return undefined;
    const { body } = await this.transport.json<{ text?: string }>({ method: 'GET', path: job.resultUrl, retry: 'idempotent', signal: options.signal });
    return body?.text;
  }

  /** GET /jobs: one page, newest first (a batch's jobs in input order). */
  async list(query: ListJobsQuery = {}, options: CallOptions = {}): Promise<JobList> {
    const { status, batchId, limit, nextToken } = query;
    return (await this.transport.json<JobList>({ method: 'GET', path: '/jobs', query: { status, batchId, limit, nextToken }, retry: 'idempotent', signal: options.signal })).body;
  }

  /** Every job of the listing, following `nextToken` page after page. */
  async *listAll(query: Omit<ListJobsQuery, 'nextToken'> = {}, options: CallOptions = {}): AsyncGenerator<JobSummary> {
    let nextToken: string | undefined;
    do {
      const page = await this.list({ ...query, nextToken }, options);
      yield* page.jobs;
      nextToken = page.nextToken;
    } while (nextToken);
  }

  /** DELETE /jobs/{jobId}: the job, CANCELLED; `409 JOB_NOT_CANCELLABLE` once it started. */
  async cancel(jobId: string, options: CallOptions = {}): Promise<Job> {
    return (await this.transport.json<Job>({ method: 'DELETE', path: `/jobs/${encodeURIComponent(jobId)}`, retry: 'idempotent', signal: options.signal })).body;
  }
}

export class ConversationsApi {
  constructor(private readonly transport: Transport) {}

  /** POST /conversations (not retried but for refusals: a retry could make a second one). */
  async create(request: CreateConversationRequest = {}, options: CallOptions = {}): Promise<{ conversationId: string }> {
    return (await this.transport.json<{ conversationId: string }>({ method: 'POST', path: '/conversations', body: request, retry: 'refusals', signal: options.signal })).body;
  }

  /** POST /conversations/{id}/messages: as a job (the default, `{jobId, turn}`) or answered at once (`mode: "sync"`). */
  send(conversationId: string, turn: ConversationTurnRequest, options?: CallOptions & { mode?: 'job' }): Promise<{ jobId: string; turn: number }>;
  send(conversationId: string, turn: ConversationTurnRequest, options: CallOptions & { mode: 'sync' }): Promise<InvokeResponse & { turn: number }>;
  async send(conversationId: string, turn: ConversationTurnRequest, options: CallOptions & { mode?: 'job' | 'sync' } = {}): Promise<unknown> {
    const body = { ...turn, mode: options.mode ?? 'job' };
    return (await this.transport.json({ method: 'POST', path: `/conversations/${encodeURIComponent(conversationId)}/messages`, body, retry: 'refusals', signal: options.signal })).body;
  }

  /** A turn answered as a stream of events (`turn` in `stop`). */
  stream(conversationId: string, turn: ConversationTurnRequest, options: CallOptions = {}): AsyncGenerator<StreamEvent> {
    return streamEvents(this.transport, { method: 'POST', path: `/conversations/${encodeURIComponent(conversationId)}/messages`, body: { ...turn, mode: 'stream' }, retry: 'refusals', signal: options.signal });
  }

  /** GET /conversations/{id}: the history. */
  async get(conversationId: string, options: CallOptions = {}): Promise<Conversation> {
    return (await this.transport.json<Conversation>({ method: 'GET', path: `/conversations/${encodeURIComponent(conversationId)}`, retry: 'idempotent', signal: options.signal })).body;
  }

  /** DELETE /conversations/{id}. */
  async delete(conversationId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.json({ method: 'DELETE', path: `/conversations/${encodeURIComponent(conversationId)}`, retry: 'idempotent', signal: options.signal });
  }
}

export class BatchesApi {
  constructor(private readonly transport: Transport) {}

  /** POST /batches, with an Idempotency-Key (random by default) so a retry returns the same batch. */
  async submit(request: BatchRequest, options: SubmitOptions = {}): Promise<SubmittedBatch> {
    const key = options.idempotencyKey === false ? undefined : (options.idempotencyKey ?? randomUUID());
    return (
      await this.transport.json<SubmittedBatch>({
        method: 'POST',
        path: '/batches',
        body: request,
        headers: key === undefined ? {} : { 'idempotency-key': key },
        retry: key === undefined ? 'refusals' : 'idempotent',
        signal: options.signal,
      })
    ).body;
  }

  /** GET /batches/{id}: status and counts (and `resultsUrl` once finished). */
  async get(batchId: string, options: CallOptions = {}): Promise<Batch> {
    return (await this.transport.json<Batch>({ method: 'GET', path: `/batches/${encodeURIComponent(batchId)}`, retry: 'idempotent', signal: options.signal })).body;
  }

  /** DELETE /batches/{id}: the batch, CANCELLING; `409 BATCH_NOT_CANCELLABLE` once finished. */
  async cancel(batchId: string, options: CallOptions = {}): Promise<Batch> {
    return (await this.transport.json<Batch>({ method: 'DELETE', path: `/batches/${encodeURIComponent(batchId)}`, retry: 'idempotent', signal: options.signal })).body;
  }

  /** Polls until COMPLETED or CANCELLED (every `minIntervalMs`, default 1,000), calling `onProgress` with each answer. */
  async waitFor(batchId: string, options: BatchWaitOptions = {}): Promise<Batch> {
    const started = Date.now();
    const deadline = deadlineOf(options, started);
    let last: Batch | undefined;
    const wait = waitSignal(deadline, () => new WaitTimeoutError({ batchId }, last?.status, Date.now() - started), options.signal);
    try {
      for (;;) {
        const batch = await this.get(batchId, { signal: wait.signal });
        last = batch;
        options.onProgress?.(batch, Date.now() - started);
        if (TERMINAL_BATCH_STATUSES.includes(batch.status)) return batch;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new WaitTimeoutError({ batchId }, batch.status, Date.now() - started);
        const interval = options.minIntervalMs ?? 1_000;
        await sleep(pollDelayMs(undefined, { minMs: interval, maxMs: options.maxIntervalMs ?? 30_000, defaultMs: interval }, remaining), wait.signal);
      }
    } finally {
      wait.dispose();
    }
  }

  /** The results file (JSONL, input order) of a finished batch, as text; fetches a fresh `resultsUrl` when given an id. */
  async resultsText(batch: Batch | string, options: CallOptions = {}): Promise<string> {
    const current = typeof batch === 'string' ? await this.get(batch, options) : batch;
    if (!current.resultsUrl) {
      throw new QuarryError({ code: 'RESULTS_NOT_READY', status: 0, message: `batch ${current.batchId} is ${current.status}: its results file is written when it finishes`, details: [{ path: 'status', message: current.status }] });
    }
    const answer = await this.transport.send({ method: 'GET', path: current.resultsUrl, retry: 'idempotent', signal: options.signal });
    try {
      return await answer.response.text();
    } finally {
      answer.settle();
    }
  }

  /** The results file's lines, parsed. */
  async results(batch: Batch | string, options: CallOptions = {}): Promise<BatchResultLine[]> {
    const text = await this.resultsText(batch, options);
    return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as BatchResultLine);
  }
}

export class ModelsApi {
  constructor(private readonly transport: Transport) {}

  /** GET /models: the configured models, their routes and circuit breakers. */
  async list(options: CallOptions = {}): Promise<ModelList> {
    return (await this.transport.json<ModelList>({ method: 'GET', path: '/models', retry: 'idempotent', signal: options.signal })).body;
  }
}
