import { allEnded, batchJob, batchJobId, countsOfJobs, isBatchFinished, isShardDone, resultLine, shardCountOf, type Batch, type BatchEvent, type BatchLine, batchEventIdOf } from './batch';
import { requestTravelsInMessage } from './delivery';
import type { Job, RunnableJob } from './job';
import { deadlineOf, SUBMIT_RECORD_GRACE_MS, sweepAtFor } from './job-lifecycle';
import { announce } from './job-settlement';
import type { BatchFiles, BatchMessage, BatchQueue, BatchStore, BatchTally, Clock, JobLog, JobMessage, JobStore, TerminalEventPublisher } from './ports';
import type { ResiliencePolicy } from './settings';

/*
 * The batch queue's three kinds of work, each safe to run twice (its message is at least once):
 * - fan-out: the lines become jobs, a chunk at a time: the jobs are written first (conditional creates of derived
 *   ids: a chunk run again after a crash finds them and writes nothing twice), then their queue messages are sent,
 *   then the cursor moves. Each job carries `sweepAt` at its deadline, so even a job whose message was never sent
 *   (a fan-out that died for good) is failed by the sweep then and counted: no job is left behind.
 * - cancel: every line not yet started becomes CANCELLED: a queued job by its conditional transition, a line not
 *   fanned out yet by writing its job CANCELLED (so a fan-out that comes later finds it and sends nothing).
 * - complete: sent when the fan-out (or a cancel walk) is done and again, at growing intervals, until the tally says
 *   every line ended (the batch item's set of done shards is full: one read per look); then the results file is
 *   written from the jobs, in input order, the batch is finished with exact counts, and one batch.completed event is
 *   published.
 */

/** Lines written per step of the fan-out (and of the cancel walk). */
export const FAN_OUT_CHUNK = 100;
/** Concurrent writes within a chunk. */
const CONCURRENCY = 16;
/** A step is started only with this much of the invocation left; past it, a new message carries the work on. */
const STEP_MARGIN_MS = 20_000;

export interface BatchRunnerDeps {
  batches: BatchStore;
  files: Pick<BatchFiles, 'getRequests' | 'putResults'>;
  queue: BatchQueue;
  jobs: Pick<JobStore, 'create' | 'get' | 'getMany' | 'putRequest' | 'markCancelled' | 'markEventPublished'>;
  jobQueue: { enqueueMany(messages: JobMessage[]): Promise<void> };
  /** An offloaded result's text. */
  results: { text(job: Job): Promise<string | undefined> };
  events: TerminalEventPublisher & { publishBatch(event: BatchEvent): Promise<void> };
  tally: BatchTally;
  resultsBucket: string;
  jobTtlDays: number;
  /** Seconds a batch's job has to finish (config `batches.jobDeadlineSeconds`). */
  jobDeadlineSeconds: number;
  policy: ResiliencePolicy;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  log: JobLog;
}

export type BatchRunOutcome = 'done' | 'continued' | 'skipped';

/** The message's batch is not recorded yet (its acceptance may still be writing it): look again shortly. */
export class BatchNotReady extends Error {}

export async function runBatchMessage(message: BatchMessage, remainingMillis: () => number, deps: BatchRunnerDeps): Promise<BatchRunOutcome> {
  const batch = await deps.batches.get(message.batchId);
  if (!batch) {
    // The acceptance sends the message before it records the batch: wait for the record, then give up on it.
    const age = message.kind === 'fan-out' && message.createdAt ? deps.clock().getTime() - Date.parse(message.createdAt) : Infinity;
    if (age < SUBMIT_RECORD_GRACE_MS) throw new BatchNotReady(`batch ${message.batchId} not recorded yet`);
    deps.log.warn('batch message without a batch dropped', { batchId: message.batchId, kind: message.kind });
    return 'skipped';
  }
  switch (message.kind) {
    case 'fan-out':
      return fanOut(batch, remainingMillis, deps);
    case 'cancel':
      return cancelLines(batch, message.from ?? 0, remainingMillis, deps);
    case 'complete':
      return complete(batch, message.checks ?? 0, deps);
  }
}

