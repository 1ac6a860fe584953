import { z } from 'zod';
import type { Completion } from '../generator';
import { invocationMetrics, parseNativeBody, type NativeFamily, type StreamPart } from './native-family';

const requestSchema = z.looseObject({
  prompt: z.string().min(1),
  max_gen_len: z.number().int().min(1).max(2048).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
});

const stopReason = (completion: Completion) => (completion.truncated ? 'length' : 'stop');

export const llama: NativeFamily = {
  defaultMaxTokens: 512,

  parseRequest(body) {
    const request = parseNativeBody(requestSchema, body);
    return { text: request.prompt, lastUserText: request.prompt, maxTokens: request.max_gen_len };
  },

  response(completion) {
    return {
      generation: completion.text,
      prompt_token_count: completion.inputTokens,
      generation_token_count: completion.outputTokens,
      stop_reason: stopReason(completion),
    };
  },

  streamChunks(completion): StreamPart[] {
    const last = completion.deltas.length - 1;
    return completion.deltas.map((generation, i) => ({
      eventType: 'chunk',
      tokens: 1,
      payload: (timing) => ({
        generation,
        prompt_token_count: i === 0 ? completion.inputTokens : null,
        generation_token_count: i + 1,
        stop_reason: i === last ? stopReason(completion) : null,
        ...(i === last ? { 'amazon-bedrock-invocationMetrics': invocationMetrics(completion, timing) } : {}),
      }),
    }));
  },
};
