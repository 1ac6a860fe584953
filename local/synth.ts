import { resolve } from 'node:path';
import { buildApp } from '../lib/app';
import type { QuarryConfigInput } from '../lib/config';

export interface SynthOptions {
  /** Raw configuration, validated by lib/config.ts. */
  config?: Record<string, unknown>;
  /** @default a fresh temporary directory */
  outdir?: string;
}

/**
 * Synthesizes the Quarry app in-process (bundling the functions with esbuild, as `cdk synth` does) and returns the
 * cloud assembly directory. cdk-nag and the CloudFormation validation are skipped: they judge the deployment,
 * not the local run, and cost seconds.
 */
export async function synthesizeQuarry(options: SynthOptions): Promise<string> {
  process.env.CDK_VALIDATION ??= 'false';
  process.env.CDK_DISABLE_CLI_TELEMETRY ??= '1';
  const built = buildApp({ config: (options.config ?? {}) as QuarryConfigInput, outdir: options.outdir ? resolve(options.outdir) : undefined, nag: false });
  return built.assembly.directory;
}
