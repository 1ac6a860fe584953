import { ConverseCommand, type BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import type { NormalizedJobRequest } from '../core/job-request';
import type { Usage } from '../core/job';

export interface ModelAnswer {
  text: string;
  stopReason: string;
  usage: Usage;
}

/** Calls a model through the Converse API: one request shape for every model family. */
export class ModelGateway {
  constructor(private readonly client: BedrockRuntimeClient) {}

  async converse(modelId: string, request: NormalizedJobRequest, abortSignal?: AbortSignal): Promise<ModelAnswer> {
    const response = await this.client.send(
      new ConverseCommand({
        modelId,
        messages: request.messages,
        ...(request.system !== undefined && { system: [{ text: request.system }] }),
        ...(request.inferenceConfig !== undefined && { inferenceConfig: request.inferenceConfig }),
      }),
      { abortSignal },
    );
    const text = (response.output?.message?.content ?? []).map((block) => block.text ?? '').join('');
    return {
      text,
      stopReason: response.stopReason ?? 'end_turn',
      usage: { inputTokens: response.usage?.inputTokens ?? 0, outputTokens: response.usage?.outputTokens ?? 0 },
    };
  }
}
