import * as z from 'zod/mini';
import { batchJobId } from './batch';
import { ValidationError } from './errors';
import { batchLineOf, JOB_STATUSES, type Job, type JobStatus } from './job';
import { requestIssues } from './request-issues';

/*
 * GET /jobs: a tenant's jobs, newest first, a page at a time. The query string is checked strictly (each bad or
 * unknown parameter named); the page token is opaque to the caller and names the last job of the page it followed,
 * with the tenant it was issued to: a token of another tenant, or one that does not parse, is a 400 (the listing's
 * query is keyed by the caller's own tenant in any case, so no token can reach another tenant's jobs).
 */

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Where a page ends: the last job it held (or examined, when a filter skipped the rest). */
export interface ListCursor {
  createdAt: string;
  jobId: string;
}

export interface JobListQuery {
  limit: number;
  status?: JobStatus;
  after?: ListCursor;
  /** A batch's jobs instead, in input order from line `fromSeq`. */
  batch?: { batchId: string; fromSeq: number };
}

/** The query of GET /jobs. */
export const jobListQuerySchema = z.strictObject({
  limit: z.optional(z.string().check(z.regex(/^\d{1,3}$/, `a whole number from 1 to ${MAX_PAGE_SIZE}`))),
  status: z.optional(z.enum(JOB_STATUSES)),
  nextToken: z.optional(z.string().check(z.maxLength(1024))),
  batchId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9-]{1,64}$/, 'a batch id'))),
});

const tokenSchema = z.union([
  z.strictObject({
    v: z.literal(1),
    t: z.string(),
    c: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)),
    j: z.string().check(z.regex(/^[A-Za-z0-9-]{1,64}$/)),
  }),
  z.strictObject({ v: z.literal(1), t: z.string(), b: z.string(), s: z.number().check(z.int(), z.gte(0)) }),
]);

/** The token of a batch listing's next page: the batch and the line it starts at. */
export function encodeBatchCursor(tenant: string, batchId: string, fromSeq: number): string {
  return Buffer.from(JSON.stringify({ v: 1, t: tenant, b: batchId, s: fromSeq }), 'utf8').toString('base64url');
}

export function encodeCursor(tenant: string, cursor: ListCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, t: tenant, c: cursor.createdAt, j: cursor.jobId }), 'utf8').toString('base64url');
}

function decodeCursor(token: string, tenant: string, batchId: string | undefined): { after: ListCursor } | { fromSeq: number } {
  const invalid = () => new ValidationError('The nextToken is not one this API issued to you.', [{ path: 'nextToken', message: 'give the nextToken of the previous page, as it was, with the same batchId' }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const result = tokenSchema.safeParse(parsed);
  if (!result.success || result.data.t !== tenant) throw invalid();
  const data = result.data;
  if ('b' in data) {
    if (data.b !== batchId) throw invalid();
    return { fromSeq: data.s };
  }
  if (batchId !== undefined) throw invalid();
  return { after: { createdAt: data.c, jobId: data.j } };
}

/** The listing a query string asks for, or the 400 that names each bad parameter. */
export function parseListQuery(parameters: Record<string, string | undefined> | null | undefined, tenant: string): JobListQuery {
  const result = jobListQuerySchema.safeParse(Object.fromEntries(Object.entries(parameters ?? {}).filter(([, v]) => v !== undefined)));
  if (!result.success) throw new ValidationError('The query string is invalid.', requestIssues(result.error));
  const { limit, status, nextToken, batchId } = result.data;
  const size = limit === undefined ? DEFAULT_PAGE_SIZE : Number(limit);
  if (size < 1 || size > MAX_PAGE_SIZE) throw new ValidationError('The query string is invalid.', [{ path: 'limit', message: `a whole number from 1 to ${MAX_PAGE_SIZE}` }]);
  const position = nextToken === undefined ? undefined : decodeCursor(nextToken, tenant, batchId);
  return {
    limit: size,
    ...(status && { status }),
    ...(position && 'after' in position && { after: position.after }),
    ...(batchId !== undefined && { batch: { batchId, fromSeq: position && 'fromSeq' in position ? position.fromSeq : 0 } }),
  };
}

/** One job of a listing: its state, not its result (GET /jobs/{jobId} has that). */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  route: string;
  modelId: string;
  metadata: Record<string, unknown>;
  batchId?: string;
  customId?: string;
  error?: { code: string };
}

export function jobSummary(job: Job): JobSummary {
  return {
    jobId: job.jobId,
    status: job.status,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    route: job.route,
    modelId: job.result?.modelId ?? job.modelId,
    metadata: job.metadata ?? {},
    ...batchLineOf(job),
    ...(job.error && { error: { code: job.error.code } }),
  };
}

/** Windows of lines a filtered batch listing reads at most before it answers a shorter page (with a token). */
const MAX_BATCH_WINDOWS = 5;

/**
 * A page of a batch's jobs, in input order from `fromSeq`: the ids are derived from the lines (lambda/core/batch.ts),
 * so a page is one BatchGetItem, with no index. Lines not fanned out yet have no job and are not listed.
 */
export async function listBatchJobs(
  batch: { batchId: string; total: number },
  query: { limit: number; status?: JobStatus; fromSeq: number },
  getMany: (jobIds: string[]) => Promise<Map<string, Job>>,
): Promise<{ jobs: Job[]; nextSeq?: number }> {
  const jobs: Job[] = [];
  let seq = query.fromSeq;
  for (let window = 0; window < MAX_BATCH_WINDOWS && seq < batch.total; window++) {
    const ids = Array.from({ length: Math.min(query.limit, batch.total - seq) }, (_, i) => batchJobId(batch.batchId, seq + i));
    const found = await getMany(ids);
    for (const id of ids) {
      seq++;
      const job = found.get(id);
      if (!job || (query.status && job.status !== query.status)) continue;
      jobs.push(job);
      if (jobs.length === query.limit) return { jobs, ...(seq < batch.total && { nextSeq: seq }) };
    }
  }
  return { jobs, ...(seq < batch.total && { nextSeq: seq }) };
}
