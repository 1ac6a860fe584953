import { BedrockError } from './errors';
import type { Completion, Prompt } from './generator';
import type { StreamPart } from './families/native-family';

interface ConverseBody {
  messages?: unknown;
  system?: unknown;
  inferenceConfig?: { maxTokens?: unknown };
}

const validation = (message: string) => new BedrockError('ValidationException', message);
const constraint = (value: unknown, field: string, rule: string) =>
  validation(`1 validation error detected: Value ${value === undefined ? 'null' : `'${String(value)}'`} at '${field}' failed to satisfy constraint: ${rule}`);

function blocksText(blocks: unknown): string {
  if (!Array.isArray(blocks)) return '';
  return blocks
    .map((block) => (block && typeof block === 'object' && typeof (block as { text?: unknown }).text === 'string' ? (block as { text: string }).text : ''))
    .join('\n');
}

/** Converse / ConverseStream request body: the same for every model family. */
export function parseConverseRequest(body: unknown): Prompt {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw validation('The request body must be a JSON object.');
  const { messages, system, inferenceConfig } = body as ConverseBody;
  if (messages === undefined || messages === null) throw constraint(undefined, 'messages', 'Member must not be null');
  if (!Array.isArray(messages)) throw validation("Value at 'messages' must be a list.");
  const roles = messages.map((m) => (m && typeof m === 'object' ? (m as { role?: unknown }).role : undefined));
  roles.forEach((role, i) => {
    if (role !== 'user' && role !== 'assistant') {
      throw constraint(role, `messages.${i + 1}.member.role`, 'Member must satisfy enum value set: [user, assistant]');
    }
    if (!Array.isArray((messages[i] as { content?: unknown }).content)) {
      throw constraint(undefined, `messages.${i + 1}.member.content`, 'Member must not be null');
    }
  });
  if (roles[0] !== 'user') {
    throw validation('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
  }
  if (roles.some((role, i) => i > 0 && role === roles[i - 1])) {
    throw validation(
      'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.',
    );
  }
  const maxTokens = inferenceConfig?.maxTokens;
  if (maxTokens !== undefined && !(typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens >= 1)) {
    throw constraint(maxTokens, 'inferenceConfig.maxTokens', 'Member must have value greater than or equal to 1');
  }
  const contents = messages.map((m) => blocksText((m as { content: unknown }).content));
  const lastUser = roles.lastIndexOf('user');
  return {
    text: [blocksText(system), ...contents].filter(Boolean).join('\n'),
    lastUserText: contents[lastUser],
    maxTokens: maxTokens as number | undefined,
  };
}

const stopReason = (completion: Completion) => (completion.truncated ? 'max_tokens' : 'end_turn');

function usage(completion: Completion) {
  return {
    inputTokens: completion.inputTokens,
    outputTokens: completion.outputTokens,
    totalTokens: completion.inputTokens + completion.outputTokens,
  };
}

export function converseResponse(completion: Completion, latencyMs: number) {
  return {
    output: { message: { role: 'assistant', content: [{ text: completion.text }] } },
    stopReason: stopReason(completion),
    usage: usage(completion),
    metrics: { latencyMs },
  };
}

export function converseStreamParts(completion: Completion): StreamPart[] {
  const event = (eventType: string, payload: StreamPart['payload']): StreamPart => ({ eventType, tokens: 0, payload });
  return [
    event('messageStart', () => ({ role: 'assistant' })),
    ...completion.deltas.map(
      (text): StreamPart => ({ eventType: 'contentBlockDelta', tokens: 1, payload: () => ({ delta: { text }, contentBlockIndex: 0 }) }),
    ),
    event('contentBlockStop', () => ({ contentBlockIndex: 0 })),
    event('messageStop', () => ({ stopReason: stopReason(completion) })),
    event('metadata', (timing) => ({ usage: usage(completion), metrics: { latencyMs: timing.invocationLatency } })),
  ];
}
