import { documentClient } from '../aws/clients';
import { BatchRepository } from '../aws/batch-store';
import { batchTally } from '../core/batch-tally';
import type { BatchTally } from '../core/ports';
import { tracer } from './observability';

/** What the functions that end jobs need to count batch jobs in their batches (the batch items share the jobs table). */
export function batchTallyFor(table: string): BatchTally {
  return batchTally(new BatchRepository(tracer.captureAWSv3Client(documentClient()), table));
}
