import { z } from 'zod';

export const FAULT_KINDS = ['throttle', 'unavailable', 'internal', 'timeout', 'notReady', 'streamError'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ModelSettings {
  latencyMs: { firstToken: number; perToken: number };
  outputTokens: number;
  faults: Record<FaultKind, number>;
  quota: { rpm?: number; tpm?: number };
  available: boolean;
  /** The service tiers the model takes; a request for another one is refused (ValidationException). */
  serviceTiers: string[];
  /** Probability that a flex request is throttled (flex capacity is what other traffic leaves). */
  flexThrottle: number;
  /** StartAsyncInvoke: how long an invocation runs, the probability that it fails, and the failure's message. */
  async: { durationMs: number; failure: number; failureMessage: string };
}

export const BUILT_IN_DEFAULTS: ModelSettings = {
  latencyMs: { firstToken: 0, perToken: 0 },
  outputTokens: 48,
  faults: { throttle: 0, unavailable: 0, internal: 0, timeout: 0, notReady: 0, streamError: 0 },
  quota: {},
  available: true,
  serviceTiers: ['default', 'priority', 'flex'],
  flexThrottle: 0,
  async: { durationMs: 3_000, failure: 0, failureMessage: 'The video could not be generated: the request was blocked by our content filters.' },
};

const probability = z.number().min(0).max(1);
const millis = z.number().int().min(0).max(600_000);
// null clears a quota limit set earlier (settings merge, so omitting a field keeps it).
const limit = z.number().int().positive().nullable();

export const settingsPatchSchema = z.strictObject({
  latencyMs: z.strictObject({ firstToken: millis.optional(), perToken: millis.optional() }).optional(),
  outputTokens: z.number().int().min(1).max(100_000).optional(),
  faults: z
    .strictObject(Object.fromEntries(FAULT_KINDS.map((kind) => [kind, probability.optional()])) as Record<
      FaultKind,
      z.ZodOptional<typeof probability>
    >)
    .optional(),
  quota: z.strictObject({ rpm: limit.optional(), tpm: limit.optional() }).optional(),
  available: z.boolean().optional(),
  serviceTiers: z.array(z.enum(['default', 'priority', 'flex', 'reserved'])).optional(),
  flexThrottle: probability.optional(),
  async: z.strictObject({ durationMs: z.number().int().min(0).max(3_600_000).optional(), failure: probability.optional(), failureMessage: z.string().min(1).max(2048).optional() }).optional(),
  family: z.enum(['anthropic', 'nova', 'llama']).optional(),
});
export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

type StoredPatch = Omit<SettingsPatch, 'family'>;

export const DEFAULT_KEY = '*';

function merge(base: ModelSettings, patch: StoredPatch): ModelSettings {
  const quota = { ...base.quota };
  for (const key of ['rpm', 'tpm'] as const) {
    const value = patch.quota?.[key];
    if (value === null) delete quota[key];
    else if (value !== undefined) quota[key] = value;
  }
  return {
    latencyMs: { ...base.latencyMs, ...stripUndefined(patch.latencyMs ?? {}) },
    outputTokens: patch.outputTokens ?? base.outputTokens,
    faults: { ...base.faults, ...stripUndefined(patch.faults ?? {}) },
    quota,
    available: patch.available ?? base.available,
    serviceTiers: patch.serviceTiers ?? base.serviceTiers,
    flexThrottle: patch.flexThrottle ?? base.flexThrottle,
    async: { ...base.async, ...stripUndefined(patch.async ?? {}) },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Per-model runtime settings; effective settings layer built-ins < `*` < base model id < exact model id. */
export class SettingsStore {
  private readonly patches = new Map<string, StoredPatch>();

  apply(key: string, patch: SettingsPatch): void {
    const { family: _family, ...settings } = patch;
    const previous = this.patches.get(key);
    // Keep the merged patch (not the merged settings) so `*` changes still show through a model's own patch.
    this.patches.set(key, previous ? mergePatch(previous, settings) : settings);
  }

  effective(...keys: string[]): ModelSettings {
    let settings = merge(BUILT_IN_DEFAULTS, this.patches.get(DEFAULT_KEY) ?? {});
    for (const key of [...new Set(keys)].reverse()) {
      if (key === DEFAULT_KEY) continue;
      const patch = this.patches.get(key);
      if (patch) settings = merge(settings, patch);
    }
    return settings;
  }

  keys(): string[] {
    return [...this.patches.keys()];
  }

  clear(): void {
    this.patches.clear();
  }
}

function mergePatch(previous: StoredPatch, next: StoredPatch): StoredPatch {
  return {
    ...previous,
    ...stripUndefined(next),
    latencyMs: { ...previous.latencyMs, ...stripUndefined(next.latencyMs ?? {}) },
    faults: { ...previous.faults, ...stripUndefined(next.faults ?? {}) },
    quota: { ...previous.quota, ...stripUndefined(next.quota ?? {}) },
    async: { ...previous.async, ...stripUndefined(next.async ?? {}) },
  };
}
