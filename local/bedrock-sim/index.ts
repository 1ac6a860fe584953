import { S3Client } from '@aws-sdk/client-s3';
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
  /** The S3 endpoint async invocations write their output to (the local S3); also settable later with connectS3. */
  s3Endpoint?: string;
}

export interface BedrockSimulator {
  /** e.g. http://127.0.0.1:4010 — use it as the BedrockRuntimeClient `endpoint`. */
  url: string;
  port: number;
  /** Points async invocations' output at an S3 endpoint (Bedrock writes into the caller's bucket). */
  connectS3(endpoint: string): void;
  /** Closes every connection (HTTP/1.1 sockets and HTTP/2 sessions); the port is free once it resolves. */
  stop(): Promise<void>;
}

export async function startBedrockSimulator(options: BedrockSimulatorOptions = {}): Promise<BedrockSimulator> {
  const host = options.host ?? '127.0.0.1';
  const state = new SimulatorState(options.seed ?? DEFAULT_SEED);
  const connectS3 = (endpoint: string) => {
    state.output.client?.destroy();
    // Any credentials: the local S3 does not check them (Bedrock writes with the caller's).
    state.output.client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  };
  if (options.s3Endpoint) connectS3(options.s3Endpoint);
  const server = await listen(state, options.port ?? 0, host);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${server.port}`,
    port: server.port,
    connectS3,
    stop: async () => {
      state.asyncInvocations.clear();
      await server.close();
      state.output.client?.destroy();
    },
  };
}
