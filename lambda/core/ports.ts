import type { Batch, BatchCounts, BatchLine, TallyField, TallyShard } from './batch';
import type { Routing } from './route-decision';
import type { CallSample, RecentFigures } from './model-stats';
import type { AsyncInvocationState, Attempt, Claimant, Job, JobError, JobResult, Reservation, ResultLocation, RunnableJob, Usage } from './job';
import type { OutputBlock } from './converse-fields';
import type { NormalizedJobRequest } from './job-request';
import type { Conversation, ConversationMessage, PendingTurn } from './conversation';

/*
 * What the job use cases need from the outside world. The adapters in lambda/aws implement these;
 * core never imports an SDK.
 */

export interface JobStore {
  /** Writes the job's state, conditional on the id being free (else returns the live job that holds it). */
  create(job: RunnableJob, now: Date): Promise<{ created: true } | { created: false; existing: Job }>;
  /** The job; `eventual` reads cost half and may lag a write by a moment (never for decisions that write). */
  get(jobId: string, now: Date, consistency?: 'strong' | 'eventual'): Promise<Job | undefined>;
  /** Writes the request of a job too large for its queue message, as an item of its own, before the message is sent. */
  putRequest(job: RunnableJob): Promise<void>;
  /** The request of a job, read strongly consistent; undefined if it is gone (or was never stored apart). */
  getRequest(jobId: string): Promise<NormalizedJobRequest | undefined>;
  /**
   * QUEUED -> RUNNING (or a takeover, see the adapter), only for a delivery of the job's own request: a message
   * carrying another `requestHash` (a conflicting replay's) never runs the job.
   */
  claim(jobId: string, claimant: Claimant & { requestHash?: string; poll?: number }, lease: { expiresAt: number }, now: Date): Promise<Job | undefined>;
  /**
   * An async job's invocation recorded and the job let go of between polls: it stays RUNNING with no live lease,
   * and only the message for `asyncInvocation.polls` (or this one, redelivered) may claim it next.
   */
  awaitInvocation(jobId: string, owner: string, change: { asyncInvocation: AsyncInvocationState; attempts: Attempt[]; sweepAt: number }, now: Date): Promise<Job | undefined>;
  release(jobId: string, owner: string, change: { attempts: Attempt[]; reservation?: Reservation; sweepAt: number }, now: Date): Promise<Job | undefined>;
  markSucceeded(jobId: string, owner: string, outcome: { result: JobResult; resultLocation?: ResultLocation; attempts: Attempt[]; routing?: Routing }, now: Date): Promise<Job | undefined>;
  markFailed(jobId: string, owner: string, outcome: { error: JobError; attempts: Attempt[]; routing?: Routing }, now: Date): Promise<Job | undefined>;
  markAbandoned(jobId: string, error: JobError, sweepAt: number, now: Date): Promise<Job | undefined>;
  /** QUEUED -> CANCELLED, into the sweep index at `sweepAt` until its event is published; undefined if it was not QUEUED. */
  markCancelled(jobId: string, sweepAt: number, now: Date): Promise<Job | undefined>;
  /** Counts a dead letter and lets the job wait for its new message: QUEUED, or (`running`: an async invocation in progress) RUNNING held by no one. */
  markDeadLetterRequeued(jobId: string, sweepAt: number, now: Date, options?: { running?: boolean }): Promise<Job | undefined>;
  rescheduleSweep(jobId: string, expectedSweepAt: number, nextSweepAt: number, requeued: boolean): Promise<boolean>;
  markEventPublished(jobId: string, now: Date): Promise<void>;
  /** Many jobs by id (eventually consistent), as a map; absent and expired ones are missing from it. */
  getMany(jobIds: readonly string[], now: Date): Promise<Map<string, Job>>;
}

/** The jobs that owe something and are past their `sweepAt` (lambda/core/job-lifecycle.ts). */
export interface SweepIndex {
  dueForSweep(now: Date, limit: number): Promise<string[]>;
}

/**
 * A queue message: the job id, the fingerprint of the request it runs and when the job was submitted, and the
 * request itself when small enough to travel with it (it is then stored nowhere else).
 */
