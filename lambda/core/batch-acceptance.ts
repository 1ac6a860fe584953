import { createHash, randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { MAX_BATCH_REQUESTS, type Batch, type BatchFormat, type BatchLine } from './batch';
import { inputsPrefix, jsonObject, parseS3Uri, type RequestPolicy } from './converse-fields';
import { EnqueueFailedError, IdempotencyConflictError, QuarryError, ValidationError } from './errors';
import { derivedUuid } from './idempotency';
import { expiryFor } from './job';
import { canonicalJson, METADATA_LIMITS, normalizeJobRequest, requestFingerprint } from './job-request';
import { acceptRequest } from './job-submission';
import { chatError, mapChatRequest } from './openai-chat';
import { requestIssues, type RequestIssue } from './request-issues';
import type { RoutingTable } from './settings';
import type { Tenant } from './tenants';
import type { BatchFiles, BatchQueue, BatchStore, Clock, JobLog } from './ports';

/*
 * POST /batches: validates every line (each exactly as POST /jobs would, on the batch's tenant and plan), keeps the
 * validated lines as one object, sends the fan-out its message and records the batch, in that order, in one call.
 * The jobs are created off the request path (lambda/core/batch-runner.ts). Nothing is kept when a line is bad: the
 * 400 lists the bad lines (up to MAX_REPORTED_ISSUES issues), each by its index (`requests.3.prompt`) or, for a
 * JSONL input, by its line number (`{line: 4, path: "prompt"}`).
 */

export const MAX_REPORTED_ISSUES = 100;
export const MAX_CUSTOM_ID_LENGTH = 256;

export interface BatchSubmission {
  body: unknown;
  tenant: Tenant;
  idempotencyKey?: string;
}

export interface BatchAcceptanceDeps {
  batches: Pick<BatchStore, 'create' | 'get'>;
  files: Pick<BatchFiles, 'putRequests' | 'readInput'>;
  queue: BatchQueue;
  routing: RoutingTable;
  requestPolicy: RequestPolicy;
  jobTtlDays: number;
  /** Largest JSONL input object read (bytes). */
  maxInputBytes: number;
  clock: Clock;
  log: JobLog;
}

const customIdSchema = z.string().check(z.minLength(1), z.maxLength(MAX_CUSTOM_ID_LENGTH));

function buildBodySchema() {
  return z.strictObject({
    requests: z.optional(z.array(z.unknown()).check(z.minLength(1), z.maxLength(MAX_BATCH_REQUESTS))),
    inputUri: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
    route: z.optional(z.string()),
    modelId: z.optional(z.string()),
    metadata: z.optional(jsonObject(METADATA_LIMITS, 'kept with the batch and merged beneath each job\'s own metadata')),
  });
}
let bodySchema: ReturnType<typeof buildBodySchema> | undefined;
/** The body of POST /batches (each of `requests` is a job request with its `customId`), for the API's document too. */
export const batchRequestSchema = () => (bodySchema ??= buildBodySchema());

const openAiLineSchema = z.strictObject({
  custom_id: customIdSchema,
  method: z.literal('POST'),
  url: z.enum(['/v1/chat/completions', '/chat/completions']),
  body: z.record(z.string(), z.unknown()),
});

type Defaults = { route?: string; modelId?: string };

export async function acceptBatch(submission: BatchSubmission, deps: BatchAcceptanceDeps): Promise<{ httpStatus: 200 | 202; batch: Batch }> {
  const parsed = (bodySchema ??= buildBodySchema()).safeParse(submission.body);
  if (!parsed.success) throw new ValidationError('The batch is invalid.', requestIssues(parsed.error));
  const { requests, inputUri, route, modelId, metadata } = parsed.data;
  if ((requests === undefined) === (inputUri === undefined)) throw new ValidationError('The batch is invalid.', [{ path: 'requests', message: 'give exactly one of "requests" or "inputUri"' }]);
  const tenant = submission.tenant;
  const { raws, issues } = requests ? { raws: requests.map((value, i) => ({ value, where: { path: `requests.${i}` } as Where })), issues: [] } : await readJsonl(inputUri!, tenant.name, deps);
  const { lines, format } = validateLines(raws, issues, { route, modelId }, tenant, deps);

  const now = deps.clock();
  const requestHash = createHash('sha256').update(canonicalJson({ lines, metadata: metadata ?? null })).digest('hex');
  const batchId = submission.idempotencyKey === undefined ? randomUUID() : derivedUuid('batch', tenant.name, submission.idempotencyKey);
  if (submission.idempotencyKey !== undefined) {
    const existing = await deps.batches.get(batchId);
    if (existing) return replayed(existing, requestHash);
  }
  let requestsKey: string;
  try {
    requestsKey = await deps.files.putRequests(batchId, lines);
    await deps.queue.send({ kind: 'fan-out', batchId, createdAt: now.toISOString() });
  } catch (error) {
    deps.log.error('batch could not be queued; nothing was recorded', { batchId, error: (error as Error).name });
    throw new EnqueueFailedError();
  }
  const batch: Batch = {
    batchId,
    tenant: tenant.name,
    status: 'IN_PROGRESS',
    format,
    total: lines.length,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...(metadata && { metadata }),
    requestsKey,
    fannedOut: 0,
    requestHash,
    ...(submission.idempotencyKey !== undefined && { idempotencyKey: submission.idempotencyKey }),
    expiresAt: expiryFor(now, deps.jobTtlDays),
  };
  const written = await deps.batches.create(batch);
  if (!written.created) return replayed(written.existing, requestHash);
  deps.log.info('batch accepted', { batchId, tenant: tenant.name, total: lines.length, format });
  return { httpStatus: 202, batch };
}

function replayed(existing: Batch, requestHash: string): { httpStatus: 200; batch: Batch } {
  if (existing.requestHash !== requestHash) throw new IdempotencyConflictError(existing.batchId, 'batch');
  return { httpStatus: 200, batch: existing };
}

type Where = { path: string } | { line: number };
const placeOf = (where: Where) => ('line' in where ? `line ${where.line}` : where.path);
const issueAt = (where: Where, issue: RequestIssue): RequestIssue =>
  'line' in where ? { line: where.line, path: issue.path, message: issue.message } : { path: issue.path === '(body)' ? where.path : `${where.path}.${issue.path}`, message: issue.message };

/** The lines of a JSONL object in the tenant's part of the inputs bucket (blank lines skipped, numbered from 1). */
async function readJsonl(uri: string, tenant: string, deps: BatchAcceptanceDeps): Promise<{ raws: { value: unknown; where: Where }[]; issues: RequestIssue[] }> {
  const location = parseS3Uri(uri);
  const bucket = deps.requestPolicy.inputsBucket;
  if (!location || !bucket || location.bucket !== bucket || !location.key.startsWith(inputsPrefix(tenant)) || location.key.split('/').includes('..')) {
    throw new ValidationError('The batch is invalid.', [{ path: 'inputUri', message: bucket ? `must be a JSONL object under s3://${bucket}/${inputsPrefix(tenant)}` : 'this deployment has no inputs bucket' }]);
  }
  const text = await deps.files.readInput(location.bucket, location.key, deps.maxInputBytes);
  const out: { value: unknown; where: Where }[] = [];
  const issues: RequestIssue[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      out.push({ value: JSON.parse(line), where: { line: i + 1 } });
    } catch {
      issues.push({ line: i + 1, path: '(line)', message: 'is not a JSON object' });
    }
  });
  if (out.length + issues.length === 0) throw new ValidationError('The batch input is empty.', [{ path: 'inputUri', message: 'the object holds no lines' }]);
  if (out.length + issues.length > MAX_BATCH_REQUESTS) throw new ValidationError('The batch input is too long.', [{ path: 'inputUri', message: `at most ${MAX_BATCH_REQUESTS} lines` }]);
  return { raws: out, issues };
}

