import * as z from 'zod/mini';
import { ValidationError } from './errors';
import { JOB_STATUSES, type Job, type JobStatus } from './job';
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
}

const querySchema = z.strictObject({
  limit: z.optional(z.string().check(z.regex(/^\d{1,3}$/, `a whole number from 1 to ${MAX_PAGE_SIZE}`))),
  status: z.optional(z.enum(JOB_STATUSES)),
  nextToken: z.optional(z.string().check(z.maxLength(1024))),
});

const tokenSchema = z.strictObject({
  v: z.literal(1),
  t: z.string(),
  c: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)),
  j: z.string().check(z.regex(/^[A-Za-z0-9-]{1,64}$/)),
});

export function encodeCursor(tenant: string, cursor: ListCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, t: tenant, c: cursor.createdAt, j: cursor.jobId }), 'utf8').toString('base64url');
}

function decodeCursor(token: string, tenant: string): ListCursor {
  const invalid = () => new ValidationError('The nextToken is not one this API issued to you.', [{ path: 'nextToken', message: 'give the nextToken of the previous page, as it was' }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const result = tokenSchema.safeParse(parsed);
  if (!result.success || result.data.t !== tenant) throw invalid();
  return { createdAt: result.data.c, jobId: result.data.j };
}

/** The listing a query string asks for, or the 400 that names each bad parameter. */
export function parseListQuery(parameters: Record<string, string | undefined> | null | undefined, tenant: string): JobListQuery {
  const result = querySchema.safeParse(Object.fromEntries(Object.entries(parameters ?? {}).filter(([, v]) => v !== undefined)));
  if (!result.success) throw new ValidationError('The query string is invalid.', requestIssues(result.error));
  const { limit, status, nextToken } = result.data;
  const size = limit === undefined ? DEFAULT_PAGE_SIZE : Number(limit);
  if (size < 1 || size > MAX_PAGE_SIZE) throw new ValidationError('The query string is invalid.', [{ path: 'limit', message: `a whole number from 1 to ${MAX_PAGE_SIZE}` }]);
  return { limit: size, ...(status && { status }), ...(nextToken !== undefined && { after: decodeCursor(nextToken, tenant) }) };
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
    ...(job.error && { error: { code: job.error.code } }),
  };
}
