import {
  ConversationNotFoundError,
  TurnInProgressError,
  newConversation,
  parseTurn,
  resolvePending,
  turnIssues,
  turnMessages,
  type Conversation,
  type PendingTurn,
  type TurnMode,
} from './conversation';
import { invokeNow, type InvocationDeps, type InvocationOptions, type InvokeAnswer } from './invocation';
import { submitJob, type SubmissionDeps } from './job-submission';
import type { ConversationStore, JobStore } from './ports';
import { routeFor } from './routing';
import type { Tenant } from './tenants';
import { estimateOverheadTokens } from './converse-fields';
import { ValidationError } from './errors';
import { CLOSED_POLICY } from './job-request';

/*
 * The conversation use cases of the HTTP API: create, read (recording a finished job's turn first), delete, and post a
 * turn as a job, synchronously or streamed. See lambda/core/conversation.ts for the model.
 */

export interface ConversationDeps {
  conversations: ConversationStore;
  /** Reads a job-mode turn's job (its answer, or that it failed). */
  jobs: Pick<JobStore, 'get'>;
  submission: SubmissionDeps;
  invocation: InvocationDeps;
  /** How long a synchronous turn may stay in flight before it is taken for abandoned (a crashed function). */
  turnLeaseMs: number;
  ttlDays: number;
}

export async function createConversation(body: unknown, tenant: Tenant, deps: ConversationDeps): Promise<Conversation> {
  const conversation = newConversation(body, tenant, deps.invocation.routing, deps.invocation.clock(), deps.ttlDays);
  await deps.conversations.create(conversation);
  return conversation;
}

/** The tenant's conversation, with a turn whose job has finished recorded first; another tenant's is not found. */
export async function readConversation(conversationId: string, tenant: Tenant, deps: ConversationDeps): Promise<Conversation> {
  const now = deps.invocation.clock();
  const conversation = await deps.conversations.get(conversationId, now);
  if (!conversation || conversation.tenant !== tenant.name) throw new ConversationNotFoundError(conversationId);
  const { pending } = conversation;
  if (!pending) return conversation;
  const job = pending.jobId ? await deps.jobs.get(pending.jobId, now) : undefined;
  const resolution = resolvePending(pending, job && job.tenant === tenant.name ? job : undefined, now.getTime(), deps.turnLeaseMs);
  if (resolution.kind === 'record') {
    if (await deps.conversations.record(conversationId, pending.turn, resolution.messages, now)) {
      return { ...conversation, messages: [...conversation.messages, ...resolution.messages], turns: pending.turn, pending: undefined };
    }
    // Another request recorded it meanwhile: read what it wrote.
    return readConversation(conversationId, tenant, deps);
  }
  if (resolution.kind === 'clear') {
    await deps.conversations.clear(conversationId, pending.turn);
    return { ...conversation, pending: undefined };
  }
  return conversation;
}

export async function deleteConversation(conversationId: string, tenant: Tenant, deps: ConversationDeps): Promise<void> {
  if (!(await deps.conversations.delete(conversationId, tenant.name))) throw new ConversationNotFoundError(conversationId);
}

export type TurnOutcome = { mode: 'job'; jobId: string; turn: number } | { mode: 'sync' | 'stream'; turn: number; answer: InvokeAnswer };

/**
 * Posts the next user message: claims the turn (409 TURN_IN_PROGRESS while another is in flight), sends the history
 * trimmed to the model's context window, and records the turn once answered (a job's, when it is next read). A turn
 * that fails synchronously is not recorded: the caller was told, and posts it again.
 */
export async function postTurn(conversationId: string, body: unknown, tenant: Tenant, invoke: Pick<InvocationOptions, 'remainingMillis' | 'seconds' | 'stream'>, deps: ConversationDeps): Promise<TurnOutcome> {
  const request = parseTurn(body);
  const conversation = await readConversation(conversationId, tenant, deps);
  if (conversation.pending) throw new TurnInProgressError(conversation.pending);
  const issues = turnIssues(request, conversation.messages, { tenant: tenant.name, policy: deps.invocation.requestPolicy ?? CLOSED_POLICY });
  if (issues.length > 0) throw new ValidationError('The turn is invalid.', issues);
  const now = deps.invocation.clock();
  const pending: PendingTurn = { turn: conversation.turns + 1, content: request.content, mode: request.mode, since: now.getTime() };
  if (!(await deps.conversations.claim(conversationId, conversation.turns, pending, now))) {
    throw new TurnInProgressError({ turn: pending.turn });
  }
  try {
    return await answerTurn(conversation, pending, request, tenant, invoke, deps);
  } catch (error) {
    await deps.conversations.clear(conversationId, pending.turn).catch(() => undefined);
    throw error;
  }
}

async function answerTurn(
  conversation: Conversation,
  pending: PendingTurn,
  request: ReturnType<typeof parseTurn>,
  tenant: Tenant,
  invoke: Pick<InvocationOptions, 'remainingMillis' | 'seconds' | 'stream'>,
  deps: ConversationDeps,
): Promise<TurnOutcome> {
  const { routing } = deps.invocation;
  const { route, modelId } = routeFor({ route: conversation.route }, routing);
  const model = routing.models[modelId];
  const maxOutputTokens = request.inferenceConfig?.maxTokens ?? model?.maxOutputTokens ?? 4096;
  const { content: _content, mode: _mode, ...options } = request;
  const body = {
    route,
    ...(conversation.system !== undefined && { system: conversation.system }),
    messages: turnMessages(conversation.messages, request.content, estimateOverheadTokens({ ...conversation, ...options }), model?.contextWindow, maxOutputTokens),
    ...options,
  };
  const mode: TurnMode = request.mode;
  if (mode === 'job') {
    const { job } = await submitJob({ body: { ...body, metadata: { conversationId: conversation.conversationId, turn: pending.turn } }, tenant }, deps.submission);
    await deps.conversations.setJob(conversation.conversationId, pending.turn, job.jobId);
    return { mode, jobId: job.jobId, turn: pending.turn };
  }
  const answer = await invokeNow(
    { body, tenant, invocationId: `${conversation.conversationId}:${pending.turn}` },
    { remainingMillis: invoke.remainingMillis, seconds: invoke.seconds, ...(mode === 'stream' && invoke.stream && { stream: invoke.stream }) },
    deps.invocation,
  );
  const now = deps.invocation.clock();
  await deps.conversations.record(
    conversation.conversationId,
    pending.turn,
    [
      { role: 'user', content: pending.content, turn: pending.turn },
      { role: 'assistant', content: answer.content ?? answer.text ?? '', turn: pending.turn, usage: answer.usage },
    ],
    now,
  );
  return { mode, turn: pending.turn, answer };
}
