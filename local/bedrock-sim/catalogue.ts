import { BedrockError, MESSAGES } from './errors';

export type FamilyName = 'anthropic' | 'nova' | 'llama';

interface CatalogueEntry {
  family: FamilyName;
  /** Bedrock refuses on-demand invocation of these; only an inference profile (`us.`...) reaches them. */
  profileOnly?: boolean;
  /** Largest max-tokens value the model accepts; beyond it Bedrock answers ValidationException. */
  maxOutputTokens: number;
  /** Served only by StartAsyncInvoke (video generation): InvokeModel and Converse refuse it. */
  asyncOnly?: boolean;
}

/** Foundation model ids (without cross-region prefix) the simulator knows out of the box. */
export const CATALOGUE: Readonly<Record<string, CatalogueEntry>> = {
  'anthropic.claude-3-haiku-20240307-v1:0': { family: 'anthropic', maxOutputTokens: 4096 },
  'anthropic.claude-3-5-sonnet-20240620-v1:0': { family: 'anthropic', maxOutputTokens: 8192 },
  'anthropic.claude-3-5-haiku-20241022-v1:0': { family: 'anthropic', profileOnly: true, maxOutputTokens: 8192 },
  'anthropic.claude-3-7-sonnet-20250219-v1:0': { family: 'anthropic', profileOnly: true, maxOutputTokens: 64000 },
  'anthropic.claude-sonnet-4-20250514-v1:0': { family: 'anthropic', profileOnly: true, maxOutputTokens: 64000 },
  'anthropic.claude-opus-4-1-20250805-v1:0': { family: 'anthropic', profileOnly: true, maxOutputTokens: 32000 },
  'amazon.nova-micro-v1:0': { family: 'nova', maxOutputTokens: 10000 },
  'amazon.nova-lite-v1:0': { family: 'nova', maxOutputTokens: 10000 },
  'amazon.nova-pro-v1:0': { family: 'nova', maxOutputTokens: 10000 },
  'amazon.nova-reel-v1:0': { family: 'nova', maxOutputTokens: 0, asyncOnly: true },
  'amazon.nova-reel-v1:1': { family: 'nova', maxOutputTokens: 0, asyncOnly: true },
  'meta.llama3-8b-instruct-v1:0': { family: 'llama', maxOutputTokens: 2048 },
  'meta.llama3-70b-instruct-v1:0': { family: 'llama', maxOutputTokens: 2048 },
};

const CROSS_REGION_PREFIX = /^(us|eu|apac|global|us-gov|jp|au|ca)\./;
const BEDROCK_ARN = /^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:([a-z-]+)\/(.+)$/;

export interface ResolvedModel {
  /** The id exactly as the caller sent it (stats, quotas and settings are keyed by it). */
  modelId: string;
  /** The id with cross-region prefix / ARN wrapping removed; a second settings lookup key. */
  baseId: string;
  family: FamilyName;
  /** Undefined for registered models: no limit. */
  maxOutputTokens?: number;
  /** A prompt router: its small and large model (it answers as one of them, README "Prompt routers"). */
  router?: { small: string; large: string };
  /** Served only by StartAsyncInvoke. */
  asyncOnly?: boolean;
}

/** The models a prompt router of each family routes between (the ids its trace reports). */
const ROUTER_MODELS: Record<FamilyName, { small: string; large: string }> = {
  anthropic: { small: 'anthropic.claude-3-haiku-20240307-v1:0', large: 'anthropic.claude-3-5-sonnet-20240620-v1:0' },
  llama: { small: 'meta.llama3-1-8b-instruct-v1:0', large: 'meta.llama3-1-70b-instruct-v1:0' },
  nova: { small: 'amazon.nova-lite-v1:0', large: 'amazon.nova-pro-v1:0' },
};

export function inferFamily(modelId: string): FamilyName {
  if (/nova|amazon\./.test(modelId)) return 'nova';
  if (/llama|meta\./.test(modelId)) return 'llama';
  return 'anthropic';
}

/** Registered models (admin API) plus the catalogue. */
export class ModelRegistry {
  private readonly registered = new Map<string, FamilyName>();

  register(modelId: string, family: FamilyName | undefined): void {
    const current = this.registered.get(modelId) ?? this.lookupKnown(modelId)?.family ?? CATALOGUE[modelId]?.family;
    this.registered.set(modelId, family ?? current ?? inferFamily(modelId));
  }

  isRegistered(modelId: string): boolean {
    return this.registered.has(modelId);
  }

  knownIds(): string[] {
    return [...new Set([...Object.keys(CATALOGUE), ...this.registered.keys()])];
  }

  clear(): void {
    this.registered.clear();
  }

  /** Resolves without raising; undefined when the id names nothing known. */
  lookupKnown(modelId: string): ResolvedModel | undefined {
    try {
      return this.resolve(modelId);
    } catch {
      return undefined;
    }
  }

  /** True when the id names a model, even one only reachable through an inference profile. */
  knows(modelId: string): boolean {
    try {
      this.resolve(modelId);
      return true;
    } catch (error) {
      return error instanceof BedrockError && error.code === 'ValidationException';
    }
  }

  /** Resolves the id the caller sent, or raises the error Bedrock would answer. */
  resolve(modelId: string): ResolvedModel {
    const registered = this.registered.get(modelId);
    if (registered) return { modelId, baseId: modelId, family: registered };

    const arn = BEDROCK_ARN.exec(modelId);
    if (arn) {
      const [, resourceType, resourceId] = arn;
      if (resourceType === 'application-inference-profile') return { modelId, baseId: modelId, family: 'anthropic' };
      if (resourceType === 'default-prompt-router' || resourceType === 'prompt-router') {
        const family: FamilyName = resourceId.startsWith('meta.') ? 'llama' : resourceId.startsWith('amazon.') ? 'nova' : 'anthropic';
        return { modelId, baseId: modelId, family, router: ROUTER_MODELS[family] };
      }
      if (resourceType === 'foundation-model' || resourceType === 'inference-profile') {
        const inner = this.resolve(resourceId);
        return { ...inner, modelId };
      }
      throw new BedrockError('ResourceNotFoundException', MESSAGES.notFound);
    }

    const prefixed = CROSS_REGION_PREFIX.test(modelId);
    const baseId = modelId.replace(CROSS_REGION_PREFIX, '');
    const registeredBase = this.registered.get(baseId);
    if (registeredBase) return { modelId, baseId, family: registeredBase };
    const entry = CATALOGUE[baseId];
    if (!entry) throw new BedrockError('ResourceNotFoundException', MESSAGES.notFound);
    if (entry.profileOnly && !prefixed) {
      throw new BedrockError(
        'ValidationException',
        `Invocation of model ID ${modelId} with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
      );
    }
    return { modelId, baseId, family: entry.family, maxOutputTokens: entry.maxOutputTokens, ...(entry.asyncOnly && { asyncOnly: true }) };
  }
}
