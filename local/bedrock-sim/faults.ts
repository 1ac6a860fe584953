import { BedrockError, MESSAGES } from './errors';
import { hashText, seededRandom } from './random';
import { FAULT_KINDS, type FaultKind } from './settings';

const FAULT_ERRORS: Record<Exclude<FaultKind, 'streamError'>, () => BedrockError> = {
  throttle: () => new BedrockError('ThrottlingException', MESSAGES.throttled),
  unavailable: () => new BedrockError('ServiceUnavailableException', MESSAGES.unavailable),
  internal: () => new BedrockError('InternalServerException', MESSAGES.internal),
  timeout: () => new BedrockError('ModelTimeoutException', MESSAGES.timeout),
  notReady: () => new BedrockError('ModelNotReadyException', MESSAGES.notReady),
};

export interface FaultDecision {
  /** The error to answer instead of the model's output. */
  error?: BedrockError;
  /** Streaming operations break off with a modelStreamErrorException frame after some content. */
  streamError: boolean;
}

/**
 * Fault decisions from one seeded PRNG per model id: every request draws once per fault kind, in a fixed
 * order, whatever the probabilities, so the same seed and the same request sequence give the same faults.
 */
export class FaultDice {
  private readonly streams = new Map<string, () => number>();

  constructor(private seed: number) {}

  reseed(seed: number): void {
    this.seed = seed;
    this.streams.clear();
  }

  /** Whether a flex request is throttled: its own seeded stream, so it leaves the other faults' sequence as it was. */
  flexThrottled(modelId: string, probability: number): boolean {
    if (probability <= 0) return false;
    const key = `flex\u0000${modelId}`;
    let random = this.streams.get(key);
    if (!random) {
      random = seededRandom(hashText(`${this.seed}\u0000flex\u0000${modelId}`));
      this.streams.set(key, random);
    }
    return random() < probability;
  }

  roll(modelId: string, probabilities: Record<FaultKind, number>): FaultDecision {
    let random = this.streams.get(modelId);
    if (!random) {
      random = seededRandom(hashText(`${this.seed}\u0000faults\u0000${modelId}`));
      this.streams.set(modelId, random);
    }
    const draws = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, random()])) as Record<FaultKind, number>;
    const hit = (kind: FaultKind) => draws[kind] < probabilities[kind];
    const errorKind = FAULT_KINDS.find((kind): kind is Exclude<FaultKind, 'streamError'> => kind !== 'streamError' && hit(kind));
    return { error: errorKind ? FAULT_ERRORS[errorKind]() : undefined, streamError: hit('streamError') };
  }
}
