import type { OutputBlock } from './converse-fields';
import type { NormalizedJobRequest } from './job-request';
import type { Routing } from './route-decision';

export const JOB_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export type TerminalStatus = Extract<JobStatus, 'SUCCEEDED' | 'FAILED' | 'CANCELLED'>;

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED';
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface Attempt {
  modelId: string;
  region?: string;
  /** `skipped`: not called, because its circuit was open or its context window too small. */
  outcome: 'succeeded' | 'failed' | 'skipped';
  errorCode?: string;
  /** The service tier the call asked for, when it asked for one. */
  serviceTier?: string;
  latencyMs: number;
  startedAt: string;
}

/** The model's answer. `text` is absent from the record when the result was offloaded to S3. */
export interface JobResult {
  text?: string;
  /** The answer's content blocks, when they hold more than text: the tool calls a `tool_use` stop asks the caller to answer. */
  content?: OutputBlock[];
  stopReason: string;
  usage: Usage;
  modelId: string;
  /** The service tier that served the answer (as Bedrock reports it), when the request asked for one. */
  serviceTier?: string;
  /** Bedrock's trace of the answer (a guardrail's assessment), when the request asked for it (`guardrailConfig.trace`). */
  trace?: Record<string, unknown>;
  /** `cache` when every model failed and a cached answer to the same request was served instead. */
  servedFrom?: 'model' | 'cache';
  /** A native body's answer, as the model gave it (synchronous invocations only; never stored). */
  nativeResponse?: unknown;
  /** What an asynchronous invocation wrote (a model with `invocation: "async"`). */
  output?: AsyncOutput;
}

/** An asynchronous invocation's output: its folder and the objects in it (`url`: a download link, added when read). */
export interface AsyncOutput {
  s3Uri: string;
  files: { key: string; bytes: number; url?: string }[];
}

/** The asynchronous invocation a job started (lambda/core/async-invocation.ts) and the poll it expects next. */
export interface AsyncInvocationState {
  invocationArn: string;
  startedAt: string;
  /** The folder given to Bedrock for the output. */
  outputUri: string;
  /** The number of the poll message the job waits for; only that message (or the last holder's) may claim it. */
  polls: number;
}

export interface ResultLocation {
  bucket: string;
  key: string;
  bytes: number;
}

export interface JobError {
  code: string;
  message: string;
}

/** Capacity a requeued job already holds in a model's bucket: it calls that model at `notBefore` without asking again. */
export interface Reservation {
  modelId: string;
  region: string;
  notBefore: number;
  requests: number;
  tokens: number;
}

/** Who holds a RUNNING job: one delivery of one queue message, until `expiresAt` (epoch ms). */
export interface Lease {
  owner: string;
  expiresAt: number;
  /** The SQS message the holder is working on; a later receive of the same message may take the lease over. */
  messageId?: string;
  receiveCount?: number;
}

/** The delivery asking for a job's lease. */
export interface Claimant {
  owner: string;
  messageId: string;
  receiveCount: number;
}

export interface Job {
  jobId: string;
  status: JobStatus;
  tenant: string;
  route: string;
  modelId: string;
  /** The request named the model on a content or metric route: the job goes to it, not where routing would send it. */
  modelNamed?: boolean;
  /** How routing chose the model (recorded with the terminal state). */
  routing?: Routing;
  createdAt: string;
  updatedAt: string;
  /** The request: stored apart from the state (`INPUT#` item, and in the queue message when small); absent on state reads. */
  request?: NormalizedJobRequest;
  requestHash: string;
  idempotencyKey?: string;
  metadata?: Record<string, unknown>;
  /** The batch the job is line `batchSeq` of, and the caller's id for that line (lambda/core/batch.ts). */
  batchId?: string;
  customId?: string;
  batchSeq?: number;
  /** Lines in the job's batch (how its tally knows when a shard is done). */
  batchTotal?: number;
  /** Seconds after `createdAt` by which the job ends, if not the deployment's `resilience.jobDeadlineSeconds` (a batch's or an async model's jobs). */
  deadlineSeconds?: number;
  /** Set once the job's asynchronous invocation is started: the job is RUNNING, held by no one, between polls. */
  asyncInvocation?: AsyncInvocationState;
  attempts: Attempt[];
  /** Times the job went back to the queue because no model could answer yet. */
  requeues?: number;
  reservation?: Reservation;
  lease?: Lease;
  result?: JobResult;
  resultLocation?: ResultLocation;
  error?: JobError;
  /** Set once the terminal event is on SNS; a terminal job without it still owes its event. */
  eventPublishedAt?: string;
  /** The queue message that held the job last (kept after the terminal write: its own redelivery may announce at once). */
  lastMessageId?: string;
  /** Epoch ms after which the sweep looks at the job if nothing moved it; absent once nothing is owed (lambda/core/job-lifecycle.ts). */
  sweepAt?: number;
  /** Times the sweep re-enqueued the job. */
  sweeps?: number;
  /** Times the job's message was dead-lettered and the job put back on the queue. */
  deadLetters?: number;
  /** Epoch seconds; DynamoDB TTL. Reads treat an expired record as absent (TTL deletion lags). */
  expiresAt: number;
}

