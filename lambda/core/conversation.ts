import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { QuarryError, ValidationError } from './errors';
import { isTerminal, type Job, type Usage } from './job';
import { attachmentsOf, buildConverseFieldSchemas, contentBlocks, converseIssues, estimateMessageTokens, type ContentBlock, type ConverseMessage, type RequestPolicy } from './converse-fields';
import { requestIssues, type RequestIssue } from './request-issues';
import { routeFor } from './routing';
import type { RoutingTable } from './settings';
import type { Tenant } from './tenants';

/*
 * Conversations: a history kept per tenant, one item per conversation. A turn is answered as a job (the default),
 * synchronously or streamed, always with the whole history trimmed to the model's context window (oldest turns first,
 * the system prompt kept). One turn is in flight at a time: it is claimed with a conditional write and recorded
 * (the user's message and the answer together) when it is answered. A job's turn is recorded lazily, by the next
 * request that reads the conversation after the job finished, so the worker knows nothing of conversations.
 * Pure decisions here; lambda/aws/conversation-store.ts stores them.
 */

export interface ConversationMessage {
  role: 'user' | 'assistant';
  /** As posted (text, or content blocks), or as answered (text, or blocks when the answer calls tools). */
  content: string | ContentBlock[];
  turn: number;
  usage?: Usage;
  jobId?: string;
}

/** The turn in flight: its user message until it is answered; a job's id once it was submitted. */
export interface PendingTurn {
  turn: number;
  content: string | ContentBlock[];
  mode: TurnMode;
  /** Epoch ms: a synchronous turn older than its lease was abandoned by a crashed function, and is cleared. */
  since: number;
  jobId?: string;
}

export interface Conversation {
  conversationId: string;
  tenant: string;
  route?: string;
  system?: string;
  metadata?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** Epoch seconds (DynamoDB TTL); reads treat an expired conversation as absent. */
  expiresAt: number;
  /** Turns recorded so far. */
  turns: number;
  messages: ConversationMessage[];
  pending?: PendingTurn;
}

export const TURN_MODES = ['job', 'sync', 'stream'] as const;
export type TurnMode = (typeof TURN_MODES)[number];

function buildSchemas() {
  const converse = buildConverseFieldSchemas();
  const { text } = converse;
  const name = z.string().check(z.regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes'));
  const metadata = z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'Invalid input: expected object');
  return {
    create: z.strictObject({ route: z.optional(name), system: z.optional(text), metadata: z.optional(metadata) }),
    turn: z.strictObject({
      content: converse.content,
      mode: z.optional(z.enum(TURN_MODES)),
      ...converse.fields,
    }),
  };
}
let schemas: ReturnType<typeof buildSchemas> | undefined;
/** The bodies of POST /conversations (`create`) and POST /conversations/{id}/messages (`turn`), for the API's document too. */
export const conversationRequestSchemas = () => (schemas ??= buildSchemas());

export type NewConversation = z.infer<ReturnType<typeof buildSchemas>['create']>;
export type TurnRequest = z.infer<ReturnType<typeof buildSchemas>['turn']>;

/** A conversation as POST /conversations starts it; its route must exist (422 UNKNOWN_ROUTE otherwise). */
export function newConversation(body: unknown, tenant: Tenant, routing: RoutingTable, now: Date, ttlDays: number): Conversation {
  const parsed = (schemas ??= buildSchemas()).create.safeParse(body ?? {});
  if (!parsed.success) throw new ValidationError('The conversation is invalid.', requestIssues(parsed.error));
  const { route, system, metadata } = parsed.data;
  if (route !== undefined) routeFor({ route }, routing);
  if (route !== undefined && tenant.routes && !tenant.routes.includes(route)) throw new QuarryError('ROUTE_NOT_IN_PLAN', `Route "${route}" is not in your plan.`, 403, [{ path: 'route', message: 'not in your plan' }]);
  return {
    conversationId: randomUUID(),
    tenant: tenant.name,
    ...(route !== undefined && { route }),
    ...(system !== undefined && { system }),
    ...(metadata !== undefined && { metadata }),
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    expiresAt: Math.floor(now.getTime() / 1000) + ttlDays * 86_400,
    turns: 0,
    messages: [],
  };
}

export function parseTurn(body: unknown): TurnRequest & { mode: TurnMode } {
  const parsed = (schemas ??= buildSchemas()).turn.safeParse(body);
  if (!parsed.success) throw new ValidationError('The turn is invalid.', requestIssues(parsed.error));
  return { ...parsed.data, mode: parsed.data.mode ?? 'job' };
}

/**
 * What a turn's content must satisfy given the conversation so far, each issue naming a field of the turn: tool
 * results answering the last answer's tool calls (with a `toolConfig`), attachments as for a job, and those by S3
 * location only: the history is kept in one item, which inline bytes would soon fill.
 */
