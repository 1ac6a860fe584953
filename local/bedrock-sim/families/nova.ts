import { z } from 'zod';
import { malformedInput } from '../errors';
import { DEFAULT_MAX_TOKENS, type Completion } from '../generator';
import { invocationMetrics, parseNativeBody, textDeltaParts, type NativeFamily, type StreamPart } from './native-family';

const textBlocks = z.array(z.looseObject({ text: z.string().optional() }));

const requestSchema = z.looseObject({
  schemaVersion: z.string().optional(),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content: textBlocks.min(1) })).min(1),
  system: textBlocks.optional(),
  inferenceConfig: z
    .looseObject({
      maxTokens: z.number().int().min(1).optional(),
      max_new_tokens: z.number().int().min(1).optional(),
      temperature: z.number().min(0).max(1).optional(),
      topP: z.number().min(0).max(1).optional(),
      topK: z.number().int().min(0).optional(),
      stopSequences: z.array(z.string()).optional(),
    })
    .optional(),
});

const blocksText = (blocks: z.infer<typeof textBlocks> | undefined) => (blocks ?? []).map((b) => b.text ?? '').join('\n');
const stopReason = (completion: Completion) => (completion.truncated ? 'max_tokens' : 'end_turn');

export const nova: NativeFamily = {
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  parseRequest(body) {
    const request = parseNativeBody(requestSchema, body);
    if (request.messages[0].role !== 'user') throw malformedInput('#/messages/0/role: the first message must be from the user');
    const users = request.messages.filter((m) => m.role === 'user');
    return {
      text: [blocksText(request.system), ...request.messages.map((m) => blocksText(m.content))].filter(Boolean).join('\n'),
      lastUserText: blocksText(users[users.length - 1].content),
      maxTokens: request.inferenceConfig?.maxTokens ?? request.inferenceConfig?.max_new_tokens,
    };
  },

  response(completion) {
    return {
      output: { message: { role: 'assistant', content: [{ text: completion.text }] } },
      stopReason: stopReason(completion),
      usage: {
        inputTokens: completion.inputTokens,
        outputTokens: completion.outputTokens,
        totalTokens: completion.inputTokens + completion.outputTokens,
        cacheReadInputTokenCount: 0,
        cacheWriteInputTokenCount: 0,
      },
    };
  },

  streamChunks(completion): StreamPart[] {
    const chunk = (payload: StreamPart['payload']): StreamPart => ({ eventType: 'chunk', tokens: 0, payload });
    return [
      chunk(() => ({ messageStart: { role: 'assistant' } })),
      ...textDeltaParts(completion, (text) => ({ contentBlockDelta: { delta: { text }, contentBlockIndex: 0 } })),
      chunk(() => ({ contentBlockStop: { contentBlockIndex: 0 } })),
      chunk(() => ({ messageStop: { stopReason: stopReason(completion) } })),
      chunk((timing) => ({
        metadata: {
          usage: { inputTokens: completion.inputTokens, outputTokens: completion.outputTokens },
          metrics: {},
          trace: {},
        },
        'amazon-bedrock-invocationMetrics': invocationMetrics(completion, timing),
      })),
    ];
  },
};
