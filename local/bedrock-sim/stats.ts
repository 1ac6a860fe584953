import type { BedrockErrorCode } from './errors';

export interface ModelStats {
  requests: number;
  ok: number;
  /** 429 ThrottlingException answers, from quotas and from throttle faults. */
  throttled: number;
  /** Every other error, by code (ModelStreamErrorException included). */
  errors: Record<string, number>;
  inputTokens: number;
  outputTokens: number;
}

export class Stats {
  private readonly models = new Map<string, ModelStats>();

  private entry(modelId: string): ModelStats {
    let stats = this.models.get(modelId);
    if (!stats) {
      stats = { requests: 0, ok: 0, throttled: 0, errors: {}, inputTokens: 0, outputTokens: 0 };
      this.models.set(modelId, stats);
    }
    return stats;
  }

  request(modelId: string): void {
    this.entry(modelId).requests++;
  }

  ok(modelId: string): void {
    this.entry(modelId).ok++;
  }

  error(modelId: string, code: BedrockErrorCode | 'ModelStreamErrorException'): void {
    const stats = this.entry(modelId);
    if (code === 'ThrottlingException') stats.throttled++;
    else stats.errors[code] = (stats.errors[code] ?? 0) + 1;
  }

  tokens(modelId: string, inputTokens: number, outputTokens: number): void {
    const stats = this.entry(modelId);
    stats.inputTokens += inputTokens;
    stats.outputTokens += outputTokens;
  }

  snapshot(): { models: Record<string, ModelStats> } {
    return { models: Object.fromEntries([...this.models].map(([id, s]) => [id, { ...s, errors: { ...s.errors } }])) };
  }

  clear(): void {
    this.models.clear();
  }
}
