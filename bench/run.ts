import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { batchBenchmark } from './batch';
import { chaosBenchmark } from './chaos';
import { coldStartBenchmark } from './coldstart';
import { faultsBenchmark } from './faults';
import { goodputBenchmark } from './goodput';
import { sharedQuotaBenchmark } from './goodput-shared';
import { pipelineBenchmark } from './pipeline';
import { routingBenchmark } from './routing';

/** `npm run bench -- <name>`: runs benchmarks on the local runtime and writes their results to bench/results/; no name lists them. */
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
  'goodput-shared': () =>
    sharedQuotaBenchmark({
      rpm: Number(process.env.BENCH_RPM ?? 120),
      tpm: Number(process.env.BENCH_TPM ?? 100_000),
      share: Number(process.env.BENCH_SHARE ?? 0.5),
      load: Number(process.env.BENCH_LOAD ?? 1.3),
      maxTokens: Number(process.env.BENCH_MAX_TOKENS ?? 50),
      modelLatencyMs: Number(process.env.BENCH_MODEL_LATENCY_MS ?? 300),
      fullSeconds: Number(process.env.BENCH_FULL_SECONDS ?? 60),
      sharedSeconds: Number(process.env.BENCH_SHARED_SECONDS ?? 150),
      restoredSeconds: Number(process.env.BENCH_RESTORED_SECONDS ?? 120),
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
  routing: () => routingBenchmark(),
  batch: () =>
    batchBenchmark({
      requests: Number(process.env.BENCH_BATCH_REQUESTS ?? 10_000),
      rpm: Number(process.env.BENCH_RPM ?? 6_000),
      modelLatencyMs: Number(process.env.BENCH_MODEL_LATENCY_MS ?? 200),
    }),
  pipeline: () =>
    pipelineBenchmark({
      jobs: Number(process.env.BENCH_PIPELINE_JOBS ?? 300),
      modelLatencyMs: Number(process.env.BENCH_MODEL_LATENCY_MS ?? 0),
      // Offered above the 40 jobs/s the local runtime is meant to sustain: jobs/s can only come out under the offered rate.
      rate: Number(process.env.BENCH_PIPELINE_RATE ?? 50),
      warmupJobs: Number(process.env.BENCH_PIPELINE_WARMUP_JOBS ?? 100),
      pollIntervalMs: Number(process.env.BENCH_PIPELINE_POLL_MS ?? 250),
    }),
};

/** What `npm run bench` with no name lists: a line on each benchmark and how long it usually takes on this machine. */
const BENCHMARK_INFO: Record<string, { description: string; typically: string }> = {
  goodput: { description: 'a burst of 10x the quota: admission control vs SDK retries + SQS redelivery (makespan, throttled calls)', typically: '~20 min' },
  'goodput-shared': { description: 'jobs above the quota while another application takes half of it, then gives it back: admitted rate per phase vs the quota, throttled calls, recovery time', typically: '~5 min' },
  faults: { description: 'jobs under each simulator fault: successes, failures, retries, fallbacks, DLQ', typically: '~4 min' },
  chaos: { description: 'Bedrock and AWS faults, blackouts, crashes, duplicates: stuck, lost, completed twice, unannounced jobs', typically: '10-25 min' },
  coldstart: { description: "each bundle's size and module init against a bundle that only creates the same SDK clients", typically: '~4 min' },
  routing: { description: "content routing on the labeled prompt set: accuracy of the rules alone and with the (simulated) classifier, share escalated, model cost vs always the large model", typically: '~10 s' },
  batch: { description: 'one batch of 10,000 small requests: acceptance time, fan-out rate, makespan vs the quota\'s ideal, DynamoDB and SQS requests per job', typically: '~5 min' },
  pipeline: { description: 'jobs/s, p50/p99 submit-to-terminal and where the time and CPU go, vs the same Converse calls made directly', typically: '~2 min' },
};

function listBenchmarks(): void {
  const names = Object.keys(BENCHMARKS);
  const width = Math.max(...names.map((n) => n.length));
  console.log('npm run bench -- <name> [<name> ...] runs benchmarks on the local runtime (results in bench/results/):\n');
  for (const name of names) {
    const info = BENCHMARK_INFO[name];
    console.log(`  ${name.padEnd(width)}  ${(info?.typically ?? '?').padEnd(9)}  ${info?.description ?? '(no description yet)'}`);
  }
}

async function main() {
  const wanted = process.argv.slice(2).filter((arg) => arg !== '--');
  if (wanted.length === 0 || wanted.includes('--list')) {
    listBenchmarks();
    process.exit(0);
  }
  const unknown = wanted.filter((name) => !(name in BENCHMARKS));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  for (const name of wanted) {
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
