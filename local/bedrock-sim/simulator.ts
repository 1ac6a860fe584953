import { AsyncInvocations, type OutputStore } from './async-invoke';
import { ModelRegistry } from './catalogue';
import { FaultDice } from './faults';
import { QuotaWindows } from './quota';
import { SettingsStore } from './settings';
import { Stats } from './stats';

export const DEFAULT_SEED = 1;

/** Everything the simulator remembers between requests; `reset()` returns it to its start state. */
export class SimulatorState {
  readonly registry = new ModelRegistry();
  readonly settings = new SettingsStore();
  readonly stats = new Stats();
  readonly quotas: QuotaWindows;
  readonly faults: FaultDice;
  /** Where async invocations write their output (the local S3, once connected). */
  readonly output: OutputStore = {};
  readonly asyncInvocations: AsyncInvocations;
  private currentSeed: number;

  constructor(
    private readonly initialSeed: number = DEFAULT_SEED,
    now: () => number = Date.now,
    region = 'us-east-1',
  ) {
    this.currentSeed = initialSeed;
    this.faults = new FaultDice(initialSeed);
    this.quotas = new QuotaWindows(now);
    this.asyncInvocations = new AsyncInvocations(this.output, region, initialSeed);
  }

  get seed(): number {
    return this.currentSeed;
  }

  setSeed(seed: number): void {
    this.currentSeed = seed;
    this.faults.reseed(seed);
    this.asyncInvocations.reseed(seed);
  }

  reset(): void {
    this.registry.clear();
    this.settings.clear();
    this.stats.clear();
    this.quotas.clear();
    this.asyncInvocations.clear();
    this.setSeed(this.initialSeed);
  }
}
