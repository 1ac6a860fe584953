import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  type ContentBlock as SdkBlock,
  type ConverseCommandInput,
  type ConverseStreamOutput,
  type ResponseStream,
} from '@aws-sdk/client-bedrock-runtime';
import { ATTACHMENT_LIMITS, type AttachmentSource, type ContentBlock, type OutputBlock, type ToolResultContent } from '../core/converse-fields';
import { nativeChunkOutcome, nativeOutcome } from '../core/native-body';
import type { NormalizedJobRequest } from '../core/job-request';
import type { ConverseAnswer, InputReader, ModelInvoker, NativeAnswer } from '../core/ports';

type ModelAnswer = ConverseAnswer;
type SdkContentBlock = SdkBlock;

/**
 * Calls a model through the Converse API (one request shape for every model family), in the region asked for:
 * one client per region, created on first use and kept for the container's life.
 */
export class ModelGateway implements ModelInvoker {
  private readonly clients = new Map<string, BedrockRuntimeClient>();

  /**
   * Attachments already read, by the request's messages (shared by the copies a candidate's output limit makes),
   * so a retry or a fallback does not read them again.
   */
  private readonly resolved = new WeakMap<NormalizedJobRequest['messages'], Promise<ConverseCommandInput['messages']>>();

  constructor(
    private readonly clientFor: (region: string) => BedrockRuntimeClient,
    /** Reads attachments stored in the inputs bucket; without it, a request that has one fails (InputNotReadable). */
    private readonly inputs?: InputReader,
  ) {}

  async converse(modelId: string, request: NormalizedJobRequest, options: { region: string; abortSignal?: AbortSignal }): Promise<ModelAnswer> {
    const response = await this.client(options.region).send(new ConverseCommand(await this.converseInput(modelId, request)), { abortSignal: options.abortSignal });
    return {
      ...outputOf(response.output?.message?.content ?? []),
      stopReason: response.stopReason ?? 'end_turn',
      usage: { inputTokens: response.usage?.inputTokens ?? 0, outputTokens: response.usage?.outputTokens ?? 0 },
      ...(response.serviceTier?.type && { serviceTier: response.serviceTier.type }),
      ...(response.trace && { trace: response.trace as Record<string, unknown> }),
    };
  }

