import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_WORKLOAD, measureWorkload, type Measurement } from './measure';
import { buildReport, DEFAULT_PRICING, formatReport } from './report';

const USAGE = `npm run cost [-- options]

Measures a workload on the local runtime and prices it per 1M jobs (README.md, "Cost").

Workload (measured):
  --jobs N               jobs measured (default ${DEFAULT_WORKLOAD.jobs}; ${DEFAULT_WORKLOAD.warmupJobs} warm-up jobs run first)
  --prompt-bytes N       prompt size (default ${DEFAULT_WORKLOAD.promptBytes})
  --result-bytes N       answer size (default ${DEFAULT_WORKLOAD.resultBytes})
  --batch N              worker.batchSize of the measured stack and the priced records per invocation (default ${DEFAULT_PRICING.batchSize})
  --memory MB            worker.memorySize of the measured stack and the priced worker memory (default ${DEFAULT_PRICING.workerMemoryMb})
  --config JSON          further Quarry configuration for the measured stack
Pricing:
  --latency-ms N         model latency added to the worker's duration (default ${DEFAULT_PRICING.modelLatencyMs})
  --polls N              polls per job in the "with polls" total (default ${DEFAULT_PRICING.pollsPerJob}: SNS only)
  --monthly-jobs N       monthly volume, for X-Ray's sampled share (default ${DEFAULT_PRICING.monthlyJobs})
  --from FILE            price a saved result (bench/results/cost-*.json) instead of measuring again
`;

async function main() {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string' },
      'prompt-bytes': { type: 'string' },
      'result-bytes': { type: 'string' },
      batch: { type: 'string' },
      memory: { type: 'string' },
      config: { type: 'string' },
      'latency-ms': { type: 'string' },
      polls: { type: 'string' },
      'monthly-jobs': { type: 'string' },
      from: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const number = (name: keyof typeof values, fallback: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, not ${raw}`);
    return n;
  };
  const pricing = {
    ...DEFAULT_PRICING,
    modelLatencyMs: number('latency-ms', DEFAULT_PRICING.modelLatencyMs),
    batchSize: number('batch', DEFAULT_PRICING.batchSize),
    workerMemoryMb: number('memory', DEFAULT_PRICING.workerMemoryMb),
    pollsPerJob: number('polls', DEFAULT_PRICING.pollsPerJob),
    monthlyJobs: number('monthly-jobs', DEFAULT_PRICING.monthlyJobs),
  };

  if (!Number.isInteger(pricing.batchSize) || pricing.batchSize < 1) throw new Error('--batch must be a whole number of at least 1');
  if (pricing.workerMemoryMb < 128) throw new Error('--memory must be at least 128 (MB)');
  let measurement: Measurement;
  if (values.from) {
    measurement = (JSON.parse(readFileSync(values.from, 'utf8')) as { measurement: Measurement }).measurement;
  } else {
    const started = Date.now();
    measurement = await measureWorkload(
      {
        jobs: number('jobs', DEFAULT_WORKLOAD.jobs),
        promptBytes: number('prompt-bytes', DEFAULT_WORKLOAD.promptBytes),
        resultBytes: number('result-bytes', DEFAULT_WORKLOAD.resultBytes),
        batchSize: pricing.batchSize,
        workerMemoryMb: pricing.workerMemoryMb,
        ...(values.config && { config: JSON.parse(values.config) as Record<string, unknown> }),
      },
      {
        // Synthesized once and reused while the app's sources and the configuration stay the same.
        outdir: path.join(tmpdir(), 'quarry-cost-assembly'),
        reuseAssembly: true,
        log: (line) => console.error(`[cost ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`),
      },
    );
  }
  const report = buildReport(measurement, pricing);
  console.log(formatReport(measurement, report));

  const dir = path.join(__dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `cost-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ measurement, report }, null, 2));
  console.log(`\nresult written to ${path.relative(process.cwd(), file)} (price it again with: npm run cost -- --from ${path.relative(process.cwd(), file)})`);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
