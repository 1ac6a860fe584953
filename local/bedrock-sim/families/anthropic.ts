import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { malformedInput } from '../errors';
import { DEFAULT_MAX_TOKENS, type Completion } from '../generator';
import { invocationMetrics, parseNativeBody, textDeltaParts, type InvocationContext, type NativeFamily, type StreamPart } from './native-family';

const block = z.looseObject({ type: z.string(), text: z.string().optional() });
const content = z.union([z.string(), z.array(block).min(1)]);

const requestSchema = z.looseObject({
  anthropic_version: z.string(),
  max_tokens: z.number().int().min(1),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content })).min(1),
  system: z.union([z.string(), z.array(block)]).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).optional(),
});

function contentText(value: z.infer<typeof content> | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return value.map((b) => b.text ?? '').join('\n');
}

function modelName(baseId: string): string {
  return baseId.replace(/^anthropic\./, '').replace(/-v\d+(:\d+)?$/, '');
}

function stopReason(completion: Completion) {
  return completion.truncated ? 'max_tokens' : 'end_turn';
}

const messageId = () => `msg_bdrk_${randomBytes(12).toString('base64url')}`;

export const anthropic: NativeFamily = {
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  parseRequest(body) {
    const request = parseNativeBody(requestSchema, body);
    if (request.messages[0].role !== 'user') throw malformedInput('messages: first message must use the "user" role');
    const users = request.messages.filter((m) => m.role === 'user');
    return {
      text: [contentText(request.system), ...request.messages.map((m) => contentText(m.content))].filter(Boolean).join('\n'),
      lastUserText: contentText(users[users.length - 1].content),
      maxTokens: request.max_tokens,
    };
  },

  response(completion, context) {
    return {
      id: messageId(),
      type: 'message',
      role: 'assistant',
      model: modelName(context.baseId),
      content: [{ type: 'text', text: completion.text }],
      stop_reason: stopReason(completion),
      stop_sequence: null,
      usage: { input_tokens: completion.inputTokens, output_tokens: completion.outputTokens },
    };
  },

  streamChunks(completion: Completion, context: InvocationContext): StreamPart[] {
    const chunk = (payload: StreamPart['payload']): StreamPart => ({ eventType: 'chunk', tokens: 0, payload });
    return [
      chunk(() => ({
        type: 'message_start',
        message: {
          id: messageId(),
          type: 'message',
          role: 'assistant',
          model: modelName(context.baseId),
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: completion.inputTokens, output_tokens: 1 },
        },
      })),
      chunk(() => ({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })),
      ...textDeltaParts(completion, (text) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })),
      chunk(() => ({ type: 'content_block_stop', index: 0 })),
      chunk(() => ({
        type: 'message_delta',
        delta: { stop_reason: stopReason(completion), stop_sequence: null },
        usage: { output_tokens: completion.outputTokens },
      })),
      chunk((timing) => ({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': invocationMetrics(completion, timing) })),
    ];
  },
};