export interface JobMessage {
  jobId: string;
  tenant?: string;
  requestHash?: string;
  /** The job's createdAt (ISO 8601): how a worker that finds no job tells a submit still under way from one that failed. */
  createdAt?: string;
  request?: NormalizedJobRequest;
  /** An async invocation's poll this message is for (lambda/core/async-invocation.ts); absent on a job's first message. */
  poll?: number;
}

export interface JobEnqueuer {
  enqueue(message: JobMessage): Promise<void>;
}

/** Puts a job back on the queue as a new message, so waiting spends none of its dead-letter receive budget. */
export interface JobRequeuer {
  requeue(message: JobMessage, delaySeconds: number): Promise<void>;
}

/** Quota-aware admission (lambda/core/admission.ts): a shared token bucket per model and region. */
export type CapacityGrant =
  /** No quota configured for this model, or the bucket store failed (then `degraded`): call freely. */
  | { kind: 'unlimited'; degraded?: boolean }
  /** Capacity reserved; the call may start after `waitMs`. */
  | { kind: 'reserved'; waitMs: number }
  /** Nothing fits within the bucket's debt limit; ask again after `waitMs`. */
  | { kind: 'refused'; waitMs: number };

export interface CapacityGate {
  reserve(target: { modelId: string; region: string }, cost: { requests: number; tokens: number }, now: Date): Promise<CapacityGrant>;
  /** Returns what a call did not use; `throttled` when Bedrock throttled it anyway (the bucket then slows down). */
  settle(
    target: { modelId: string; region: string },
    cost: { requests: number; tokens: number },
    outcome: { usage?: Usage; throttled: boolean; called: boolean },
    now: Date,
  ): Promise<void>;
}

/** Answers kept for routes that opt in, served when every model of the chain fails. */
export interface ResponseCache {
  get(key: string, now: Date): Promise<JobResult | undefined>;
  put(key: string, result: JobResult, now: Date): Promise<void>;
}

/** What happened on the way to an answer, for metrics: one event per model call, fallback or breaker change. */
export type ModelCallEvent =
  | { type: 'call'; modelId: string; region: string; outcome: 'succeeded' | 'failed'; errorCode?: string; latencyMs: number; usage?: Usage }
  | { type: 'retry'; modelId: string; region: string; delayMs: number }
  | { type: 'fallback'; fromModelId: string; toModelId: string; reason: string }
  | { type: 'breaker'; modelId: string; region: string; from: string; to: string }
  | { type: 'cache-served'; route: string }
  | { type: 'requeued'; delaySeconds: number }
  /** A content or metric route chose `modelId` first (by `tier`, or to explore it). */
  | { type: 'routed'; route: string; modelId: string; strategy: 'content' | 'metric'; tier?: 'simple' | 'medium' | 'complex'; exploring?: boolean }
  /** A call's service tier gave way (refused, or flex throttled past the route's patience): the next call asks `to`. */
  | { type: 'tier-fallback'; modelId: string; from: string; to: string }
  /** A content route's classifier was asked; `answered` false: the rules' tier stood. */
  | { type: 'classified'; modelId: string; answered: boolean }
  /** A call given up because the invocation ran out of time: neutral for the breaker, recorded on the job. */
  | { type: 'abandoned'; modelId: string; region: string };

export interface ModelCallObserver {
  observe(event: ModelCallEvent): void;
}

export interface TerminalEventPublisher {
  publishTerminal(job: Job, now: Date): Promise<void>;
}

/** A Converse answer: its text, and its content blocks when they hold more than text (a tool use). */
export interface ConverseAnswer {
  text: string;
  stopReason: string;
  usage: Usage;
  content?: OutputBlock[];
  /** The service tier that served the call, when Bedrock says. */
  serviceTier?: string;
  /** Bedrock's trace of the call (a guardrail's assessment), when the request asked for it. */
  trace?: Record<string, unknown>;
}

