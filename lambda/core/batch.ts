import { derivedUuid } from './idempotency';
import { expiryFor, isTerminal, type Job, type JobStatus, type RunnableJob, type TerminalStatus } from './job';
import type { NormalizedJobRequest } from './job-request';
import { finishReason } from './openai-chat';

/*
 * A batch: up to MAX_BATCH_REQUESTS requests accepted in one call, fanned out into jobs off the request path.
 * Pure: ids, the tally's arithmetic, the jobs a batch's lines become, what its results file says.
 *
 * Line `seq` (0-based, in input order) becomes job `batchJobId(batchId, seq)`: the id is derived, so a fan-out
 * that crashes and runs again lands on the same jobs (conditional creates), never on a second set.
 *
 * Counting without reading every job, exactly once under redeliveries: the tally keeps, per shard of
 * TALLY_SHARD_SIZE lines, the *sets* of line numbers that started and that ended in each terminal status. Adding a
 * number to a set twice leaves it unchanged, so a repeated announcement cannot count a job twice; a shard whose
 * terminal sets hold all its lines is done, and the batch item keeps the set of done shards the same way. When that
 * set is complete, the batch's results are written (lambda/core/batch-runner.ts).
 */

export const MAX_BATCH_REQUESTS = 10_000;
/** Key prefix of batch objects (validated lines, results files) in the results bucket; S3 permissions stop at it. */
export const BATCHES_PREFIX = 'batches/';
/** Lines per tally item: small enough that an update of one costs one write unit (about 600 bytes when full). */
export const TALLY_SHARD_SIZE = 64;

export const BATCH_STATUSES = ['IN_PROGRESS', 'CANCELLING', 'COMPLETED', 'CANCELLED'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];
export const isBatchFinished = (status: BatchStatus) => status === 'COMPLETED' || status === 'CANCELLED';

/** `quarry`: lines `{customId, ...request}`; `openai`: lines of the OpenAI Batch API (`{custom_id, method, url, body}`). */
export type BatchFormat = 'quarry' | 'openai';

export interface BatchCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface Batch {
  batchId: string;
  tenant: string;
  status: BatchStatus;
  format: BatchFormat;
  total: number;
  createdAt: string;
  updatedAt: string;
  metadata?: Record<string, unknown>;
  /** Where the validated lines are (results bucket): what the fan-out reads. */
  requestsKey: string;
  /** Lines fanned out into jobs so far (the fan-out's cursor). */
  fannedOut: number;
  /** The fingerprint of the accepted body, for an Idempotency-Key replay. */
  requestHash: string;
  idempotencyKey?: string;
  /** Shards of the tally whose lines all ended (read from the item's set of done shards). */
  doneShards?: number;
  /** Set when the last job ended and the results file was written. */
  resultsKey?: string;
  counts?: BatchCounts;
  completedAt?: string;
  eventPublishedAt?: string;
  /** Epoch seconds (DynamoDB TTL), as the batch's jobs. */
  expiresAt: number;
}

/** One validated line, as the fan-out turns it into a job. */
export interface BatchLine {
  customId: string;
  route: string;
  modelId: string;
  modelNamed?: boolean;
  request: NormalizedJobRequest;
  requestHash: string;
  metadata?: Record<string, unknown>;
}

export const batchJobId = (batchId: string, seq: number) => derivedUuid('batch-job', batchId, String(seq));

export const shardOf = (seq: number) => Math.floor(seq / TALLY_SHARD_SIZE);
export const shardCountOf = (total: number) => Math.ceil(total / TALLY_SHARD_SIZE);
/** Lines in shard `shard` of a batch of `total`. */
export const shardLines = (shard: number, total: number) => Math.max(0, Math.min(TALLY_SHARD_SIZE, total - shard * TALLY_SHARD_SIZE));

export type TallyField = 'started' | 'succeeded' | 'failed' | 'cancelled';
export const TALLY_FIELDS: readonly TallyField[] = ['started', 'succeeded', 'failed', 'cancelled'];

export function tallyFieldOf(status: TerminalStatus): TallyField {
  return status === 'SUCCEEDED' ? 'succeeded' : status === 'FAILED' ? 'failed' : 'cancelled';
}

/** One shard of the tally: the line numbers in each set. */
export type TallyShard = { shard: number } & Record<TallyField, number[]>;

/** A shard is done when every one of its lines is in a terminal set. */
export function isShardDone(tally: TallyShard, total: number): boolean {
  const ended = new Set([...tally.succeeded, ...tally.failed, ...tally.cancelled]);
  return ended.size >= shardLines(tally.shard, total);
}

