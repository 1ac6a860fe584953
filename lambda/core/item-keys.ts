/**
 * The item kinds that share the jobs table (single-table design), by partition-key prefix. Adapters build keys
 * with these functions and the stack's IAM grants limit each function to the prefixes it uses
 * (`dynamodb:LeadingKeys`), so the two can never drift apart.
 */
export const ITEM_KINDS = { job: 'JOB#', input: 'INPUT#', cache: 'CACHE#', breaker: 'BREAKER#', bucket: 'BUCKET#', conversation: 'CONV#', batch: 'BATCH#', tally: 'TALLY#' } as const;
export type ItemKind = keyof typeof ITEM_KINDS;

export const jobKey = (jobId: string) => ({ pk: `${ITEM_KINDS.job}${jobId}` });
/** A job's request, written once at submit apart from its state, so state transitions never rewrite the prompt. */
export const inputKey = (jobId: string) => ({ pk: `${ITEM_KINDS.input}${jobId}` });
export const cacheKey = (hash: string) => ({ pk: `${ITEM_KINDS.cache}${hash}` });
export const breakerKey = (target: { modelId: string; region: string }) => ({ pk: `${ITEM_KINDS.breaker}${target.region}#${target.modelId}` });
/** A conversation: its history and the turn in flight (lambda/core/conversation.ts). */
export const conversationKey = (conversationId: string) => ({ pk: `${ITEM_KINDS.conversation}${conversationId}` });
/** A batch (lambda/core/batch.ts), and one shard of its tally. */
export const batchKey = (batchId: string) => ({ pk: `${ITEM_KINDS.batch}${batchId}` });
export const tallyKey = (batchId: string, shard: number) => ({ pk: `${ITEM_KINDS.tally}${batchId}#${shard}` });
export const bucketKey = (target: { modelId: string; region: string }) => ({ pk: `${ITEM_KINDS.bucket}${target.region}#${target.modelId}` });

/**
 * The sparse index of jobs that still owe something (a model answer, a terminal write or an event): an item is in
 * it while it has `sweepAt` (epoch ms when the sweep should look at it if nothing else has moved it by then).
 * `sweepShard` spreads the index over {@link SWEEP_SHARDS} partitions so no index partition runs hot.
 */
export const SWEEP_INDEX = { name: 'BySweepTime', partitionKey: 'sweepShard', sortKey: 'sweepAt' } as const;

/**
 * A tenant's jobs, newest first (GET /jobs): sparse, keyed by `tenantJobs` (the tenant's name, set on job items
 * only) and `createdAt`, keys only. Both are written once, at creation, so a job's state changes write nothing here.
 */
export const TENANT_INDEX = { name: 'ByTenant', partitionKey: 'tenantJobs', sortKey: 'createdAt' } as const;
export const SWEEP_SHARDS = 8;

/** The shard of a job in the sweep index: stable per job id. */
export function sweepShardOf(jobId: string): string {
  let h = 0;
  for (let i = 0; i < jobId.length; i++) h = (h * 31 + jobId.charCodeAt(i)) >>> 0;
  return `S${h % SWEEP_SHARDS}`;
}
