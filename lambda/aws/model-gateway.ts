import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  type ConverseStreamOutput,
  type ResponseStream,
} from '@aws-sdk/client-bedrock-runtime';
import { nativeChunkOutcome, nativeOutcome } from '../core/native-body';
import type { NormalizedJobRequest } from '../core/job-request';
import type { Usage } from '../core/job';
import type { ModelInvoker, NativeAnswer } from '../core/ports';

export interface ModelAnswer {
  text: string;
  stopReason: string;
  usage: Usage;
}

/**
 * Calls a model through the Converse API (one request shape for every model family), in the region asked for:
 * one client per region, created on first use and kept for the container's life.
 */
export class ModelGateway implements ModelInvoker {
  private readonly clients = new Map<string, BedrockRuntimeClient>();

  constructor(private readonly clientFor: (region: string) => BedrockRuntimeClient) {}

  async converse(modelId: string, request: NormalizedJobRequest, options: { region: string; abortSignal?: AbortSignal }): Promise<ModelAnswer> {
    const response = await this.client(options.region).send(new ConverseCommand(converseInput(modelId, request)), { abortSignal: options.abortSignal });
    const text = (response.output?.message?.content ?? []).map((block) => block.text ?? '').join('');
    return {
      text,
      stopReason: response.stopReason ?? 'end_turn',
      usage: { inputTokens: response.usage?.inputTokens ?? 0, outputTokens: response.usage?.outputTokens ?? 0 },
    };
  }

  /**
   * ConverseStream: each piece of text goes to `onText` as it arrives; resolves with the whole answer once the
   * stream ends. An error event in the stream is thrown as the exception it names, as the SDK throws those it models.
   */
  async converseStream(modelId: string, request: NormalizedJobRequest, options: { region: string; abortSignal?: AbortSignal; onText: (text: string) => void }): Promise<ModelAnswer> {
    const response = await this.client(options.region).send(new ConverseStreamCommand(converseInput(modelId, request)), { abortSignal: options.abortSignal });
    let text = '';
    let stopReason = 'end_turn';
    let usage = { inputTokens: 0, outputTokens: 0 };
    let stopped = false;
    for await (const event of response.stream ?? []) {
      const failure = streamFailure(event);
      if (failure) throw failure;
      const delta = event.contentBlockDelta?.delta?.text;
      if (delta) {
        text += delta;
        options.onText(delta);
      }
      if (event.messageStop) {
        stopped = true;
        if (event.messageStop.stopReason) stopReason = event.messageStop.stopReason;
      }
      if (event.metadata?.usage) usage = { inputTokens: event.metadata.usage.inputTokens ?? 0, outputTokens: event.metadata.usage.outputTokens ?? 0 };
    }
    // An aborted stream ends its iteration quietly: a cut answer must never pass for a whole one.
    if (options.abortSignal?.aborted) throw Object.assign(new Error('The call was abandoned before the model finished its answer'), { name: 'AbortError' });
    if (!stopped) throw Object.assign(new Error('The model stream ended before its messageStop event'), { name: 'ModelStreamErrorException' });
    return { text, stopReason, usage };
  }

  /** InvokeModel (or, given `onChunk`, InvokeModelWithResponseStream) with the model's native body, as given. */
  async invokeNative(modelId: string, body: Record<string, unknown>, options: { region: string; abortSignal?: AbortSignal; onChunk?: (chunk: unknown) => void }): Promise<NativeAnswer> {
    const input = { modelId, body: JSON.stringify(body), contentType: 'application/json', accept: 'application/json' };
    if (!options.onChunk) {
      const response = await this.client(options.region).send(new InvokeModelCommand(input), { abortSignal: options.abortSignal });
      const nativeResponse: unknown = JSON.parse(new TextDecoder().decode(response.body));
      return { nativeResponse, text: '', ...nativeOutcome(nativeResponse) };
    }
    const response = await this.client(options.region).send(new InvokeModelWithResponseStreamCommand(input), { abortSignal: options.abortSignal });
    let usage = { inputTokens: 0, outputTokens: 0 };
    let stopReason = 'end_turn';
    for await (const event of response.body ?? []) {
      const failure = streamFailure(event);
      if (failure) throw failure;
      if (!event.chunk?.bytes) continue;
      const chunk: unknown = JSON.parse(new TextDecoder().decode(event.chunk.bytes));
      const outcome = nativeChunkOutcome(chunk);
      if (outcome.usage) usage = outcome.usage;
      if (outcome.stopReason) stopReason = outcome.stopReason;
      options.onChunk(chunk);
    }
    if (options.abortSignal?.aborted) throw Object.assign(new Error('The call was abandoned before the model finished its answer'), { name: 'AbortError' });
    return { text: '', stopReason, usage };
  }

  private client(region: string): BedrockRuntimeClient {
    let client = this.clients.get(region);
    if (!client) this.clients.set(region, (client = this.clientFor(region)));
    return client;
  }
}

function converseInput(modelId: string, request: NormalizedJobRequest) {
  return {
    modelId,
    messages: request.messages,
    ...(request.system !== undefined && { system: [{ text: request.system }] }),
    ...(request.inferenceConfig !== undefined && { inferenceConfig: request.inferenceConfig }),
  };
}

const STREAM_EXCEPTIONS = {
  internalServerException: 'InternalServerException',
  modelStreamErrorException: 'ModelStreamErrorException',
  validationException: 'ValidationException',
  throttlingException: 'ThrottlingException',
  serviceUnavailableException: 'ServiceUnavailableException',
  modelTimeoutException: 'ModelTimeoutException',
} as const;

/** An exception event of the stream, as the error the model-error classification knows by name. */
function streamFailure(event: ConverseStreamOutput | ResponseStream): Error | undefined {
  for (const [member, name] of Object.entries(STREAM_EXCEPTIONS)) {
    const exception = (event as unknown as Record<string, { message?: string } | undefined>)[member];
    if (exception) return Object.assign(new Error(exception.message ?? name), { name });
  }
  return undefined;
}