export function turnIssues(turn: TurnRequest, history: ConversationMessage[], context: { tenant: string; policy: RequestPolicy }): RequestIssue[] {
  const user: ConverseMessage = { role: 'user', content: contentBlocks(turn.content) };
  const last = history.at(-1);
  const before: ConverseMessage[] = last?.role === 'assistant' ? [{ role: 'assistant', content: contentBlocks(last.content) }] : [];
  const issues = converseIssues([...before, user], turn, { ...context, messagesPath: 'messages' }).map((issue) => ({
    ...issue,
    path: issue.path.replace(new RegExp(`^messages\\.${before.length}\\.content`), 'content').replace(/^messages$/, 'content'),
  }));
  user.content.forEach((block, j) => {
    for (const { attachment, path, kind } of attachmentsOf(block, `content.${j}`)) {
      if ('bytes' in attachment.source) issues.push({ path: `${path}.source.bytes`, message: `a conversation keeps its history: give the ${kind} as an s3Location in the inputs bucket (POST /inputs)` });
    }
  });
  return issues;
}

export class ConversationNotFoundError extends QuarryError {
  constructor(conversationId: string) {
    super('CONVERSATION_NOT_FOUND', `No conversation with id ${conversationId}.`, 404);
  }
}

export class TurnInProgressError extends QuarryError {
  constructor(pending: Pick<PendingTurn, 'turn' | 'jobId'>) {
    const job = pending.jobId ? ` (job ${pending.jobId})` : '';
    super('TURN_IN_PROGRESS', `Turn ${pending.turn}${job} of this conversation is still being answered; post the next one once it is.`, 409, undefined, 1);
  }
}

/** What to do with a turn found in flight before a new one starts (or before the history is read). */
export type PendingResolution =
  | { kind: 'none' }
  /** Still being answered: a new turn is refused. */
  | { kind: 'busy' }
  /** Its job finished: record it (the user message and, if the job succeeded, the answer) and go on. */
  | { kind: 'record'; messages: ConversationMessage[] }
  /** Nothing will answer it any more (a crashed synchronous turn, or a job that is gone): clear it and go on. */
  | { kind: 'clear' };

/**
 * A pending turn's fate: a job's is read from the job (`job` is its current state, undefined if it is gone); a
 * synchronous one is busy while younger than `leaseMs`. A failed or cancelled job's turn is recorded with its user
 * message only, so the history keeps what was asked (the job keeps its error).
 */
export function resolvePending(pending: PendingTurn | undefined, job: Job | undefined, now: number, leaseMs: number): PendingResolution {
  if (!pending) return { kind: 'none' };
  const user: ConversationMessage = { role: 'user', content: pending.content, turn: pending.turn, ...(pending.jobId && { jobId: pending.jobId }) };
  if (pending.jobId) {
    if (!job) return now - pending.since > leaseMs ? { kind: 'clear' } : { kind: 'busy' };
    if (!isTerminal(job.status)) return { kind: 'busy' };
    if (job.status !== 'SUCCEEDED' || job.result?.text === undefined) return { kind: 'record', messages: [user] };
    return { kind: 'record', messages: [user, { role: 'assistant', content: job.result.content ?? job.result.text, turn: pending.turn, usage: job.result.usage, jobId: pending.jobId }] };
  }
  return now - pending.since > leaseMs ? { kind: 'clear' } : { kind: 'busy' };
}

/**
 * The messages a turn sends: the history with the new user message, alternating roles, trimmed oldest turns first
 * until what remains (with the system prompt) fits the model's context window less the output it may produce. The
 * newest user message is always sent, even alone (the model then says if it is too long).
 */
export function turnMessages(history: ConversationMessage[], content: string | ContentBlock[], overheadTokens: number, contextWindow: number | undefined, maxOutputTokens: number): ConverseMessage[] {
  // Alternation: a user message left without an answer (a failed job's) is merged into the next user message.
  const messages: ConverseMessage[] = [];
  for (const m of [...history, { role: 'user' as const, content }]) {
    const last = messages.at(-1);
    if (last && last.role === m.role) last.content = [...last.content, ...contentBlocks(m.content)];
    else messages.push({ role: m.role, content: [...contentBlocks(m.content)] });
  }
  if (contextWindow === undefined) return messages;
  const budget = contextWindow - maxOutputTokens - overheadTokens;
  let total = messages.reduce((n, m) => n + estimateMessageTokens(m), 0);
  const answersTools = (m: ConverseMessage | undefined) => m?.content.some((b) => 'toolResult' in b) ?? false;
  // Drop whole turns (a user message and its answer) from the oldest, keeping the first message a user one, and
  // never one that answers tool calls whose request was dropped.
  while ((total > budget || answersTools(messages[0])) && messages.length > 1) {
    const dropped = messages.splice(0, 2);
    total -= dropped.reduce((n, m) => n + estimateMessageTokens(m), 0);
  }
  return messages;
}

/** The GET /conversations/{id} body. */
export function conversationView(conversation: Conversation) {
  return {
    conversationId: conversation.conversationId,
    ...(conversation.route !== undefined && { route: conversation.route }),
    ...(conversation.system !== undefined && { system: conversation.system }),
    metadata: conversation.metadata ?? {},
    createdAt: conversation.createdAt,
    updatedAt: conversation.updatedAt,
    messages: conversation.messages,
    ...(conversation.pending && { pendingTurn: { turn: conversation.pending.turn, ...(conversation.pending.jobId && { jobId: conversation.pending.jobId }) } }),
  };
}
