import { setTimeout as sleep } from 'node:timers/promises';
import { converseAnswer, converseResponse, converseStreamParts, parseConverseRequest, type ConversePrompt } from './converse';
import { BedrockError, MESSAGES, malformedInput } from './errors';
import { encodeEvent, encodeException } from './event-stream';
import type { Exchange } from './exchange';
import { anthropic } from './families/anthropic';
import { llama } from './families/llama';
import type { InvocationContext, NativeFamily, StreamPart, Timing } from './families/native-family';
import { nova } from './families/nova';
import { DEFAULT_MAX_TOKENS, generate, plannedOutputTokens, type Completion, type Prompt } from './generator';
import type { ModelSettings } from './settings';
import type { SimulatorState } from './simulator';
import type { FamilyName } from './catalogue';

export const OPERATIONS = ['invoke', 'invoke-with-response-stream', 'converse', 'converse-stream'] as const;
export type Operation = (typeof OPERATIONS)[number];

const FAMILIES: Record<FamilyName, NativeFamily> = { anthropic, nova, llama };

const isStreaming = (operation: Operation) => operation === 'invoke-with-response-stream' || operation === 'converse-stream';
const isNative = (operation: Operation) => operation === 'invoke' || operation === 'invoke-with-response-stream';

function parseJson(body: Buffer, operation: Operation): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    if (isNative(operation)) throw malformedInput('#: expected type: JSONObject, found: invalid JSON');
    throw new BedrockError('ValidationException', 'The request body is not valid JSON.');
  }
}

const wait = (ms: number) => (ms > 0 ? sleep(ms) : Promise.resolve());

/** InvokeModel, InvokeModelWithResponseStream, Converse and ConverseStream for one model. */
export async function handleInvocation(
  state: SimulatorState,
  operation: Operation,
  modelId: string,
  body: Buffer,
  exchange: Exchange,
): Promise<void> {
  const started = Date.now();
  state.stats.request(modelId);
  try {
    const model = state.registry.resolve(modelId);
    const settings = state.settings.effective(modelId, model.baseId);
    if (!settings.available) throw new BedrockError('AccessDeniedException', MESSAGES.accessDenied);
    if (model.asyncOnly) throw new BedrockError('ValidationException', MESSAGES.asyncOnly);

    const family = FAMILIES[model.family];
    const json = parseJson(body, operation);
    const prompt: Prompt = isNative(operation) ? family.parseRequest(json) : parseConverseRequest(json);
    const defaultMaxTokens = isNative(operation) ? family.defaultMaxTokens : DEFAULT_MAX_TOKENS;
    if (model.maxOutputTokens !== undefined && prompt.maxTokens !== undefined && prompt.maxTokens > model.maxOutputTokens) {
      throw new BedrockError(
        'ValidationException',
        `The maximum tokens you requested exceeds the model limit of ${model.maxOutputTokens}. Try again with a maximum tokens value that is lower than ${model.maxOutputTokens}.`,
      );
    }

    const tier = (prompt as ConversePrompt).serviceTier;
    if (tier !== undefined && !settings.serviceTiers.includes(tier)) {
      throw new BedrockError('ValidationException', `The model ${modelId} does not support the ${tier} service tier in this Region. Use one of: ${settings.serviceTiers.join(', ')}.`);
    }

    const planned = plannedOutputTokens(prompt, settings.outputTokens, defaultMaxTokens);
    const generated = generate(prompt, state.seed, planned.count, planned.truncated);
    // Converse may answer with a tool call or a guardrail's message instead of the generated text.
    const answered = isNative(operation) ? undefined : converseAnswer(prompt as ConversePrompt, generated);
    // A prompt router says which of its models answered: the small one for a short prompt, else the large one.
    const answer = answered && model.router ? { ...answered, trace: { ...(answered.trace as object | undefined), promptRouter: { invokedModelId: prompt.text.length < 1000 ? model.router.small : model.router.large } } } : answered;
    const completion = answer?.completion ?? generated;
    const reservation = state.quotas.tryReserve(
      modelId,
      settings.quota,
      completion.inputTokens + (prompt.maxTokens ?? defaultMaxTokens),
    );
    if (!reservation) throw new BedrockError('ThrottlingException', MESSAGES.throttled);
    if (tier === 'flex' && state.faults.flexThrottled(modelId, settings.flexThrottle)) {
      reservation.settle(0);
      throw new BedrockError('ThrottlingException', MESSAGES.throttled);
    }

    const faults = state.faults.roll(modelId, settings.faults);
    if (faults.error) {
      reservation.settle(completion.inputTokens);
      throw faults.error;
    }
    reservation.settle(completion.inputTokens + completion.outputTokens);

    const context: InvocationContext = { modelId, baseId: model.baseId };
    if (isStreaming(operation)) {
      const parts = answer ? converseStreamParts(answer) : family.streamChunks(completion, context);
      await stream(state, exchange, { modelId, completion, parts, settings, started, streamError: faults.streamError, native: isNative(operation) });
      return;
    }

    await wait(settings.latencyMs.firstToken + settings.latencyMs.perToken * completion.outputTokens);
    const latency = Date.now() - started;
    const headers = {
      'x-amzn-bedrock-input-token-count': String(completion.inputTokens),
      'x-amzn-bedrock-output-token-count': String(completion.outputTokens),
      'x-amzn-bedrock-invocation-latency': String(latency),
    };
    const payload = answer ? converseResponse(answer, latency) : family.response(completion, context);
    exchange.sendJson(200, payload, headers);
    state.stats.ok(modelId);
    state.stats.tokens(modelId, completion.inputTokens, completion.outputTokens);
  } catch (error) {
    if (!(error instanceof BedrockError)) throw error;
    state.stats.error(modelId, error.code);
    exchange.sendError(error);
  }
}

