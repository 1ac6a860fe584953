import * as z from 'zod/mini';
import type { Cost } from './admission';
import { ValidationError } from './errors';
import type { Usage } from './job';
import { requestIssues } from './request-issues';

/*
 * Native bodies: POST /invoke and /invoke/stream with `nativeBody` + `modelId` call InvokeModel /
 * InvokeModelWithResponseStream with the body as the model's provider defines it (Anthropic Messages, Amazon Nova,
 * Meta Llama, ...). Quarry does not read the body beyond what admission and metrics need (its output-token limit,
 * and the usage in the answer); a fallback must take the same body, so only models of the same provider family
 * qualify. Pure: no I/O.
 */

/** Bytes of text per token, as admission estimates a body's input tokens. */
const BYTES_PER_TOKEN = 4;

function buildNativeRequestSchema() {
  const object = z.custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value), 'Invalid input: expected object');
  return z.strictObject({
    modelId: z.string().check(z.minLength(1), z.maxLength(2048)),
    nativeBody: object,
    route: z.optional(z.string().check(z.regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes'))),
  });
}
let nativeRequestSchema: ReturnType<typeof buildNativeRequestSchema> | undefined;
/** The body of POST /invoke and /invoke/stream with a native body, for the API's document too. */
export const nativeBodyRequestSchema = () => (nativeRequestSchema ??= buildNativeRequestSchema());
export type NativeRequest = z.infer<ReturnType<typeof buildNativeRequestSchema>>;

/** Whether a request body is a native one (it has `nativeBody`), to be parsed by {@link parseNativeRequest}. */
export function isNativeRequest(body: unknown): boolean {
  return body !== null && typeof body === 'object' && 'nativeBody' in body;
}

/** `{modelId, nativeBody, route?}`, or a 400 naming each offending field (a native body names its model). */
export function parseNativeRequest(body: unknown): NativeRequest {
  const parsed = (nativeRequestSchema ??= buildNativeRequestSchema()).safeParse(body);
  if (!parsed.success) throw new ValidationError('The native request is invalid.', requestIssues(parsed.error));
  return parsed.data;
}

/**
 * The provider family whose native body a model takes: the vendor of its id (`anthropic`, `meta`, `mistral`, ...),
 * and for Amazon the model line (`amazon.nova`, `amazon.titan`), a cross-region profile's geography prefix ignored.
 * Undefined for an id it cannot read (an application inference profile ARN): such a model falls back to none.
 */
export function providerFamily(modelId: string): string | undefined {
  if (modelId.startsWith('arn:')) return undefined;
  const bare = modelId.replace(/^(us|us-gov|eu|apac|ap|ca|jp|au|global)\./, '');
  const [vendor, line] = bare.split('.');
  if (!vendor || line === undefined) return undefined;
  return vendor === 'amazon' ? `amazon.${line.split('-')[0]}` : vendor;
}

export function sameFamily(a: string, b: string): boolean {
  const family = providerFamily(a);
  return family !== undefined ? family === providerFamily(b) : a === b;
}

/** The output-token limit a native body sets, in the field its family uses; undefined if it sets none. */
export function nativeMaxTokens(body: Record<string, unknown>): number | undefined {
  const inference = (body.inferenceConfig ?? {}) as Record<string, unknown>;
  const textGeneration = (body.textGenerationConfig ?? {}) as Record<string, unknown>;
  const candidates = [body.max_tokens, inference.maxTokens, inference.max_new_tokens, body.max_gen_len, textGeneration.maxTokenCount];
  return candidates.find((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
}

/** What a native call reserves against the model's quota: its body's size in tokens, plus its output limit. */
export function nativeCost(body: Record<string, unknown>, defaultMaxTokens: number): Cost {
  const inputTokens = Math.ceil(Buffer.byteLength(JSON.stringify(body), 'utf8') / BYTES_PER_TOKEN);
  return { requests: 1, tokens: inputTokens + (nativeMaxTokens(body) ?? defaultMaxTokens) };
}

/** The value at a path of nested objects, undefined where the path leaves them. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[key] : undefined), value);
}

const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** Usage and stop reason of a native answer, read from the fields each family uses (zeros where it says nothing). */
export function nativeOutcome(response: unknown): { usage: Usage; stopReason: string } {
  const inputTokens = count(at(response, 'usage', 'input_tokens')) ?? count(at(response, 'usage', 'inputTokens')) ?? count(at(response, 'prompt_token_count')) ?? 0;
  const outputTokens = count(at(response, 'usage', 'output_tokens')) ?? count(at(response, 'usage', 'outputTokens')) ?? count(at(response, 'generation_token_count')) ?? 0;
  const stopReason = at(response, 'stop_reason') ?? at(response, 'stopReason') ?? at(response, 'choices', 0, 'finish_reason') ?? 'end_turn';
  return { usage: { inputTokens, outputTokens }, stopReason: String(stopReason) };
}

/**
 * What one chunk of a native stream says about the call: Bedrock's own `amazon-bedrock-invocationMetrics` (on the
 * last chunk, every family) give the usage; the stop reason is where the family puts it.
 */
export function nativeChunkOutcome(chunk: unknown): { usage?: Usage; stopReason?: string } {
  const metrics = at(chunk, 'amazon-bedrock-invocationMetrics');
  const stopReason = at(chunk, 'delta', 'stop_reason') ?? at(chunk, 'messageStop', 'stopReason') ?? at(chunk, 'stop_reason');
  return {
    ...(metrics !== undefined && { usage: { inputTokens: count(at(metrics, 'inputTokenCount')) ?? 0, outputTokens: count(at(metrics, 'outputTokenCount')) ?? 0 } }),
    ...(stopReason != null && { stopReason: String(stopReason) }),
  };
}
