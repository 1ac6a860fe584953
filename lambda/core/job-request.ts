import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ValidationError } from './errors';
import { isWellFormedText, jsonObjectIssues, requestIssues, storableNumberProblem, type JsonObjectLimits, type RequestIssue } from './request-issues';

export type { RequestIssue } from './request-issues';

/** Characters per text field (prompt, system, each message or text block). */
export const MAX_TEXT_CHARS = 200_000;
/** Messages per request. */
export const MAX_MESSAGES = 200;
/** Content blocks per message. */
export const MAX_CONTENT_BLOCKS = 100;
/** What `metadata` may hold: small, JSON-safe, and storable in the job's DynamoDB item as given. */
export const METADATA_LIMITS: JsonObjectLimits = { maxBytes: 2048, maxDepth: 5, maxKeys: 32, maxKeyLength: 128 };

const text = z.string().min(1).max(MAX_TEXT_CHARS).refine(isWellFormedText, 'contains an unpaired UTF-16 surrogate');

/** A number the job's DynamoDB item can hold as given. */
const storable = (schema: z.ZodNumber) =>
  schema.superRefine((value, ctx) => {
    const problem = storableNumberProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const contentBlockSchema = z.object({ text }).strict().describe('A text content block, as in the Converse API');

export const messageSchema = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.union([text, z.array(contentBlockSchema).min(1).max(MAX_CONTENT_BLOCKS)]),
  })
  .strict();

export const inferenceConfigSchema = z
  .object({
    maxTokens: z.number().int().min(1).max(200_000).optional(),
    temperature: storable(z.number().min(0).max(1)).optional(),
    topP: storable(z.number().min(0).max(1)).optional(),
    stopSequences: z.array(z.string().min(1).max(100)).max(4).optional(),
  })
  .strict();

/** Free-form JSON the job keeps and echoes in its view and events: an object within METADATA_LIMITS. */
export const metadataSchema = z
  // A custom type, not z.record: the record would copy the object and silently drop a "__proto__" key.
  .custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value), 'Invalid input: expected object')
  .superRefine((value, ctx) => {
    for (const issue of jsonObjectIssues(value, METADATA_LIMITS)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  })
  .describe(
    `Free-form JSON object kept with the job: at most ${METADATA_LIMITS.maxBytes} bytes as JSON, ${METADATA_LIMITS.maxDepth} levels, ` +
      `${METADATA_LIMITS.maxKeys} keys per object, keys of 1-${METADATA_LIMITS.maxKeyLength} characters, numbers DynamoDB stores exactly`,
  );

const name = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes');

/** The body of POST /jobs: the HTTP contract (ARCHITECTURE.md) and its one validator; the API Gateway model only documents it. */
export const jobRequestSchema = z
  .object({
    prompt: text.optional(),
    messages: z.array(messageSchema).min(1).max(MAX_MESSAGES).optional(),
    system: text.optional(),
    route: name.optional(),
    modelId: z.string().min(1).max(2048).optional(),
    inferenceConfig: inferenceConfigSchema.optional(),
    metadata: metadataSchema.optional(),
  })
  .strict();

export type JobRequest = z.infer<typeof jobRequestSchema>;

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: { text: string }[];
}

/** What the worker needs to call a model: the request in one shape, whatever form the client used. */
export interface NormalizedJobRequest {
  messages: ConversationMessage[];
  system?: string;
  inferenceConfig?: z.infer<typeof inferenceConfigSchema>;
}

/** Rules the schema cannot express; each names the field it is about. */
export function conversationIssues(request: JobRequest): RequestIssue[] {
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
  return issues;
}

/**
 * The job request in a body, or a 400 VALIDATION_ERROR whose details name every offending field: the schema's
 * issues, then the rules it cannot express.
 */
export function parseJobRequest(body: unknown): JobRequest {
  const parsed = jobRequestSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError('The job request is invalid.', requestIssues(parsed.error));
  const extra = conversationIssues(parsed.data);
  if (extra.length > 0) throw new ValidationError('The job request is invalid.', extra);
  return parsed.data;
}

export function normalizeJobRequest(request: JobRequest): NormalizedJobRequest {
  const messages: ConversationMessage[] = request.messages
    ? request.messages.map((m) => ({ role: m.role, content: typeof m.content === 'string' ? [{ text: m.content }] : m.content }))
    : [{ role: 'user', content: [{ text: request.prompt as string }] }];
  return {
    messages,
    ...(request.system !== undefined && { system: request.system }),
    ...(request.inferenceConfig !== undefined && { inferenceConfig: request.inferenceConfig }),
  };
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