  /**
   * ConverseStream: each piece of text goes to `onText` as it arrives; resolves with the whole answer once the
   * stream ends. An error event in the stream is thrown as the exception it names, as the SDK throws those it models.
   */
  async converseStream(modelId: string, request: NormalizedJobRequest, options: { region: string; abortSignal?: AbortSignal; onText: (text: string) => void }): Promise<ModelAnswer> {
    const response = await this.client(options.region).send(new ConverseStreamCommand(await this.converseInput(modelId, request)), { abortSignal: options.abortSignal });
    let stopReason = 'end_turn';
    let usage = { inputTokens: 0, outputTokens: 0 };
    let stopped = false;
    let serviceTier: string | undefined;
    let trace: Record<string, unknown> | undefined;
    // The answer's blocks by index: text as it comes, a tool call's input as JSON text in pieces until its block stops.
    const blocks: Array<{ text: string } | { toolUseId: string; name: string; input: string }> = [];
    for await (const event of response.stream ?? []) {
      const failure = streamFailure(event);
      if (failure) throw failure;
      const start = event.contentBlockStart;
      if (start?.start?.toolUse) blocks[start.contentBlockIndex ?? blocks.length] = { toolUseId: start.start.toolUse.toolUseId ?? '', name: start.start.toolUse.name ?? '', input: '' };
      const delta = event.contentBlockDelta;
      if (delta?.delta?.text) {
        const index = delta.contentBlockIndex ?? 0;
        const block = (blocks[index] ??= { text: '' });
        if ('text' in block) block.text += delta.delta.text;
        options.onText(delta.delta.text);
      }
      if (delta?.delta?.toolUse?.input) {
        const block = blocks[delta.contentBlockIndex ?? 0];
        if (block && 'input' in block) block.input += delta.delta.toolUse.input;
      }
      if (event.messageStop) {
        stopped = true;
        if (event.messageStop.stopReason) stopReason = event.messageStop.stopReason;
      }
      if (event.metadata?.usage) usage = { inputTokens: event.metadata.usage.inputTokens ?? 0, outputTokens: event.metadata.usage.outputTokens ?? 0 };
      if (event.metadata?.serviceTier?.type) serviceTier = event.metadata.serviceTier.type;
      if (event.metadata?.trace) trace = event.metadata.trace as Record<string, unknown>;
    }
    // An aborted stream ends its iteration quietly: a cut answer must never pass for a whole one.
    if (options.abortSignal?.aborted) throw Object.assign(new Error('The call was abandoned before the model finished its answer'), { name: 'AbortError' });
    if (!stopped) throw Object.assign(new Error('The model stream ended before its messageStop event'), { name: 'ModelStreamErrorException' });
    const content = blocks.filter(Boolean).map((b): SdkBlock => ('text' in b ? { text: b.text } : { toolUse: { toolUseId: b.toolUseId, name: b.name, input: parseToolInput(b.input) as NonNullable<SdkBlock['toolUse']>['input'] } }));
    return { ...outputOf(content), stopReason, usage, ...(serviceTier && { serviceTier }), ...(trace && { trace }) };
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

  /** The Converse input of a request: its messages with every attachment's bytes (read once per request). */
  private async converseInput(modelId: string, request: NormalizedJobRequest): Promise<ConverseCommandInput> {
    let messages = this.resolved.get(request.messages);
    if (!messages) {
      messages = Promise.all(request.messages.map(async (m) => ({ role: m.role, content: await Promise.all(m.content.map((b) => this.sdkBlock(b))) })));
      this.resolved.set(request.messages, messages);
      messages.catch(() => this.resolved.delete(request.messages));
    }
    return {
      modelId,
      messages: await messages,
      ...(request.system !== undefined && { system: [{ text: request.system }] }),
      ...(request.inferenceConfig !== undefined && { inferenceConfig: request.inferenceConfig }),
      ...(request.toolConfig !== undefined && { toolConfig: request.toolConfig as ConverseCommandInput['toolConfig'] }),
      ...(request.guardrailConfig !== undefined && { guardrailConfig: request.guardrailConfig }),
      ...(request.additionalModelRequestFields !== undefined && { additionalModelRequestFields: request.additionalModelRequestFields as ConverseCommandInput['additionalModelRequestFields'] }),
      ...(request.serviceTier !== undefined && { serviceTier: { type: request.serviceTier } }),
    };
  }

  private async sdkBlock(block: ContentBlock | ToolResultContent): Promise<SdkContentBlock> {
    if ('image' in block) return { image: { format: block.image.format, source: { bytes: await this.bytesOf(block.image.source, ATTACHMENT_LIMITS.imageBytes) } } };
    if ('document' in block) return { document: { format: block.document.format, name: block.document.name, source: { bytes: await this.bytesOf(block.document.source, ATTACHMENT_LIMITS.documentBytes) } } };
    if ('toolResult' in block) {
      const content = await Promise.all(block.toolResult.content.map((c) => this.sdkBlock(c)));
      return { toolResult: { toolUseId: block.toolResult.toolUseId, content: content as NonNullable<SdkBlock['toolResult']>['content'], ...(block.toolResult.status && { status: block.toolResult.status }) } };
    }
    return block as SdkContentBlock;
  }

  private async bytesOf(source: AttachmentSource, maxBytes: number): Promise<Uint8Array> {
    if ('bytes' in source) return Buffer.from(source.bytes, 'base64');
    if (!this.inputs) throw Object.assign(new Error(`${source.s3Location.uri} cannot be read: this function has no inputs bucket`), { name: 'InputNotReadable' });
    return this.inputs.read(source.s3Location.uri, maxBytes);
  }

  private client(region: string): BedrockRuntimeClient {
    let client = this.clients.get(region);
    if (!client) this.clients.set(region, (client = this.clientFor(region)));
    return client;
  }
}

/** An answer's text (its text blocks joined) and, when it holds tool calls, its blocks as Quarry returns them. */
function outputOf(content: SdkBlock[]): { text: string; content?: OutputBlock[] } {
  const text = content.map((block) => block.text ?? '').join('');
  if (!content.some((block) => block.toolUse)) return { text };
  const blocks = content.flatMap((block): OutputBlock[] => {
    if (block.toolUse) return [{ toolUse: { toolUseId: block.toolUse.toolUseId ?? '', name: block.toolUse.name ?? '', input: (block.toolUse.input ?? {}) as Record<string, unknown> } }];
    return block.text !== undefined ? [{ text: block.text }] : [];
  });
  return { text, content: blocks };
}

/** A streamed tool call's input: JSON text; an empty input is `{}`. */
function parseToolInput(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw Object.assign(new Error('The model streamed a tool call whose input is not JSON'), { name: 'ModelStreamErrorException' });
  }
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
