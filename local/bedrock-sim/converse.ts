import { CLASSIFIER_OPENING, simulatedTier } from './classifier-rule';
import { BedrockError } from './errors';
import { hashText } from './random';
import type { Completion, Prompt } from './generator';
import type { StreamPart } from './families/native-family';
import { checkToolTurns, exampleInput, readBlocks, readTools, toolIds } from './converse-content';

interface ConverseBody {
  messages?: unknown;
  system?: unknown;
  inferenceConfig?: { maxTokens?: unknown };
  toolConfig?: unknown;
  guardrailConfig?: unknown;
  additionalModelRequestFields?: unknown;
  serviceTier?: unknown;
}

const validation = (message: string) => new BedrockError('ValidationException', message);
const constraint = (value: unknown, field: string, rule: string) =>
  validation(`1 validation error detected: Value ${value === undefined ? 'null' : `'${String(value)}'`} at '${field}' failed to satisfy constraint: ${rule}`);

/** The directive in the last user message that makes a configured guardrail intervene. */
export const GUARDRAIL_DIRECTIVE = '[[sim:guardrail]]';
/** What a guardrail answers instead of the model (Bedrock's default blocked message). */
export const GUARDRAIL_MESSAGE = 'Sorry, the model cannot answer this question.';
const SERVICE_TIERS = ['default', 'priority', 'flex', 'reserved'];

/** A Converse request as the simulator answers it: the prompt, and the tool call or guardrail it leads to. */
export interface ConversePrompt extends Prompt {
  /** The tool the model calls (and the input it gives), instead of a final answer. */
  toolCall?: { name: string; input: Record<string, unknown> };
  guardrail?: { id: string; version: string; trace: boolean };
  serviceTier?: string;
  /** A classifier prompt (classifier-rule.ts): the request to classify. */
  classify?: string;
}

function systemText(blocks: unknown): string {
  if (!Array.isArray(blocks)) return '';
  return blocks
    .map((block) => (block && typeof block === 'object' && typeof (block as { text?: unknown }).text === 'string' ? (block as { text: string }).text : ''))
    .join('\n');
}

/** Converse / ConverseStream request body: the same for every model family. */
export function parseConverseRequest(body: unknown): ConversePrompt {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw validation('The request body must be a JSON object.');
  const { messages, system, inferenceConfig, toolConfig, guardrailConfig, additionalModelRequestFields, serviceTier } = body as ConverseBody;
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
  if (additionalModelRequestFields !== undefined && (additionalModelRequestFields === null || typeof additionalModelRequestFields !== 'object' || Array.isArray(additionalModelRequestFields))) {
    throw validation("Value at 'additionalModelRequestFields' must be a JSON object.");
  }
  // The model reads its own fields: a top_k it cannot use is refused, as Anthropic's models refuse it.
  const topK = (additionalModelRequestFields as { top_k?: unknown } | undefined)?.top_k;
  if (topK !== undefined && !(typeof topK === 'number' && Number.isInteger(topK) && topK >= 0)) {
    throw validation('The model returned the following errors: top_k: Input should be a valid integer greater than or equal to 0');
  }
  const tier = readServiceTier(serviceTier);
  const guardrail = readGuardrail(guardrailConfig);
  const tools = readTools(toolConfig);
  const list = messages as Array<{ role: 'user' | 'assistant'; content: unknown[] }>;
  checkToolTurns(list, tools !== undefined);
  const contents = list.map((m, i) => readBlocks(m.content, `messages.${i + 1}.member.content`));
  const lastUser = roles.lastIndexOf('user');
  const lastUserText = contents[lastUser].text;
  const answersTool = toolIds(list[lastUser].content, 'toolResult').length > 0;
  return {
    text: [systemText(system), tools ? JSON.stringify(toolConfig) : '', ...contents.map((c) => c.text)].filter(Boolean).join('\n'),
    extraInputTokens: contents.reduce((n, c) => n + c.extraTokens, 0),
    lastUserText,
    maxTokens: maxTokens as number | undefined,
    ...(tools && !answersTool && toolCallFor(tools, lastUserText)),
    ...(guardrail && { guardrail }),
    ...(tier && { serviceTier: tier }),
    ...(systemText(system).startsWith(CLASSIFIER_OPENING) && { classify: lastUserText }),
  };
}

