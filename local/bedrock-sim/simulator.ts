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
  private currentSeed: number;

  constructor(
    private readonly initialSeed: number = DEFAULT_SEED,
    now: () => number = Date.now,
  ) {
    this.currentSeed = initialSeed;
    this.faults = new FaultDice(initialSeed);
    this.quotas = new QuotaWindows(now);
  }

  get seed(): number {
    return this.currentSeed;
  }

  setSeed(seed: number): void {
    this.currentSeed = seed;
    this.faults.reseed(seed);
  }

  reset(): void {
    this.registry.clear();
    this.settings.clear();
    this.stats.clear();
    this.quotas.clear();
    this.setSeed(this.initialSeed);
  }
}