async function fanOut(batch: Batch, remainingMillis: () => number, deps: BatchRunnerDeps): Promise<BatchRunOutcome> {
  if (batch.status !== 'IN_PROGRESS' || batch.fannedOut >= batch.total) return 'skipped';
  const lines = await deps.files.getRequests(batch.requestsKey);
  let from = batch.fannedOut;
  while (from < batch.total) {
    if (remainingMillis() < STEP_MARGIN_MS) {
      await deps.queue.send({ kind: 'fan-out', batchId: batch.batchId });
      return 'continued';
    }
    const to = Math.min(batch.total, from + FAN_OUT_CHUNK);
    await fanOutChunk(batch, lines, from, to, deps);
    if (!(await deps.batches.advanceFanOut(batch.batchId, from, to, deps.clock()))) {
      // Cancelled meanwhile (the cancel walk covers every line), or another delivery moved the cursor on.
      const now = await deps.batches.get(batch.batchId);
      if (!now || now.status !== 'IN_PROGRESS') return 'done';
      from = now.fannedOut;
      continue;
    }
    from = to;
  }
  deps.log.info('batch fanned out', { batchId: batch.batchId, total: batch.total });
  await deps.queue.send({ kind: 'complete', batchId: batch.batchId }, completionCheckDelaySeconds(0));
  return 'done';
}

async function fanOutChunk(batch: Batch, lines: BatchLine[], from: number, to: number, deps: BatchRunnerDeps): Promise<void> {
  const now = deps.clock();
  const jobs: RunnableJob[] = [];
  for (let seq = from; seq < to; seq++) {
    const job = batchJob(batch, lines[seq], seq, now, timingOf(deps));
    jobs.push({ ...job, sweepAt: sweepAtFor(deadlineOf(job, deps.policy), deps.policy) });
  }
  const toSend: RunnableJob[] = [];
  await eachLimited(jobs, async (job) => {
    if (!requestTravelsInMessage(job.request)) await deps.jobs.putRequest(job);
    const written = await deps.jobs.create(job, now);
    // Found: this chunk ran before and may have died before sending; a message for a job not yet claimed is
    // harmless if it is a second one (claims are conditional), and needed if it is the first.
    if (written.created || (written.existing.status === 'QUEUED' && written.existing.attempts.length === 0 && written.existing.lastMessageId === undefined)) toSend.push(job);
  });
  await deps.jobQueue.enqueueMany(
    toSend.map((job) => ({ jobId: job.jobId, tenant: job.tenant, requestHash: job.requestHash, createdAt: job.createdAt, ...(requestTravelsInMessage(job.request) && { request: job.request }) })),
  );
}

async function cancelLines(batch: Batch, from: number, remainingMillis: () => number, deps: BatchRunnerDeps): Promise<BatchRunOutcome> {
  if (batch.status !== 'CANCELLING') return 'skipped';
  const lines = await deps.files.getRequests(batch.requestsKey);
  for (let start = from; start < batch.total; start += FAN_OUT_CHUNK) {
    if (remainingMillis() < STEP_MARGIN_MS) {
      await deps.queue.send({ kind: 'cancel', batchId: batch.batchId, from: start });
      return 'continued';
    }
    const seqs = Array.from({ length: Math.min(FAN_OUT_CHUNK, batch.total - start) }, (_, i) => start + i);
    await eachLimited(seqs, (seq) => cancelLine(batch, lines[seq], seq, remainingMillis, deps));
  }
  deps.log.info('batch cancel walked', { batchId: batch.batchId, total: batch.total });
  await deps.queue.send({ kind: 'complete', batchId: batch.batchId }, completionCheckDelaySeconds(0));
  return 'done';
}

async function cancelLine(batch: Batch, line: BatchLine, seq: number, remainingMillis: () => number, deps: BatchRunnerDeps): Promise<void> {
  const now = deps.clock();
  const sweepAt = sweepAtFor(now.getTime(), deps.policy);
  let job = await deps.jobs.get(batchJobId(batch.batchId, seq), now);
  if (!job) {
    const tombstone: RunnableJob = { ...batchJob(batch, line, seq, now, timingOf(deps)), status: 'CANCELLED', sweepAt };
    const written = await deps.jobs.create(tombstone, now);
    job = written.created ? tombstone : written.existing;
  }
  if (job.status === 'QUEUED') job = (await deps.jobs.markCancelled(job.jobId, sweepAt, now)) ?? (await deps.jobs.get(job.jobId, now));
  // In the sweep index until its event is recorded: announced here, or by the sweep if this fails.
  if (job?.status === 'CANCELLED' && !job.eventPublishedAt) await announce(job, remainingMillis, { ...deps, store: deps.jobs, batches: deps.tally }, 'by-index');
}

