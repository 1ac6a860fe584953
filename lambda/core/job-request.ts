import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { ValidationError } from './errors';
import './schema-config';
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

/**
 * The schema of POST /jobs, built on its first use: building zod schemas is a cold start's cost, and only the
 * submit function parses requests.
 */
function buildJobRequestSchema() {
  const text = z.string().check(z.minLength(1), z.maxLength(MAX_TEXT_CHARS), z.refine(isWellFormedText, 'contains an unpaired UTF-16 surrogate'));

  /** A number the job's DynamoDB item can hold as given. */
  const storable = (schema: z.ZodMiniNumber) =>
    schema.check(
      z.superRefine((value: number, ctx) => {
        const problem = storableNumberProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    );
  const fraction = () => storable(z.number().check(z.gte(0), z.lte(1)));

  const contentBlock = z.strictObject({ text }).check(z.describe('A text content block, as in the Converse API'));

  const message = z.strictObject({
    role: z.enum(['user', 'assistant']),
    content: z.union([text, z.array(contentBlock).check(z.minLength(1), z.maxLength(MAX_CONTENT_BLOCKS))]),
  });

  const inferenceConfig = z.strictObject({
    maxTokens: z.optional(z.number().check(z.int(), z.gte(1), z.lte(200_000))),
    temperature: z.optional(fraction()),
    topP: z.optional(fraction()),
    stopSequences: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(100))).check(z.maxLength(4))),
  });

  /** Free-form JSON the job keeps and echoes in its view and events: an object within METADATA_LIMITS. */
  const metadata = z
    // A custom type, not z.record: the record would copy the object and silently drop a "__proto__" key.
    .custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value), 'Invalid input: expected object')
    .check(
      z.superRefine((value: Record<string, unknown>, ctx) => {
        for (const issue of jsonObjectIssues(value, METADATA_LIMITS)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      }),
      z.describe(
        `Free-form JSON object kept with the job: at most ${METADATA_LIMITS.maxBytes} bytes as JSON, ${METADATA_LIMITS.maxDepth} levels, ` +
          `${METADATA_LIMITS.maxKeys} keys per object, keys of 1-${METADATA_LIMITS.maxKeyLength} characters, numbers DynamoDB stores exactly`,
      ),
    );

  const name = z.string().check(z.regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes'));

  return z.strictObject({
    prompt: z.optional(text),
    messages: z.optional(z.array(message).check(z.minLength(1), z.maxLength(MAX_MESSAGES))),
    system: z.optional(text),
    route: z.optional(name),
    modelId: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
    inferenceConfig: z.optional(inferenceConfig),
    metadata: z.optional(metadata),
  });
}

/** The body of POST /jobs: the HTTP contract (ARCHITECTURE.md) and its one validator; the API Gateway model only documents it. */
export const jobRequestSchema = z.lazy(buildJobRequestSchema);

export type JobRequest = z.infer<typeof jobRequestSchema>;

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: { text: string }[];
}

/** What the worker needs to call a model: the request in one shape, whatever form the client used. */
export interface NormalizedJobRequest {
  messages: ConversationMessage[];
  system?: string;
  inferenceConfig?: JobRequest['inferenceConfig'];
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
