import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { ValidationError } from './errors';
import './schema-config';
import {
  buildConverseFieldSchemas,
  contentBlocks,
  CONVERSE_OPTION_KEYS,
  converseIssues,
  jsonObject,
  type ConverseMessage,
  type ConverseOptions,
  type RequestPolicy,
} from './converse-fields';
import { requestIssues, type JsonObjectLimits, type RequestIssue } from './request-issues';

export type { RequestIssue } from './request-issues';

export { MAX_CONTENT_BLOCKS, MAX_TEXT_CHARS } from './converse-fields';
/** Messages per request. */
export const MAX_MESSAGES = 200;
/** What `metadata` may hold: small, JSON-safe, and storable in the job's DynamoDB item as given. */
export const METADATA_LIMITS: JsonObjectLimits = { maxBytes: 2048, maxDepth: 5, maxKeys: 32, maxKeyLength: 128 };
/**
 * An async model's `modelInput` (its own request body, e.g. Nova Reel's taskType and parameters): JSON-safe and
 * storable with the job (a reference image travels as base64 in it, so it may be a few hundred KB).
 */
export const MODEL_INPUT_LIMITS: JsonObjectLimits = { maxBytes: 300_000, maxDepth: 10, maxKeys: 100, maxKeyLength: 128 };

/**
 * The schema of POST /jobs, built on its first use: building zod schemas is a cold start's cost, and only the
 * submit function parses requests.
 */
function buildJobRequestSchema() {
  const converse = buildConverseFieldSchemas();
  const { text } = converse;
  const message = z.strictObject({ role: z.enum(['user', 'assistant']), content: converse.content });

  /** Free-form JSON the job keeps and echoes in its view and events: an object within METADATA_LIMITS. */
  const metadata = jsonObject(
    METADATA_LIMITS,
    `Free-form JSON object kept with the job: at most ${METADATA_LIMITS.maxBytes} bytes as JSON, ${METADATA_LIMITS.maxDepth} levels, ` +
      `${METADATA_LIMITS.maxKeys} keys per object, keys of 1-${METADATA_LIMITS.maxKeyLength} characters, numbers DynamoDB stores exactly`,
  );

  const name = z.string().check(z.regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes'));

  return z.strictObject({
    prompt: z.optional(text),
    messages: z.optional(z.array(message).check(z.minLength(1), z.maxLength(MAX_MESSAGES))),
    system: z.optional(text),
    route: z.optional(name),
    modelId: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
    ...converse.fields,
    /** For a model with `invocation: "async"` (StartAsyncInvoke): the model's own input, instead of prompt or messages. */
    modelInput: z.optional(
      jsonObject(MODEL_INPUT_LIMITS, `The model's own input for an async model (StartAsyncInvoke's modelInput), instead of prompt or messages: at most ${MODEL_INPUT_LIMITS.maxBytes} bytes as JSON`),
    ),
    metadata: z.optional(metadata),
  });
}

/** The body of POST /jobs: the HTTP contract (ARCHITECTURE.md) and its one validator; the API Gateway model only documents it. */
export const jobRequestSchema = z.lazy(buildJobRequestSchema);

export type JobRequest = z.infer<typeof jobRequestSchema>;

/** What the worker needs to call a model: the request in one shape (Converse's), whatever form the client used. */
export interface NormalizedJobRequest extends ConverseOptions {
  /** Empty for an async model's job, which has `modelInput` instead. */
  messages: ConverseMessage[];
  system?: string;
  /** An async model's own input (StartAsyncInvoke): the job is invoked asynchronously (lambda/core/async-invocation.ts). */
  modelInput?: Record<string, unknown>;
}

/** Where the request is checked: the tenant it is for (its part of the inputs bucket) and the stack's policy. */
export interface RequestContext {
  tenant: string;
  policy: RequestPolicy;
}

/** No inputs bucket, no guardrails: attachments by S3 location and guardrails are refused. */
export const CLOSED_POLICY: RequestPolicy = { guardrailIds: [] };

/** Rules the schema cannot express; each names the field it is about. */
export function conversationIssues(request: JobRequest, context: RequestContext = { tenant: '', policy: CLOSED_POLICY }): RequestIssue[] {
  if (request.modelInput !== undefined) return modelInputIssues(request);
  const issues: RequestIssue[] = [];
  if ((request.prompt === undefined) === (request.messages === undefined)) {
    issues.push({ path: 'prompt', message: 'give exactly one of "prompt" or "messages"' });
  }
  const messages = request.messages ?? [];
  messages.forEach((m, i) => {
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (m.role !== expected) issues.push({ path: `messages.${i}.role`, message: `roles must alternate starting with "user"; expected "${expected}"` });
  });
  if (messages.length > 0 && messages[messages.length - 1].role !== 'user') {
    issues.push({ path: `messages.${messages.length - 1}.role`, message: 'the last message must come from "user"' });
  }
  if (issues.length > 0) return issues;
  return converseIssues(normalizeJobRequest(request).messages, request, context);
}

/** An async model's request is its modelInput, for a named model: the conversation's fields have no place in it. */
function modelInputIssues(request: JobRequest): RequestIssue[] {
  const issues: RequestIssue[] = [];
  for (const key of ['prompt', 'messages', 'system', ...CONVERSE_OPTION_KEYS] as const) {
    if (request[key] !== undefined) issues.push({ path: key, message: 'not with "modelInput": an async model takes its own input only' });
  }
  if (request.modelId === undefined) issues.push({ path: 'modelId', message: 'required with "modelInput": name the async model (its key or id)' });
  return issues;
}

/**
 * The job request in a body, or a 400 VALIDATION_ERROR whose details name every offending field: the schema's
 * issues, then the rules it cannot express.
 */
export function parseJobRequest(body: unknown, context?: RequestContext): JobRequest {
  const parsed = jobRequestSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError('The job request is invalid.', requestIssues(parsed.error));
  const extra = conversationIssues(parsed.data, context);
  if (extra.length > 0) throw new ValidationError('The job request is invalid.', extra);
  return parsed.data;
}

export function normalizeJobRequest(request: JobRequest): NormalizedJobRequest {
  if (request.modelInput !== undefined) return { messages: [], modelInput: request.modelInput };
  const messages: ConverseMessage[] = request.messages
    ? request.messages.map((m) => ({ role: m.role, content: contentBlocks(m.content) }))
    : [{ role: 'user', content: [{ text: request.prompt as string }] }];
  const normalized: NormalizedJobRequest = { messages, ...(request.system !== undefined && { system: request.system }) };
  for (const key of CONVERSE_OPTION_KEYS) if (request[key] !== undefined) Object.assign(normalized, { [key]: request[key] });
  return normalized;
}

/** Canonical JSON (sorted keys), so two bodies that mean the same hash the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestFingerprint(request: JobRequest, route: string): string {
  return createHash('sha256').update(canonicalJson({ request, route })).digest('hex');
}
