import type { z } from 'zod';
import { malformedInput } from '../errors';
import type { Completion, Prompt } from '../generator';

export interface Timing {
  firstByteLatency: number;
  invocationLatency: number;
}

export interface InvocationContext {
  /** The model id as the caller sent it. */
  modelId: string;
  baseId: string;
}

/** One event of a response stream; `tokens` output tokens are paced (firstToken/perToken) before it is sent. */
export interface StreamPart {
  eventType: string;
  tokens: number;
  payload(timing: Timing): unknown;
}

/** A model family's native InvokeModel body: request parsing and response shapes. */
export interface NativeFamily {
  /** Output limit when the body gives none; also what a quota reserves for the request. */
  defaultMaxTokens: number;
  parseRequest(body: unknown): Prompt;
  response(completion: Completion, context: InvocationContext): unknown;
  /** The decoded JSON of each `chunk` event of InvokeModelWithResponseStream. */
  streamChunks(completion: Completion, context: InvocationContext): StreamPart[];
}

export function invocationMetrics(completion: Completion, timing: Timing) {
  return {
    inputTokenCount: completion.inputTokens,
    outputTokenCount: completion.outputTokens,
    invocationLatency: timing.invocationLatency,
    firstByteLatency: timing.firstByteLatency,
  };
}

/** Validates a native body the way Bedrock reports it: "Malformed input request: #/path: problem". */
export function parseNativeBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.map(String);
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
    const key = path.pop();
    throw malformedInput(`${['#', ...path].join('/')}: required key [${key}] not found`);
  }
  throw malformedInput(`${['#', ...path].join('/')}: ${issue.message}`);
}

export function textDeltaParts(completion: Completion, build: (delta: string) => unknown): StreamPart[] {
  return completion.deltas.map((delta) => ({ eventType: 'chunk', tokens: 1, payload: () => build(delta) }));
}