/** Every line validated as its own POST /jobs; one format per batch, customIds unique. */
function validateLines(raws: { value: unknown; where: Where }[], unreadable: RequestIssue[], defaults: Defaults, tenant: Tenant, deps: Pick<BatchAcceptanceDeps, 'routing' | 'requestPolicy'>): { lines: BatchLine[]; format: BatchFormat } {
  const format: BatchFormat = isObject(raws[0]?.value) && 'custom_id' in raws[0].value ? 'openai' : 'quarry';
  const lines: BatchLine[] = [];
  const issues: RequestIssue[] = [];
  const seen = new Map<string, number>();
  for (const [i, { value, where }] of raws.entries()) {
    if (issues.length >= MAX_REPORTED_ISSUES) break;
    const result = format === 'openai' ? openAiLine(value, deps.routing, tenant, deps.requestPolicy) : quarryLine(value, defaults, tenant, deps.routing, deps.requestPolicy);
    if ('issues' in result) {
      issues.push(...result.issues.map((issue) => issueAt(where, issue)));
      continue;
    }
    const earlier = seen.get(result.line.customId);
    if (earlier !== undefined) {
      issues.push(issueAt(where, { path: format === 'openai' ? 'custom_id' : 'customId', message: `repeats the id of ${placeOf(raws[earlier].where)}` }));
      continue;
    }
    seen.set(result.line.customId, i);
    lines.push(result.line);
  }
  if (issues.length + unreadable.length > 0) {
    // In input order: the lines that did not parse among those that did not validate.
    const all = [...issues, ...unreadable].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ValidationError('The batch has invalid requests; nothing was accepted.', all.slice(0, MAX_REPORTED_ISSUES));
  }
  return { lines, format };
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function issuesOf(error: unknown): RequestIssue[] {
  if (error instanceof QuarryError) return error.details?.length ? error.details : [{ path: '(body)', message: error.message }];
  throw error;
}

function quarryLine(value: unknown, defaults: Defaults, tenant: Tenant, routing: RoutingTable, policy: RequestPolicy): { line: BatchLine } | { issues: RequestIssue[] } {
  if (!isObject(value)) return { issues: [{ path: '(body)', message: 'must be an object {customId, ...request}' }] };
  const { customId, ...body } = value;
  const id = customIdSchema.safeParse(customId);
  const issues: RequestIssue[] = id.success ? [] : [{ path: 'customId', message: customId === undefined ? 'is required' : `a string of 1-${MAX_CUSTOM_ID_LENGTH} characters` }];
  // The batch's route or model applies to a line that names neither.
  const withDefaults = body.route === undefined && body.modelId === undefined ? { ...defaults, ...body } : body;
  try {
    const accepted = acceptRequest({ body: withDefaults, tenant }, routing, policy);
    if (issues.length > 0) return { issues };
    return { line: lineOf(id.data as string, accepted) };
  } catch (error) {
    return { issues: [...issues, ...issuesOf(error)] };
  }
}

function openAiLine(value: unknown, routing: RoutingTable, tenant: Tenant, policy: RequestPolicy): { line: BatchLine } | { issues: RequestIssue[] } {
  const parsed = openAiLineSchema.safeParse(value);
  if (!parsed.success) return { issues: requestIssues(parsed.error) };
  const { custom_id: customId, body } = parsed.data;
  let mapped: ReturnType<typeof mapChatRequest> | undefined;
  try {
    mapped = mapChatRequest(body, routing);
    return { line: lineOf(customId, acceptRequest({ body: mapped.body, tenant }, routing, policy)) };
  } catch (error) {
    const pointed = mapped ? chatError(error, mapped) : error;
    return { issues: issuesOf(pointed).map((issue) => ({ ...issue, path: `body.${issue.path}` })) };
  }
}

function lineOf(customId: string, accepted: ReturnType<typeof acceptRequest>): BatchLine {
  const { request, route, modelId, modelNamed } = accepted;
  return {
    customId,
    route,
    modelId,
    ...(modelNamed && { modelNamed: true }),
    request: normalizeJobRequest(request),
    requestHash: requestFingerprint(request, route),
    ...(request.metadata !== undefined && { metadata: request.metadata }),
  };
}