interface StreamPlan {
  modelId: string;
  completion: Completion;
  parts: StreamPart[];
  settings: ModelSettings;
  started: number;
  streamError: boolean;
  native: boolean;
}

async function stream(state: SimulatorState, exchange: Exchange, plan: StreamPlan): Promise<void> {
  const { completion, parts, settings, native } = plan;
  exchange.startStream(native ? { 'x-amzn-bedrock-content-type': 'application/json' } : {});
  // A stream error breaks off half-way through the output, so the client has already seen content.
  const failAfterTokens = plan.streamError ? Math.max(1, Math.floor(completion.outputTokens / 2)) : Infinity;
  let sentTokens = 0;
  let firstByteLatency = 0;
  for (const part of parts) {
    if (exchange.closed) return;
    if (part.tokens > 0) {
      if (sentTokens >= failAfterTokens) {
        await exchange.write(
          encodeException('modelStreamErrorException', {
            message: MESSAGES.streamError,
            originalStatusCode: 500,
            originalMessage: 'Model stream interrupted.',
          }),
        );
        exchange.end();
        state.stats.error(plan.modelId, 'ModelStreamErrorException');
        state.stats.tokens(plan.modelId, completion.inputTokens, sentTokens);
        return;
      }
      await wait(sentTokens === 0 ? settings.latencyMs.firstToken : settings.latencyMs.perToken * part.tokens);
      if (sentTokens === 0) firstByteLatency = Date.now() - plan.started;
      sentTokens += part.tokens;
    }
    const timing: Timing = { firstByteLatency, invocationLatency: Date.now() - plan.started };
    const payload = part.payload(timing);
    const frame = native
      ? encodeEvent('chunk', { bytes: Buffer.from(JSON.stringify(payload), 'utf8').toString('base64') })
      : encodeEvent(part.eventType, payload);
    await exchange.write(frame);
  }
  exchange.end();
  state.stats.ok(plan.modelId);
  state.stats.tokens(plan.modelId, completion.inputTokens, completion.outputTokens);
}
