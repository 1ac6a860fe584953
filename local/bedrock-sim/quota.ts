export interface QuotaLimits {
  rpm?: number;
  tpm?: number;
}

export const QUOTA_WINDOW_MS = 60_000;

interface Use {
  at: number;
  tokens: number;
}

/** A request admitted by the quota; its token reservation can be corrected once the real usage is known. */
export interface Reservation {
  settle(tokens: number): void;
}

/**
 * Requests-per-minute and tokens-per-minute over a sliding window, per model id. Like Bedrock, a request
 * reserves its input tokens plus its max output tokens when it starts; `settle` replaces that by what it used.
 */
export class QuotaWindows {
  private readonly uses = new Map<string, Use[]>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = QUOTA_WINDOW_MS,
  ) {}

  tryReserve(modelId: string, limits: QuotaLimits, tokens: number): Reservation | undefined {
    const now = this.now();
    const uses = (this.uses.get(modelId) ?? []).filter((use) => use.at > now - this.windowMs);
    this.uses.set(modelId, uses);
    if (limits.rpm !== undefined && uses.length + 1 > limits.rpm) return undefined;
    if (limits.tpm !== undefined && uses.reduce((sum, use) => sum + use.tokens, 0) + tokens > limits.tpm) return undefined;
    const use: Use = { at: now, tokens };
    uses.push(use);
    return {
      settle: (actual) => {
        use.tokens = actual;
      },
    };
  }

  clear(): void {
    this.uses.clear();
  }
}