export interface ModelInvoker {
  converse(modelId: string, request: NormalizedJobRequest, options: { region: string; abortSignal?: AbortSignal }): Promise<ConverseAnswer>;
  /** The same call streamed: `onText` gets each piece of the answer as it comes. Only streaming paths need it. */
  converseStream?(modelId: string, request: NormalizedJobRequest, options: { region: string; abortSignal?: AbortSignal; onText: (text: string) => void }): Promise<ConverseAnswer>;
  /**
   * InvokeModel with the model's native body (InvokeModelWithResponseStream when `onChunk` is given: each decoded
   * chunk goes to it as it comes). Only POST /invoke and /invoke/stream with `nativeBody` need it.
   */
  invokeNative?(modelId: string, body: Record<string, unknown>, options: { region: string; abortSignal?: AbortSignal; onChunk?: (chunk: unknown) => void }): Promise<NativeAnswer>;
}

/** Reads an attachment stored in the stack's inputs bucket, when a model is called with it. */
export interface InputReader {
  read(uri: string, maxBytes: number): Promise<Uint8Array>;
}

/** A native call's answer: the model's own response (undefined when streamed), and what Quarry reads of it. */
export interface NativeAnswer {
  nativeResponse?: unknown;
  text: string;
  stopReason: string;
  usage: Usage;
}

export interface LargeResultStore {
  put(jobId: string, result: JobResult): Promise<ResultLocation>;
}

