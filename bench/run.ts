import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chaosBenchmark } from './chaos';
import { coldStartBenchmark } from './coldstart';
import { faultsBenchmark } from './faults';
import { goodputBenchmark } from './goodput';
import { pipelineBenchmark } from './pipeline';

/** `npm run bench [-- name]`: runs benchmarks on the local runtime and writes their results to bench/results/. */
const BENCHMARKS: Record<string, () => Promise<Record<string, unknown>>> = {
  goodput: () =>
    goodputBenchmark({
      rpm: Number(process.env.BENCH_RPM ?? 60),
      tpm: Number(process.env.BENCH_TPM ?? 20_000),
      jobs: Number(process.env.BENCH_JOBS ?? 600),
      maxTokens: Number(process.env.BENCH_MAX_TOKENS ?? 200),
      modelLatencyMs: Number(process.env.BENCH_MODEL_LATENCY_MS ?? 300),
      patience: Number(process.env.BENCH_PATIENCE ?? 3),
    }),
  faults: () => faultsBenchmark(Number(process.env.BENCH_FAULT_JOBS ?? 40)),
  chaos: () =>
    chaosBenchmark({
      jobs: Number(process.env.BENCH_CHAOS_JOBS ?? 300),
      submitSeconds: Number(process.env.BENCH_CHAOS_SUBMIT_SECONDS ?? 30),
      only: process.env.BENCH_CHAOS_SCENARIOS?.split(',').map((s) => s.trim()).filter(Boolean),
      seed: process.env.BENCH_CHAOS_SEED ? Number(process.env.BENCH_CHAOS_SEED) : undefined,
    }),
  coldstart: () =>
    coldStartBenchmark({
      runs: Number(process.env.BENCH_COLDSTART_RUNS ?? 15),
      sourceMaps: process.env.BENCH_COLDSTART_SOURCE_MAPS === '1',
      sourceMapRows: process.env.BENCH_COLDSTART_SOURCE_MAP_ROWS !== '0',
    }),
  pipeline: () => pipelineBenchmark({ jobs: Number(process.env.BENCH_PIPELINE_JOBS ?? 100), modelLatencyMs: Number(process.env.BENCH_MODEL_LATENCY_MS ?? 200) }),
};

async function main() {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in BENCHMARKS));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  for (const name of wanted.length ? wanted : Object.keys(BENCHMARKS)) {
    const result = await BENCHMARKS[name]();
    const file = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result));
    if (typeof result.summary === 'string') console.log(result.summary);
    console.log(`${name}: result written to ${path.relative(process.cwd(), file)}`);
  }
  process.exit(0);
}

void main();
