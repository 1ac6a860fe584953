import { batchView, countsOf, isBatchFinished, shardCountOf, type Batch } from './batch';
import { BatchNotCancellableError, BatchNotFoundError } from './errors';
import type { BatchQueue, BatchStore, Clock, JobLog } from './ports';

/*
 * GET /batches/{batchId} and DELETE /batches/{batchId}: a batch's state from its item and its tally (a handful of
 * items, however many jobs), and a cancel that is recorded at once and walked off the request path.
 */

const ID = /^[A-Za-z0-9-]{1,64}$/;

export interface BatchControlDeps {
  batches: Pick<BatchStore, 'get' | 'shards' | 'requestCancel'>;
  queue: BatchQueue;
  /** A presigned GET of a finished batch's results file. */
  resultsUrl: (key: string) => Promise<string>;
  clock: Clock;
  log: JobLog;
}

async function batchOf(batchId: string, tenant: string, deps: Pick<BatchControlDeps, 'batches' | 'clock'>): Promise<Batch> {
  const batch = ID.test(batchId) ? await deps.batches.get(batchId, deps.clock()) : undefined;
  // Another tenant's batch answers exactly like an unknown one.
  if (!batch || batch.tenant !== tenant) throw new BatchNotFoundError(batchId);
  return batch;
}

export async function viewBatch(batch: Batch, deps: Pick<BatchControlDeps, 'batches' | 'resultsUrl'>) {
  if (isBatchFinished(batch.status) && batch.counts && batch.resultsKey) return batchView(batch, batch.counts, await deps.resultsUrl(batch.resultsKey));
  return batchView(batch, countsOf(batch.total, await deps.batches.shards(batch.batchId, shardCountOf(batch.total))));
}

export async function describeBatch(batchId: string, tenant: string, deps: BatchControlDeps) {
  return viewBatch(await batchOf(batchId, tenant, deps), deps);
}

/** IN_PROGRESS -> CANCELLING, and the walk that cancels every line not started (sent again on a repeated DELETE). */
export async function cancelBatch(batchId: string, tenant: string, deps: BatchControlDeps) {
  let batch = await batchOf(batchId, tenant, deps);
  if (batch.status === 'IN_PROGRESS') batch = (await deps.batches.requestCancel(batchId, deps.clock())) ?? (await batchOf(batchId, tenant, deps));
  if (isBatchFinished(batch.status)) throw new BatchNotCancellableError(batchId, batch.status);
  await deps.queue.send({ kind: 'cancel', batchId });
  deps.log.info('batch cancel requested', { batchId, tenant });
  return viewBatch(batch, deps);
}
