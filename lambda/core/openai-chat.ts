import * as z from 'zod/mini';
import { QuarryError, ValidationError } from './errors';
import type { InvokeAnswer } from './invocation';
import type { Usage } from './job';
import { requestIssues, type RequestIssue } from './request-issues';
import type { RoutingTable } from './settings';

/*
 * POST /chat/completions, OpenAI-compatible: the body the official `openai` client sends, mapped onto a Quarry
 * request (then validated, routed and answered like POST /invoke), and the answer mapped back to a
 * `chat.completion` or, streamed, to `chat.completion.chunk` events ending with `data: [DONE]`. Pure: no I/O.
 */

/** Fields that would change the answer and that this endpoint does not serve: refused by name rather than ignored. */
const UNSUPPORTED_FIELDS = ['tools', 'tool_choice', 'functions', 'function_call', 'response_format', 'logprobs', 'top_logprobs', 'audio', 'modalities', 'prediction', 'web_search_options'] as const;

function buildChatSchema() {
  const textPart = z.object({ type: z.literal('text'), text: z.string() });
  const content = z.union([z.string(), z.array(textPart)]);
  const message = z.object({
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z.optional(z.nullable(content)),
    name: z.optional(z.string()),
  });
  const optional = <T extends z.ZodMiniType>(schema: T) => z.optional(z.nullable(schema));
  // Other fields the client may send (frequency_penalty, presence_penalty, seed, user, store, metadata, ...) are
  // ignored: Bedrock's Converse has no equivalent, and they do not change what a caller may rely on.
  return z.object({
    model: z.string().check(z.minLength(1)),
    messages: z.array(message).check(z.minLength(1)),
    max_tokens: optional(z.number().check(z.int(), z.gte(1))),
    max_completion_tokens: optional(z.number().check(z.int(), z.gte(1))),
    temperature: optional(z.number().check(z.gte(0), z.lte(1))),
    top_p: optional(z.number().check(z.gte(0), z.lte(1))),
    stop: optional(z.union([z.string(), z.array(z.string())])),
    n: optional(z.literal(1)),
    stream: optional(z.boolean()),
    stream_options: optional(z.object({ include_usage: z.optional(z.boolean()) })),
  });
}

let chatSchema: ReturnType<typeof buildChatSchema> | undefined;
/** The body of POST /chat/completions, for the API's document too. */
export const chatRequestSchema = () => (chatSchema ??= buildChatSchema());
export type ChatRequest = z.infer<ReturnType<typeof buildChatSchema>>;

/** A parsed chat request, its Quarry body, and how the body's fields map back to the chat request's. */
export interface MappedChat {
  chat: ChatRequest;
  body: Record<string, unknown>;
  /** Quarry `messages.<i>` -> the chat request's index of the (first) message it came from. */
  messageIndex: number[];
  /** The chat request's index of its first system (or developer) message, if any. */
  systemIndex?: number;
}

/** Validates a chat request and maps it onto a Quarry request body: a 400 names the chat request's own fields. */
export function mapChatRequest(raw: unknown, routing: RoutingTable): MappedChat {
  const parsed = (chatSchema ??= buildChatSchema()).safeParse(raw);
  const unsupported = raw !== null && typeof raw === 'object' ? UNSUPPORTED_FIELDS.filter((field) => (raw as Record<string, unknown>)[field] != null) : [];
  const issues: RequestIssue[] = [
    ...(parsed.success ? [] : requestIssues(parsed.error)),
    ...unsupported.map((field) => ({ path: field, message: 'is not supported by this endpoint' })),
  ];
  if (!parsed.success || issues.length > 0) throw new ValidationError('The chat completion request is invalid.', issues);
  const chat = parsed.data;

  const system: string[] = [];
  let systemIndex: number | undefined;
  const messages: { role: 'user' | 'assistant'; content: { text: string }[] }[] = [];
  const messageIndex: number[] = [];
  chat.messages.forEach((m, i) => {
    const texts = m.content == null ? [] : typeof m.content === 'string' ? [m.content] : m.content.map((part) => part.text);
    const blocks = texts.filter((t) => t.length > 0).map((text) => ({ text }));
    if (m.role === 'system' || m.role === 'developer') {
      systemIndex ??= i;
      system.push(...texts);
      return;
    }
    if (blocks.length === 0) return;
    // Converse wants roles to alternate: consecutive messages of one role are one turn.
    const last = messages.at(-1);
    if (last && last.role === m.role) last.content.push(...blocks);
    else {
      messages.push({ role: m.role, content: blocks });
      messageIndex.push(i);
    }
  });

  const maxTokens = chat.max_completion_tokens ?? chat.max_tokens;
  const inferenceConfig = {
    ...(maxTokens != null && { maxTokens }),
    ...(chat.temperature != null && { temperature: chat.temperature }),
    ...(chat.top_p != null && { topP: chat.top_p }),
    ...(chat.stop != null && { stopSequences: typeof chat.stop === 'string' ? [chat.stop] : chat.stop }),
  };
  const body = {
    ...modelChoice(chat.model, routing),
    ...(messages.length > 0 ? { messages } : { messages: [] }),
    ...(system.length > 0 && { system: system.join('\n\n') }),
    ...(Object.keys(inferenceConfig).length > 0 && { inferenceConfig }),
  };
  return { chat, body, messageIndex, ...(systemIndex !== undefined && { systemIndex }) };
}