/**
 * The simulator's tool rule: a model offered tools calls one unless the last user message answers a tool call. With
 * `toolChoice` `tool` it calls that one; with `any`, the first one the message names or else the first tool; with
 * `auto` (the default), only a tool the last user message names (its name, as a word, any case).
 */
function toolCallFor(offered: NonNullable<ReturnType<typeof readTools>>, lastUserText: string): Pick<ConversePrompt, 'toolCall'> {
  const named = offered.tools.find((t) => new RegExp(`\\b${t.name.replace(/[-]/g, '\\-')}\\b`, 'i').test(lastUserText));
  const { choice } = offered;
  const tool = typeof choice === 'object' ? offered.tools.find((t) => t.name === choice.tool) : choice === 'any' ? (named ?? offered.tools[0]) : named;
  return tool ? { toolCall: { name: tool.name, input: exampleInput(tool.inputSchema) } } : {};
}

function readGuardrail(config: unknown): ConversePrompt['guardrail'] {
  if (config === undefined) return undefined;
  const { guardrailIdentifier, guardrailVersion, trace } = (config ?? {}) as Record<string, unknown>;
  if (typeof guardrailIdentifier !== 'string' || !/^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail\/[a-z0-9]+))$/.test(guardrailIdentifier)) {
    throw constraint(guardrailIdentifier, 'guardrailConfig.guardrailIdentifier', 'Member must satisfy regular expression pattern: (([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))');
  }
  if (typeof guardrailVersion !== 'string' || !/^(([1-9][0-9]{0,7})|(DRAFT))$/.test(guardrailVersion)) {
    throw constraint(guardrailVersion, 'guardrailConfig.guardrailVersion', 'Member must satisfy regular expression pattern: (([1-9][0-9]{0,7})|(DRAFT))');
  }
  if (trace !== undefined && trace !== 'enabled' && trace !== 'disabled' && trace !== 'enabled_full') {
    throw constraint(trace, 'guardrailConfig.trace', 'Member must satisfy enum value set: [enabled, disabled, enabled_full]');
  }
  return { id: guardrailIdentifier.slice(guardrailIdentifier.lastIndexOf('/') + 1), version: guardrailVersion, trace: trace === 'enabled' || trace === 'enabled_full' };
}

function readServiceTier(tier: unknown): string | undefined {
  if (tier === undefined) return undefined;
  const type = tier && typeof tier === 'object' ? (tier as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !SERVICE_TIERS.includes(type)) throw constraint(type, 'serviceTier.type', `Member must satisfy enum value set: [${SERVICE_TIERS.join(', ')}]`);
  return type;
}

/** Whether a configured guardrail steps in: the last user message carries the simulator's directive. */
export function guardrailIntervenes(prompt: ConversePrompt): boolean {
  return prompt.guardrail !== undefined && prompt.lastUserText.includes(GUARDRAIL_DIRECTIVE);
}

/** What the model answers a Converse request with: generated text, a tool call after a short text, or a guardrail's message. */
export interface ConverseAnswer {
  completion: Completion;
  stopReason: string;
  toolUse?: { toolUseId: string; name: string; input: Record<string, unknown> };
  trace?: unknown;
  serviceTier?: string;
}

