import { createHash } from 'node:crypto';
import { z } from 'zod';

const text = z.string().min(1).max(200_000);

export const contentBlockSchema = z.object({ text }).strict().describe('A text content block, as in the Converse API');

export const messageSchema = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.union([text, z.array(contentBlockSchema).min(1).max(100)]),
  })
  .strict();

export const inferenceConfigSchema = z
  .object({
    maxTokens: z.number().int().min(1).max(200_000).optional(),
    temperature: z.number().min(0).max(1).optional(),
    topP: z.number().min(0).max(1).optional(),
    stopSequences: z.array(z.string().min(1).max(100)).max(4).optional(),
  })
  .strict();

const name = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes');

/** The body of POST /jobs: the HTTP contract (ARCHITECTURE.md), also the source of the API Gateway request model. */
export const jobRequestSchema = z
  .object({
    prompt: text.optional(),
    messages: z.array(messageSchema).min(1).max(200).optional(),
    system: text.optional(),
    route: name.optional(),
    modelId: z.string().min(1).max(2048).optional(),
    inferenceConfig: inferenceConfigSchema.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
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

export interface RequestIssue {
  path: string;
  message: string;
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