/** Counts by status from the tally: a line is terminal if in a terminal set, running if it started only, else queued. */
export function countsOf(total: number, shards: readonly TallyShard[]): BatchCounts {
  const ended = new Set<number>();
  const counts: BatchCounts = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  for (const shard of shards) {
    for (const field of ['succeeded', 'failed', 'cancelled'] as const) {
      for (const seq of shard[field]) {
        if (ended.has(seq)) continue;
        ended.add(seq);
        counts[field]++;
      }
    }
  }
  let started = 0;
  for (const shard of shards) for (const seq of new Set(shard.started)) if (!ended.has(seq)) started++;
  counts.running = started;
  counts.queued = Math.max(0, total - ended.size - started);
  return counts;
}

/** The job line `seq` of a batch becomes: the batch's tenant, its metadata beneath the line's own, the line's request. */
export function batchJob(batch: Pick<Batch, 'batchId' | 'tenant' | 'metadata' | 'total'>, line: BatchLine, seq: number, now: Date, timing: { ttlDays: number; deadlineSeconds: number }): RunnableJob {
  const metadata = batch.metadata || line.metadata ? { ...batch.metadata, ...line.metadata } : undefined;
  return {
    jobId: batchJobId(batch.batchId, seq),
    status: 'QUEUED',
    tenant: batch.tenant,
    route: line.route,
    modelId: line.modelId,
    ...(line.modelNamed && { modelNamed: true }),
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    request: line.request,
    requestHash: line.requestHash,
    ...(metadata && { metadata }),
    batchId: batch.batchId,
    customId: line.customId,
    batchSeq: seq,
    batchTotal: batch.total,
    deadlineSeconds: timing.deadlineSeconds,
    attempts: [],
    expiresAt: expiryFor(now, timing.ttlDays),
  };
}

/** The GET /batches/{id} body. */
export function batchView(batch: Batch, counts: BatchCounts, resultsUrl?: string) {
  return {
    batchId: batch.batchId,
    status: batch.status,
    total: batch.total,
    counts,
    createdAt: batch.createdAt,
    updatedAt: batch.updatedAt,
    ...(batch.completedAt && { completedAt: batch.completedAt }),
    ...(resultsUrl && { resultsUrl }),
    metadata: batch.metadata ?? {},
  };
}

/** A line of the results file for line `seq`: its job's outcome, in the batch's own format. */
export function resultLine(format: BatchFormat, batchId: string, seq: number, customId: string, job: Job | undefined, text: string | undefined): Record<string, unknown> {
  const jobId = batchJobId(batchId, seq);
  const status: JobStatus = job?.status ?? 'CANCELLED';
  if (format === 'openai') {
    const answered = job?.status === 'SUCCEEDED' && job.result;
    return {
      id: `batch_req_${jobId}`,
      custom_id: customId,
      response: answered
        ? {
            status_code: 200,
            request_id: jobId,
            body: {
              id: `chatcmpl-${jobId}`,
              object: 'chat.completion',
              created: Math.floor(Date.parse(job.updatedAt) / 1000),
              model: job.result!.modelId,
              choices: [{ index: 0, message: { role: 'assistant', content: text ?? '', refusal: null }, logprobs: null, finish_reason: finishReason(job.result!.stopReason) }],
              usage: { prompt_tokens: job.result!.usage.inputTokens, completion_tokens: job.result!.usage.outputTokens, total_tokens: job.result!.usage.inputTokens + job.result!.usage.outputTokens },
            },
          }
        : null,
      error: answered ? null : { code: job?.error?.code ?? status, message: job?.error?.message ?? `The request was ${status.toLowerCase()}.` },
    };
  }
  return {
    customId,
    jobId,
    status,
    ...(job?.status === 'SUCCEEDED' && job.result && { result: { ...job.result, ...(text !== undefined && { text }) } }),
    ...(job?.error && { error: job.error }),
  };
}

/** Exact counts of a finished batch, from its jobs (a line that never became a job was cancelled before it did). */
export function countsOfJobs(jobs: readonly (Job | undefined)[]): BatchCounts {
  const counts: BatchCounts = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  for (const job of jobs) {
    const status = job?.status ?? 'CANCELLED';
    if (status === 'QUEUED') counts.queued++;
    else if (status === 'RUNNING') counts.running++;
    else counts[tallyFieldOf(status) as 'succeeded' | 'failed' | 'cancelled']++;
  }
  return counts;
}

export const allEnded = (jobs: readonly (Job | undefined)[]) => jobs.every((job) => !job || isTerminal(job.status));

export interface BatchEvent {
  eventId: string;
  type: 'batch.completed';
  batchId: string;
  status: BatchStatus;
  tenant: string;
  total: number;
  counts: BatchCounts;
  resultsLocation?: { bucket: string; key: string };
  metadata?: Record<string, unknown>;
  occurredAt: string;
}

export const batchEventIdOf = (batchId: string) => derivedUuid('batch-event', batchId);