/** Structured log lines; never given prompt or completion text unless the operator opted in. */
export interface JobLog {
  /** Lines an operator turns on to follow every step (POWERTOOLS_LOG_LEVEL=DEBUG); the default INFO drops them. */
  debug?(message: string, fields: Record<string, unknown>): void;
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

export type Clock = () => Date;

/** What a circuit breaker guards: one model id in one region (a model with failover regions has one per region). */
export interface BreakerTarget {
  modelId: string;
  region: string;
}

export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** A state change one call caused, for the breaker-transition metric and log line. */
export interface BreakerTransition {
  from: BreakerState;
  to: BreakerState;
}

/**
 * The breaker's answer before a model call. `probe`: this call tests a HALF_OPEN breaker (report its outcome).
 * `degraded`: the breaker store failed, so the call proceeds unguarded (fail open). `transition`: this admission
 * moved the breaker OPEN -> HALF_OPEN. A refusal's `retryAt` (epoch ms) is when it may admit again.
 */
export type Admission =
  | { admitted: true; probe: boolean; degraded?: boolean; transition?: BreakerTransition }
  | { admitted: false; state: 'OPEN' | 'HALF_OPEN'; retryAt: number };

/** One breaker as GET /models shows it: counts are the rolling window's (weighted), times ISO 8601. */
export interface BreakerView {
  modelId: string;
  region: string;
  state: BreakerState;
  errorRate: number;
  calls: number;
  failures: number;
  openedAt?: string;
  /** When the next call will be let through as a probe; in the past when the next call is one. */
  nextProbeAt?: string;
  /** The last five minutes' figures, as metric routing sees them. */
  recent?: RecentFigures;
}

/**
 * A circuit breaker per (model id, region), shared by every worker instance. Its store failing never stops a call:
 * admit then answers `degraded` and record gives up quietly (both log a warning).
 */
export interface CircuitBreaker {
  admit(target: BreakerTarget, now: Date): Promise<Admission>;
  /**
   * The outcome of an admitted call. Report `failure` only for failures that say the model is unhealthy
   * (retryable ones); a request the model rejected (4xx) is a `success` for the breaker.
   */
  record(target: BreakerTarget, outcome: 'success' | 'failure', admission: Admission, now: Date, sample?: CallSample): Promise<BreakerTransition | undefined>;
  /** Writes outcomes `record` held back (successes); called before an invocation ends. */
  flush(now: Date): Promise<void>;
  describe(targets: BreakerTarget[], now: Date): Promise<BreakerView[]>;
  /** Recent figures of each target (calls, error and throttle rates, latency quantiles, tokens), cached for seconds. */
  figures(targets: BreakerTarget[], now: Date): Promise<RecentFigures[]>;
}

/** What the conversation use cases need stored (lambda/core/conversation-turns.ts; lambda/aws/conversation-store.ts). */
export interface ConversationStore {
  create(conversation: Conversation): Promise<void>;
  /** The conversation, if it exists and has not expired (strongly consistent: turns are decided on it). */
  get(conversationId: string, now: Date): Promise<Conversation | undefined>;
  /** Puts `pending` in flight if no turn is and the conversation still has `expectTurns` turns; false otherwise. */
  claim(conversationId: string, expectTurns: number, pending: PendingTurn, now: Date): Promise<boolean>;
  /** Names the job that answers the pending turn `turn`. */
  setJob(conversationId: string, turn: number, jobId: string): Promise<void>;
  /** Appends the messages of turn `turn` and ends it (if it is still the one in flight); false if it is not. */
  record(conversationId: string, turn: number, messages: ConversationMessage[], now: Date): Promise<boolean>;
  /** Ends the pending turn `turn` without recording it. */
  clear(conversationId: string, turn: number): Promise<void>;
  /** Deletes the tenant's conversation; false if there is none of that tenant's. */
  delete(conversationId: string, tenant: string): Promise<boolean>;
}


/** A message of the batch queue (lambda/core/batch-runner.ts): fan a batch out, walk it to cancel, or finish it. */
export type BatchMessage = { kind: 'fan-out'; batchId: string; createdAt?: string } | { kind: 'cancel'; batchId: string; from?: number } | { kind: 'complete'; batchId: string; checks?: number };

export interface BatchQueue {
  send(message: BatchMessage, delaySeconds?: number): Promise<void>;
}

/** The batch items: the batch (`BATCH#`) and its tally shards (`TALLY#`), lambda/core/batch.ts. */
export interface BatchStore {
  /** Writes a new batch, conditional on the id being free (else returns the batch that holds it). */
  create(batch: Batch): Promise<{ created: true } | { created: false; existing: Batch }>;
  get(batchId: string, now?: Date): Promise<Batch | undefined>;
  /** Moves the fan-out's cursor from `from` to `to`, only while the batch is IN_PROGRESS and the cursor at `from`. */
  advanceFanOut(batchId: string, from: number, to: number, now: Date): Promise<boolean>;
  /** IN_PROGRESS -> CANCELLING; undefined when the batch is not IN_PROGRESS. */
  requestCancel(batchId: string, now: Date): Promise<Batch | undefined>;
  /** Adds line numbers to one set of a tally shard (idempotent) and returns the shard as it is now. */
  tally(batchId: string, shard: number, field: TallyField, seqs: number[]): Promise<TallyShard>;
  /** Adds a shard to the batch's set of done shards (idempotent); returns how many are done. */
  markShardDone(batchId: string, shard: number): Promise<number>;
  shards(batchId: string, shardCount: number): Promise<TallyShard[]>;
  /** IN_PROGRESS or CANCELLING -> `status` with its exact counts and results; undefined if it had finished already. */
  finish(batchId: string, outcome: { status: 'COMPLETED' | 'CANCELLED'; counts: BatchCounts; resultsKey: string }, now: Date): Promise<Batch | undefined>;
  markEventPublished(batchId: string, now: Date): Promise<void>;
}

/** A batch's objects: its validated lines and its results file (results bucket, `batches/`), and JSONL inputs. */
export interface BatchFiles {
  putRequests(batchId: string, lines: BatchLine[]): Promise<string>;
  getRequests(key: string): Promise<BatchLine[]>;
  /** An input object's text; INPUT_NOT_READABLE when missing or larger than `maxBytes`. */
  readInput(bucket: string, key: string, maxBytes: number): Promise<string>;
  putResults(batchId: string, jsonl: string): Promise<string>;
}

/** Counts a batch job's start and end in its batch's tally (lambda/core/batch-tally.ts). */
export interface BatchTally {
  started(job: Job): Promise<void>;
  ended(job: Job): Promise<void>;
}

/** Where an asynchronous invocation stands (GetAsyncInvoke). */
export interface AsyncInvocationStatus {
  status: 'InProgress' | 'Completed' | 'Failed';
  failureMessage?: string;
}

/** Bedrock's asynchronous API (StartAsyncInvoke, GetAsyncInvoke) in a region. */
export interface AsyncModelInvoker {
  /** The invocation's ARN; the same token answers the invocation it started. */
  start(request: { modelId: string; modelInput: Record<string, unknown>; outputUri: string; clientRequestToken: string }, region: string): Promise<string>;
  get(invocationArn: string, region: string): Promise<AsyncInvocationStatus>;
}

/** The objects under an S3 folder URI (an async invocation's output). */
export interface AsyncOutputLister {
  list(uri: string): Promise<{ key: string; bytes: number }[]>;
}