/** A job with its request at hand: what the worker runs. */
export type RunnableJob = Job & { request: NormalizedJobRequest };

export function isExpired(job: Pick<Job, 'expiresAt'>, now: Date): boolean {
  return job.expiresAt * 1000 <= now.getTime();
}

export function expiryFor(now: Date, ttlDays: number): number {
  return Math.floor(now.getTime() / 1000) + ttlDays * 86_400;
}

/** Model calls a job has made so far (skipped candidates are not calls). */
export function modelCalls(job: Pick<Job, 'attempts'>): number {
  return job.attempts.filter((a) => a.outcome !== 'skipped').length;
}

export type JobView = Omit<
  Job,
  'request' | 'requestHash' | 'lease' | 'resultLocation' | 'eventPublishedAt' | 'expiresAt' | 'tenant' | 'idempotencyKey' | 'requeues' | 'reservation' | 'lastMessageId' | 'sweepAt' | 'sweeps' | 'deadLetters' | 'modelNamed' | 'batchSeq' | 'batchTotal' | 'deadlineSeconds' | 'asyncInvocation' | 'metadata'
> & {
  /** The job's metadata; `{}` when it has none. */
  metadata: Record<string, unknown>;
  resultUrl?: string;
  /** An async model's job once started: Bedrock's invocation (GetAsyncInvoke takes its ARN). */
  invocation?: { invocationArn: string; startedAt: string };
};

/** A batch job's batch and line id, as every outside view of the job shows them (nothing for another job). */
export function batchLineOf(job: Pick<Job, 'batchId' | 'customId'>): { batchId?: string; customId?: string } {
  return job.batchId === undefined ? {} : { batchId: job.batchId, ...(job.customId !== undefined && { customId: job.customId }) };
}

/** The GET /jobs/{jobId} body: the record minus internals, with a link for offloaded results. */
export function jobView(job: Job, resultUrl?: string): JobView {
  return {
    jobId: job.jobId,
    status: job.status,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    route: job.route,
    modelId: job.modelId,
    attempts: job.attempts,
    ...(job.routing && { routing: job.routing }),
    ...(job.asyncInvocation && { invocation: { invocationArn: job.asyncInvocation.invocationArn, startedAt: job.asyncInvocation.startedAt } }),
    ...(job.result && { result: job.result }),
    ...(resultUrl && { resultUrl }),
    ...(job.error && { error: job.error }),
    metadata: job.metadata ?? {},
    ...batchLineOf(job),
  };
}

/** The longest `Retry-After` advised: a poller still learns of an early finish within this long. */
export const MAX_POLL_AFTER_SECONDS = 300;

/**
 * Seconds a poller should wait before asking again, sized to what the job waits for; absent once it is terminal.
 * A job waiting for a reserved slot or a requeue is not worth asking about before then; a fresh one is picked up
 * within seconds; a running one is asked about at half the time it has run so far (so a 5 s answer costs about
 * three polls, a 2-minute one about seven).
 */
export function pollAfterSeconds(job: Pick<Job, 'status' | 'updatedAt' | 'reservation' | 'requeues' | 'sweepAt' | 'lease'>, now: Date, sweepGraceSeconds: number): number | undefined {
  if (isTerminal(job.status)) return undefined;
  const clamp = (seconds: number) => Math.max(1, Math.min(MAX_POLL_AFTER_SECONDS, Math.ceil(seconds)));
  const t = now.getTime();
  if (job.status === 'QUEUED') {
    if (job.reservation) return clamp((job.reservation.notBefore - t) / 1000);
    // A requeued job is due again at its sweep time less the grace the sweep allows it.
    if ((job.requeues ?? 0) > 0 && job.sweepAt !== undefined) return clamp((job.sweepAt - sweepGraceSeconds * 1000 - t) / 1000);
    return 2;
  }
  const running = (t - Date.parse(job.updatedAt)) / 1000;
  return Number.isFinite(running) ? clamp(running / 2) : 1;
}