/** `model` names a route, a configured model's key, or a configured model id. */
function modelChoice(model: string, routing: RoutingTable): { route: string } | { modelId: string } {
  if (routing.routes[model]) return { route: model };
  const byKey = Object.entries(routing.models).find(([, info]) => info.key === model)?.[0];
  if (byKey) return { modelId: byKey };
  const known = new Set([...Object.keys(routing.models), ...Object.values(routing.routes).flatMap((r) => [r.modelId, ...r.fallback])]);
  if (known.has(model)) return { modelId: model };
  const choices = [...Object.keys(routing.routes), ...Object.values(routing.models).flatMap((info) => (info.key ? [info.key] : []))];
  throw new QuarryError('MODEL_NOT_ALLOWED', `Model "${model}" is not a route, model key or model id of this deployment.`, 422, [
    { path: 'model', message: `is not a configured route or model; use one of: ${choices.join(', ')}` },
  ]);
}

/** A Quarry error about the mapped body, re-pointed at the chat request's fields. */
export function chatError(error: unknown, mapped: MappedChat): unknown {
  if (!(error instanceof QuarryError) || !error.details) return error;
  const details = error.details.map((issue) => ({ ...issue, path: chatPath(issue.path, mapped) }));
  return new QuarryError(error.code, error.message, error.httpStatus, details, error.retryAfterSeconds);
}

function chatPath(path: string, mapped: MappedChat): string {
  const message = /^messages\.(\d+)(.*)$/.exec(path);
  if (message) {
    const original = mapped.messageIndex[Number(message[1])];
    return original === undefined ? 'messages' : `messages.${original}${message[2].replace(/^\.content(\.\d+)?(\.text)?$/, '.content')}`;
  }
  if (path === 'messages') return 'messages';
  if (path === 'system') return mapped.systemIndex !== undefined ? `messages.${mapped.systemIndex}.content` : 'messages';
  if (path === 'route' || path === 'modelId') return 'model';
  if (path === 'inferenceConfig.maxTokens') return mapped.chat.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  if (path === 'inferenceConfig.topP') return 'top_p';
  if (path.startsWith('inferenceConfig.stopSequences')) return `stop${path.slice('inferenceConfig.stopSequences'.length)}`;
  if (path === 'inferenceConfig.temperature') return 'temperature';
  return path;
}

/** OpenAI's finish_reason for a Bedrock stop reason. */
export function finishReason(stopReason: string): 'stop' | 'length' | 'tool_calls' | 'content_filter' {
  if (stopReason === 'max_tokens' || stopReason === 'model_context_window_exceeded') return 'length';
  if (stopReason === 'tool_use') return 'tool_calls';
  if (stopReason === 'guardrail_intervened' || stopReason === 'content_filtered') return 'content_filter';
  return 'stop';
}

const usageOf = (usage: Usage) => ({ prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens });

/** The non-streamed answer: a `chat.completion`. */
export function chatCompletion(answer: InvokeAnswer, id: string, created: number) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: answer.modelId,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: answer.text, refusal: null }, logprobs: null, finish_reason: finishReason(answer.stopReason) }],
    usage: usageOf(answer.usage),
  };
}

/** The events of a streamed answer, each one `chat.completion.chunk`. */
export function chatChunks(id: string, created: number) {
  const chunk = (model: string, choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'chat.completion.chunk' as const, created, model, choices, ...extra });
  return {
    role: (model: string) => chunk(model, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
    text: (model: string, content: string) => chunk(model, [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }]),
    finish: (answer: InvokeAnswer) => chunk(answer.modelId, [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason(answer.stopReason) }]),
    usage: (answer: InvokeAnswer) => chunk(answer.modelId, [], { usage: usageOf(answer.usage) }),
  };
}
