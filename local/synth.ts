import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { QuarryConfigInput } from '../lib/config';

export interface SynthOptions {
  /** Raw configuration, validated by lib/config.ts. @default what `cdk synth` reads: QUARRY_CONFIG, cdk.json's `quarry` context */
  config?: Record<string, unknown>;
  /** @default a fresh temporary directory */
  outdir?: string;
  /**
   * Reuse the assembly already in `outdir` when nothing it was built from changed (bin/, lib/, lambda/, cdk.json,
   * package-lock.json, the config). @default false
   */
  reuse?: boolean;
}

const PROJECT_ROOT = resolve(__dirname, '..');
const SYNTH_KEY_FILE = '.quarry-local-synth-key';

/** Fingerprint of everything a synth depends on: file paths, sizes and modification times, and the config. */
function synthKey(config: unknown): string {
  const hash = createHash('sha256').update(JSON.stringify(config ?? null));
  const configFile = process.env.QUARRY_CONFIG;
  if (config === undefined && configFile) hash.update(existsSync(configFile) ? readFileSync(configFile) : 'missing');
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (entry !== 'node_modules') visit(join(path, entry));
    } else {
      hash.update(`${path}:${stat.size}:${stat.mtimeMs}\n`);
    }
  };
  for (const entry of ['bin', 'lib', 'lambda', 'cdk.json', 'package-lock.json']) visit(join(PROJECT_ROOT, entry));
  return hash.digest('hex');
}

/**
 * Synthesizes the Quarry app in-process (bundling the functions with esbuild, as `cdk synth` does) and returns the
 * cloud assembly directory. cdk-nag and the CloudFormation validation are skipped: they judge the deployment,
 * not the local run, and cost seconds.
 */
export async function synthesizeQuarry(options: SynthOptions): Promise<{ directory: string; reused: boolean }> {
  const outdir = options.outdir ? resolve(options.outdir) : undefined;
  const key = options.reuse && outdir ? synthKey(options.config) : undefined;
  if (key && outdir && existsSync(join(outdir, SYNTH_KEY_FILE)) && readFileSync(join(outdir, SYNTH_KEY_FILE), 'utf8') === key) {
    return { directory: outdir, reused: true };
  }
  process.env.CDK_VALIDATION ??= 'false';
  process.env.CDK_DISABLE_CLI_TELEMETRY ??= '1';
  // Else aws-cdk-lib wraps every fs and child_process function of this process in a timer, for good.
  process.env.CDK_NO_PERF_BUILTINS ??= '1';
  // Loaded only when needed: aws-cdk-lib takes a second or two to load, and a reused assembly does not need it.
  const { buildApp } = await import('../lib/app');
  const built = buildApp({ config: options.config as QuarryConfigInput | undefined, outdir, nag: false });
  if (key) writeFileSync(join(built.assembly.directory, SYNTH_KEY_FILE), key);
  return { directory: built.assembly.directory, reused: false };
}