export function converseAnswer(prompt: ConversePrompt, generated: Completion): ConverseAnswer {
  const tier = prompt.serviceTier && { serviceTier: prompt.serviceTier };
  if (guardrailIntervenes(prompt)) {
    const { id } = prompt.guardrail!;
    const blocked = { contentPolicy: { filters: [{ type: 'MISCONDUCT', confidence: 'HIGH', filterStrength: 'HIGH', action: 'BLOCKED', detected: true }] } };
    return {
      completion: { deltas: [GUARDRAIL_MESSAGE], text: GUARDRAIL_MESSAGE, truncated: false, inputTokens: generated.inputTokens, outputTokens: 0 },
      stopReason: 'guardrail_intervened',
      ...(prompt.guardrail!.trace && { trace: { guardrail: { inputAssessment: { [id]: blocked } } } }),
      ...tier,
    };
  }
  if (prompt.classify !== undefined) {
    const text = JSON.stringify({ tier: simulatedTier(prompt.classify) });
    return { completion: { deltas: [text], text, truncated: false, inputTokens: generated.inputTokens, outputTokens: Math.ceil(text.length / 4) }, stopReason: 'end_turn', ...tier };
  }
  if (prompt.toolCall) {
    const { name, input } = prompt.toolCall;
    const words = `I will use ${name}.`.split(' ');
    const deltas = words.map((w, i) => (i === 0 ? w : ` ${w}`));
    const toolUseId = `tooluse_${hashText(`${prompt.text}\u0000${name}`).toString(36)}`;
    return {
      completion: { deltas, text: deltas.join(''), truncated: false, inputTokens: generated.inputTokens, outputTokens: words.length + Math.ceil(JSON.stringify(input).length / 4) },
      stopReason: 'tool_use',
      toolUse: { toolUseId, name, input },
      ...tier,
    };
  }
  return { completion: generated, stopReason: generated.truncated ? 'max_tokens' : 'end_turn', ...tier };
}

function usage(completion: Completion) {
  return {
    inputTokens: completion.inputTokens,
    outputTokens: completion.outputTokens,
    totalTokens: completion.inputTokens + completion.outputTokens,
  };
}

export function converseResponse(answer: ConverseAnswer, latencyMs: number) {
  const { completion } = answer;
  return {
    output: { message: { role: 'assistant', content: [{ text: completion.text }, ...(answer.toolUse ? [{ toolUse: answer.toolUse }] : [])] } },
    stopReason: answer.stopReason,
    usage: usage(completion),
    metrics: { latencyMs },
    ...(answer.trace !== undefined && { trace: answer.trace }),
    ...(answer.serviceTier && { serviceTier: { type: answer.serviceTier } }),
  };
}

export function converseStreamParts(answer: ConverseAnswer): StreamPart[] {
  const { completion, toolUse } = answer;
  const event = (eventType: string, payload: StreamPart['payload']): StreamPart => ({ eventType, tokens: 0, payload });
  // A tool call's input streams as JSON text in pieces, in a block of its own after the text.
  const toolParts = (use: NonNullable<ConverseAnswer['toolUse']>): StreamPart[] => {
    const json = JSON.stringify(use.input);
    const cut = Math.ceil(json.length / 2);
    return [
      event('contentBlockStart', () => ({ start: { toolUse: { toolUseId: use.toolUseId, name: use.name } }, contentBlockIndex: 1 })),
      ...[json.slice(0, cut), json.slice(cut)].filter(Boolean).map((input): StreamPart => ({ eventType: 'contentBlockDelta', tokens: 1, payload: () => ({ delta: { toolUse: { input } }, contentBlockIndex: 1 }) })),
      event('contentBlockStop', () => ({ contentBlockIndex: 1 })),
    ];
  };
  return [
    event('messageStart', () => ({ role: 'assistant' })),
    ...completion.deltas.map(
      (text): StreamPart => ({ eventType: 'contentBlockDelta', tokens: 1, payload: () => ({ delta: { text }, contentBlockIndex: 0 }) }),
    ),
    event('contentBlockStop', () => ({ contentBlockIndex: 0 })),
    ...(toolUse ? toolParts(toolUse) : []),
    event('messageStop', () => ({ stopReason: answer.stopReason })),
    event('metadata', (timing) => ({
      usage: usage(completion),
      metrics: { latencyMs: timing.invocationLatency },
      ...(answer.trace !== undefined && { trace: answer.trace }),
      ...(answer.serviceTier && { serviceTier: { type: answer.serviceTier } }),
    })),
  ];
}
