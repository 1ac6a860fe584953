import { isShardDone, shardOf, tallyFieldOf } from './batch';
import { isTerminal, type Job } from './job';
import type { BatchStore, BatchTally } from './ports';

/*
 * How a batch job's start and end reach its batch's tally (lambda/core/batch.ts): each is an idempotent set
 * addition, so the at-least-once paths that carry them (a claim, an announcement) may repeat them freely. The end
 * that completes a shard marks it done (a set addition on the batch too); the batch runner finishes the batch once
 * every shard is done (lambda/core/batch-runner.ts), so a job's end costs no message and needs no batch queue.
 */
export function batchTally(store: Pick<BatchStore, 'tally' | 'markShardDone'>): BatchTally {
  const lineOf = (job: Job) => (job.batchId !== undefined && job.batchSeq !== undefined && job.batchTotal !== undefined ? { batchId: job.batchId, seq: job.batchSeq, total: job.batchTotal } : undefined);
  return {
    async started(job) {
      const line = lineOf(job);
      if (line) await store.tally(line.batchId, shardOf(line.seq), 'started', [line.seq]);
    },
    async ended(job) {
      const line = lineOf(job);
      if (!line || !isTerminal(job.status)) return;
      const shard = await store.tally(line.batchId, shardOf(line.seq), tallyFieldOf(job.status), [line.seq]);
      if (!isShardDone(shard, line.total)) return;
      await store.markShardDone(line.batchId, shard.shard);
    },
  };
}