/** Seconds before the next look at an unfinished batch: 1 s, growing by half each time, at most a minute. */
export function completionCheckDelaySeconds(checks: number): number {
  return Math.min(60, Math.ceil(1.5 ** checks));
}

async function complete(batch: Batch, checks: number, deps: BatchRunnerDeps): Promise<BatchRunOutcome> {
  let finished: Batch | undefined = isBatchFinished(batch.status) ? batch : undefined;
  const lookAgain = async (): Promise<BatchRunOutcome> => {
    await deps.queue.send({ kind: 'complete', batchId: batch.batchId, checks: checks + 1 }, completionCheckDelaySeconds(checks + 1));
    return 'continued';
  };
  if (!finished && (batch.doneShards ?? 0) < shardCountOf(batch.total)) return lookAgain();
  if (!finished) {
    const shards = await deps.batches.shards(batch.batchId, shardCountOf(batch.total));
    if (shards.length < shardCountOf(batch.total) || !shards.every((s) => isShardDone(s, batch.total))) return lookAgain();
    const lines = await deps.files.getRequests(batch.requestsKey);
    const ids = lines.map((_, seq) => batchJobId(batch.batchId, seq));
    const byId = await deps.jobs.getMany(ids, deps.clock());
    const jobs = ids.map((id) => byId.get(id));
    if (!allEnded(jobs)) {
      // The jobs are read eventually consistent: a job that just ended may read as running for a moment.
      deps.log.info('batch tally complete but a job reads as not ended; looking again', { batchId: batch.batchId });
      return lookAgain();
    }
    const out: string[] = [];
    for (const [seq, job] of jobs.entries()) {
      const text = job?.status === 'SUCCEEDED' ? (job.result?.text ?? (await deps.results.text(job))) : undefined;
      out.push(JSON.stringify(resultLine(batch.format, batch.batchId, seq, lines[seq].customId, job, text)));
    }
    const resultsKey = await deps.files.putResults(batch.batchId, `${out.join('\n')}\n`);
    const status = batch.status === 'CANCELLING' ? 'CANCELLED' : 'COMPLETED';
    finished = (await deps.batches.finish(batch.batchId, { status, counts: countsOfJobs(jobs), resultsKey }, deps.clock())) ?? (await deps.batches.get(batch.batchId));
    if (!finished) return 'skipped';
    deps.log.info('batch finished', { batchId: batch.batchId, status: finished.status, ...finished.counts });
  }
  if (!finished.eventPublishedAt) {
    await deps.events.publishBatch(batchEvent(finished, deps.resultsBucket, deps.clock()));
    await deps.batches.markEventPublished(finished.batchId, deps.clock());
  }
  return 'done';
}

export function batchEvent(batch: Batch, resultsBucket: string, now: Date): BatchEvent {
  return {
    eventId: batchEventIdOf(batch.batchId),
    type: 'batch.completed',
    batchId: batch.batchId,
    status: batch.status,
    tenant: batch.tenant,
    total: batch.total,
    counts: batch.counts ?? { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
    ...(batch.resultsKey && { resultsLocation: { bucket: resultsBucket, key: batch.resultsKey } }),
    ...(batch.metadata && { metadata: batch.metadata }),
    occurredAt: now.toISOString(),
  };
}

const timingOf = (deps: BatchRunnerDeps) => ({ ttlDays: deps.jobTtlDays, deadlineSeconds: deps.jobDeadlineSeconds });

/** Runs `work` on every item, at most CONCURRENCY at a time; the first error is thrown once all have settled. */
async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item).catch((error: unknown) => void errors.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, lane));
  if (errors.length > 0) throw errors[0];
}
