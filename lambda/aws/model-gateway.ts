import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import type { NormalizedJobRequest } from '../core/job-request';
import type { Usage } from '../core/job';
import type { ModelInvoker } from '../core/ports';

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
    let client = this.clients.get(options.region);
    if (!client) this.clients.set(options.region, (client = this.clientFor(options.region)));
    const response = await client.send(
      new ConverseCommand({
        modelId,
        messages: request.messages,
        ...(request.system !== undefined && { system: [{ text: request.system }] }),
        ...(request.inferenceConfig !== undefined && { inferenceConfig: request.inferenceConfig }),
      }),
      { abortSignal: options.abortSignal },
    );
    const text = (response.output?.message?.content ?? []).map((block) => block.text ?? '').join('');
    return {
      text,
      stopReason: response.stopReason ?? 'end_turn',
      usage: { inputTokens: response.usage?.inputTokens ?? 0, outputTokens: response.usage?.outputTokens ?? 0 },
    };
  }
}
