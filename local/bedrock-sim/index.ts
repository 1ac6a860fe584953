import { listen } from './server';
import { DEFAULT_SEED, SimulatorState } from './simulator';

export { CATALOGUE, type FamilyName } from './catalogue';
export { DEFAULT_MAX_TOKENS } from './generator';
export { BUILT_IN_DEFAULTS, type ModelSettings, type SettingsPatch } from './settings';
export type { ModelStats } from './stats';

export interface BedrockSimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Seeds generated text and fault decisions; default 1. */
  seed?: number;
}

export interface BedrockSimulator {
  /** e.g. http://127.0.0.1:4010 — use it as the BedrockRuntimeClient `endpoint`. */
  url: string;
  port: number;
  /** Closes every connection (HTTP/1.1 sockets and HTTP/2 sessions); the port is free once it resolves. */
  stop(): Promise<void>;
}

export async function startBedrockSimulator(options: BedrockSimulatorOptions = {}): Promise<BedrockSimulator> {
  const host = options.host ?? '127.0.0.1';
  const state = new SimulatorState(options.seed ?? DEFAULT_SEED);
  const server = await listen(state, options.port ?? 0, host);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${server.port}`, port: server.port, stop: () => server.close() };
}
