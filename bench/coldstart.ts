import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { buildApp } from '../lib/app';
import { handlerEntry, PROJECT_ROOT, quarryBundling, quarryRuntimeEnvironment, tracesWith, type QuarryHandler } from '../lib/constructs/quarry-function';
import { resolveIntrinsics } from '../local/intrinsics';

/** The client factories of lambda/aws/clients.ts a baseline bundle calls at module load. */
type ClientFactory = 'documentClient' | 'sqsClient' | 'snsClient' | 's3Client' | 'bedrockClient';

/**
 * The SDK clients each handler's bundle holds (what its module creates at load, and the worker's Bedrock
 * client, which it creates on its first call). The bench checks this against the bundles' inputs.
 */
const HANDLER_CLIENTS: Record<QuarryHandler, ClientFactory[]> = {
  submit: ['documentClient', 'sqsClient'],
  status: ['documentClient', 's3Client'],
  cancel: ['documentClient', 'snsClient'],
  batches: ['documentClient', 's3Client', 'sqsClient'],
  'batch-runner': ['documentClient', 's3Client', 'sqsClient', 'snsClient'],
  models: ['documentClient'],
  invoke: ['documentClient', 'bedrockClient'],
  'invoke-stream': ['documentClient', 'bedrockClient'],
  worker: ['documentClient', 'sqsClient', 'snsClient', 's3Client', 'bedrockClient'],
  'dead-letter': ['documentClient', 'sqsClient', 'snsClient'],
  sweep: ['documentClient', 'sqsClient', 'snsClient'],
};

/** The environment Lambda gives a Node.js 22 function (what Powertools and the SDK read at load). */
const LAMBDA_ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  AWS_LAMBDA_FUNCTION_NAME: 'quarry-coldstart',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
  AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/quarry-coldstart',
  AWS_LAMBDA_LOG_STREAM_NAME: 'coldstart',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  _HANDLER: 'index.handler',
  AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
  AWS_XRAY_DAEMON_ADDRESS: '169.254.79.129:2000',
  AWS_ACCESS_KEY_ID: 'AKIDCOLDSTART',
  AWS_SECRET_ACCESS_KEY: 'coldstart',
  TZ: ':UTC',
};

/**
 * Loads one bundle in this (fresh) process and prints how long its module took to load and initialise: wall time
 * (what Lambda bills) and the process's CPU time over the same span (steadier on a shared machine).
 */
const MEASURE = `const { performance } = require('node:perf_hooks');
const c0 = process.cpuUsage();
const t0 = performance.now();
require(process.argv[1]);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ initMs: wall, cpuMs: (cpu.user + cpu.system) / 1000 }));`;

interface Bundle {
  name: string;
  kind: 'handler' | 'baseline';
  dir: string;
  env: Record<string, string>;
  baseline?: string;
}

export interface ColdStartRow {
  bundle: string;
  kind: 'handler' | 'baseline';
  /** index.js, as deployed. */
  bytes: number;
  /** index.js.map next to it (0 without source maps). */
  mapBytes: number;
  initMsMedian: number;
  initMsP90: number;
  /** CPU time of the process over the same span, median. */
  cpuMsMedian: number;
  baseline?: string;
  /** initMsMedian over the baseline's. */
  ratio?: number;
  /** cpuMsMedian over the baseline's. */
  cpuRatio?: number;
  /** The largest packages in the bundle (bytes of output), project sources as `(quarry)`. */
  topPackages: { name: string; bytes: number }[];
  /** Bytes of zod in the bundle. */
  zodBytes: number;
  sdkClients: string[];
}

/**
 * Cold start of every handler bundle against a baseline bundle that only creates the same AWS SDK clients (built
 * by the same esbuild settings, lib/constructs/quarry-function.ts), in one run: bundle sizes, and module init
 * (the `require` of the bundle in a fresh Node.js process with a Lambda-like environment and the function's own
 * environment, NODE_OPTIONS included), repeated, the bundles interleaved so machine noise hits all alike.
 * `sourceMaps` builds everything as `functions.sourceMaps: true` does; `sourceMapRows` (without it) adds a
 * `<handler>+maps` row per handler, so the cost of the opt-in shows in the same run. `tracing` (default: as deployed,
 * or BENCH_COLDSTART_TRACING=on|off) sets every function's POWERTOOLS_TRACE_ENABLED, and with it what its bundle holds.
 */
export async function coldStartBenchmark(options: { runs: number; sourceMaps: boolean; sourceMapRows: boolean; tracing?: boolean }) {
  const tracing = options.tracing ?? (process.env.BENCH_COLDSTART_TRACING ? process.env.BENCH_COLDSTART_TRACING === 'on' : undefined);
  const work = mkdtempSync(path.join(tmpdir(), 'quarry-coldstart-'));
  // Entries must sit under the project root (NodejsFunction), and resolve the project's node_modules.
  const entries = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'quarry-coldstart');
  try {
    const built = buildApp({ config: { functions: { sourceMaps: options.sourceMaps } }, nag: false, bundling: false, outdir: path.join(work, 'quarry') });
    const stack = built.stack;
    const deployed: Record<QuarryHandler, lambda.Function> = {
      submit: stack.submit.function,
      status: stack.status.function,
      cancel: stack.cancel.function,
      batches: stack.batches.function,
      'batch-runner': stack.batchRunner.fn.function,
      models: stack.models.function,
      invoke: stack.invoke.function,
      'invoke-stream': stack.invokeStream.function,
      worker: stack.worker.fn.function,
      'dead-letter': stack.deadLetter.fn.function,
      sweep: stack.sweep.fn.function,
    };
    const environmentOf = (fn: lambda.Function): Record<string, string> => {
      const id = stack.resolve((fn.node.defaultChild as lambda.CfnFunction).logicalId) as string;
      const variables = (built.template.Resources[id].Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
      const env = resolveIntrinsics(variables, { region: 'us-east-1', accountId: '123456789012', ref: (ref) => `ref-${ref}`, getAtt: (ref, attribute) => `${attribute}-of-${ref}` }) as Record<string, string>;
      return tracing === undefined ? env : { ...env, POWERTOOLS_TRACE_ENABLED: String(tracing) };
    };

    mkdirSync(entries, { recursive: true });
    const clientsModule = path.join(PROJECT_ROOT, 'lambda', 'aws', 'clients');
    const baselineName = (clients: ClientFactory[]) => `baseline(${clients.map((c) => c.replace(/Client$/, '')).join('+')})`;
    const baselines = new Map<string, ClientFactory[]>();
    for (const clients of Object.values(HANDLER_CLIENTS)) baselines.set(baselineName(clients), clients);

    const app = new App({ outdir: path.join(work, 'bundles') });
    const bundles = new Stack(app, 'ColdStart');
    const bundled = new Map<string, NodejsFunction>();
    const bundle = (name: string, entry: string, sourceMaps = options.sourceMaps, traced = true) =>
      bundled.set(
        name,
        new NodejsFunction(bundles, name.replace(/[^A-Za-z0-9]/g, ''), {
          entry,
          handler: 'handler',
          runtime: lambda.Runtime.NODEJS_22_X,
          architecture: lambda.Architecture.ARM_64,
          projectRoot: PROJECT_ROOT,
          depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
          bundling: { ...quarryBundling(sourceMaps, traced), metafile: true },
        }),
      );
    const handlers = Object.keys(HANDLER_CLIENTS) as QuarryHandler[];
    const mapRows = options.sourceMapRows && !options.sourceMaps;
    for (const handler of handlers) {
      const traced = tracesWith(environmentOf(deployed[handler]));
      bundle(handler, handlerEntry(handler), options.sourceMaps, traced);
      if (mapRows) bundle(`${handler}+maps`, handlerEntry(handler), true, traced);
    }
    for (const [name, clients] of baselines) {
      const entry = path.join(entries, `${name.replace(/[^A-Za-z0-9]/g, '-')}.ts`);
      writeFileSync(
        entry,
        `import { ${clients.join(', ')} } from ${JSON.stringify(clientsModule)};\n` +
          `const clients = [${clients.map((c) => `${c}()`).join(', ')}];\n` +
          `export const handler = async () => clients.length;\n`,
      );
      bundle(name, entry);
    }
    const assembly = app.synth();
    const dirOf = (fn: NodejsFunction) => path.join(assembly.directory, (fn.node.findChild('Code') as s3assets.Asset).assetPath);

    const list: Bundle[] = [
      ...handlers.map((handler) => ({
        name: handler,
        kind: 'handler' as const,
        dir: dirOf(bundled.get(handler)!),
        env: environmentOf(deployed[handler]),
        baseline: baselineName(HANDLER_CLIENTS[handler]),
      })),
      ...(mapRows ? handlers : []).map((handler) => ({
        name: `${handler}+maps`,
        kind: 'handler' as const,
        dir: dirOf(bundled.get(`${handler}+maps`)!),
        env: { ...environmentOf(deployed[handler]), ...quarryRuntimeEnvironment(true) },
        baseline: baselineName(HANDLER_CLIENTS[handler]),
      })),
      ...[...baselines.keys()].map((name) => ({ name, kind: 'baseline' as const, dir: dirOf(bundled.get(name)!), env: quarryRuntimeEnvironment(options.sourceMaps) })),
    ];

    const samples = new Map<string, Sample[]>(list.map((b) => [b.name, []]));
    for (let run = 0; run <= options.runs; run++) {
      for (const b of list) {
        const sample = measureInit(b);
        if (run > 0) samples.get(b.name)!.push(sample); // the first pass only warms the file cache
      }
    }

    const rows: ColdStartRow[] = list.map((b) => {
      const wall = samples.get(b.name)!.map((x) => x.initMs).sort((x, y) => x - y);
      const cpu = samples.get(b.name)!.map((x) => x.cpuMs).sort((x, y) => x - y);
      const map = path.join(b.dir, 'index.js.map');
      return {
        bundle: b.name,
        kind: b.kind,
        bytes: statSync(path.join(b.dir, 'index.js')).size,
        mapBytes: existsSync(map) ? statSync(map).size : 0,
        initMsMedian: round(quantile(wall, 0.5)),
        initMsP90: round(quantile(wall, 0.9)),
        cpuMsMedian: round(quantile(cpu, 0.5)),
        ...(b.baseline && { baseline: b.baseline }),
        topPackages: packagesOf(b.dir).slice(0, 6),
        zodBytes: packagesOf(b.dir).find((p) => p.name === 'zod')?.bytes ?? 0,
        sdkClients: sdkClientsOf(b.dir),
      };
    });
    const byName = new Map(rows.map((r) => [r.bundle, r]));
    for (const row of rows) {
      if (!row.baseline) continue;
      row.ratio = round(row.initMsMedian / byName.get(row.baseline)!.initMsMedian, 2);
      row.cpuRatio = round(row.cpuMsMedian / byName.get(row.baseline)!.cpuMsMedian, 2);
    }
    const mismatched = rows.filter((r) => r.baseline && r.sdkClients.join() !== byName.get(r.baseline)!.sdkClients.join()).map((r) => `${r.bundle}: ${r.sdkClients.join(', ')} vs ${byName.get(r.baseline!)!.sdkClients.join(', ')}`);

    const deployedRows = rows.filter((r) => !r.bundle.endsWith('+maps'));
    const worst = Math.max(...deployedRows.flatMap((r) => (r.ratio === undefined ? [] : [r.ratio])));
    const worstCpu = Math.max(...deployedRows.flatMap((r) => (r.cpuRatio === undefined ? [] : [r.cpuRatio])));
    const sourceMapCostMs = mapRows ? handlers.map((h) => round(byName.get(`${h}+maps`)!.initMsMedian - byName.get(h)!.initMsMedian)) : [];
    const tracedHandlers = handlers.filter((h) => tracesWith(environmentOf(deployed[h])));
    const tracingSummary = `${tracedHandlers.length === handlers.length ? 'on' : tracedHandlers.length === 0 ? 'off' : `on in ${tracedHandlers.join(', ')}`} (${tracing === undefined ? 'as deployed' : 'BENCH_COLDSTART_TRACING'})`;
    const width = Math.max(...rows.map((r) => r.bundle.length));
    const header = `${'bundle'.padEnd(width)} ${'bytes'.padStart(9)} ${'map bytes'.padStart(9)}  ${'init ms p50'.padStart(11)} ${'p90'.padStart(6)} ${'ratio'.padStart(6)}  ${'cpu ms p50'.padStart(10)} ${'ratio'.padStart(6)}  zod bytes`;
    const times = (n: number | undefined) => (n === undefined ? '' : `${n.toFixed(2)}x`);
    const lines = rows.map(
      (r) =>
        `${r.bundle.padEnd(width)} ${String(r.bytes).padStart(9)} ${String(r.mapBytes).padStart(9)}  ${r.initMsMedian.toFixed(1).padStart(11)} ${r.initMsP90.toFixed(1).padStart(6)} ${times(r.ratio).padStart(6)}  ${r.cpuMsMedian.toFixed(1).padStart(10)} ${times(r.cpuRatio).padStart(6)}  ${r.zodBytes || ''}`,
    );
    const summary = [
      `coldstart: ${options.runs} fresh processes per bundle, node ${process.version}, source maps ${options.sourceMaps ? 'on' : 'off'}, tracing ${tracingSummary}; worst ratio to baseline: wall ${worst.toFixed(2)}x, cpu ${worstCpu.toFixed(2)}x (target <= 1.5x)`,
      header,
      ...lines,
      ...(mapRows ? [`functions.sourceMaps adds ${Math.min(...sourceMapCostMs)} to ${Math.max(...sourceMapCostMs)} ms of init (median, +maps rows against their handler's)`] : []),
      ...(mismatched.length ? [`SDK clients differ from the baseline's: ${mismatched.join('; ')}`] : []),
    ].join('\n');
    return { name: 'coldstart', options: { ...options, tracing: tracedHandlers.length > 0 }, node: process.version, worstRatio: worst, worstCpuRatio: worstCpu, sourceMapCostMs, rows, mismatched, summary };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(entries, { recursive: true, force: true });
  }
}

interface Sample {
  initMs: number;
  cpuMs: number;
}

function measureInit(b: Bundle): Sample {
  const result = spawnSync(process.execPath, ['-e', MEASURE, path.join(b.dir, 'index.js')], {
    cwd: b.dir,
    env: { PATH: process.env.PATH, ...LAMBDA_ENVIRONMENT, LAMBDA_TASK_ROOT: b.dir, ...b.env },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`${b.name}: loading the bundle failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Sample;
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

function metafileOf(dir: string): Metafile {
  return JSON.parse(readFileSync(path.join(dir, 'index.meta.json'), 'utf8')) as Metafile;
}

function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return '(quarry)';
  const parts = input.slice(at + 'node_modules/'.length).split('/');
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Bytes of the bundle by package, largest first. */
function packagesOf(dir: string): { name: string; bytes: number }[] {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafileOf(dir).outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) totals.set(packageOf(input), (totals.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...totals].map(([name, bytes]) => ({ name, bytes })).filter((p) => p.bytes > 0).sort((a, b) => b.bytes - a.bytes);
}

/** The AWS SDK service clients (and lib-dynamodb) whose code made it into the bundle. */
function sdkClientsOf(dir: string): string[] {
  return packagesOf(dir)
    .map((p) => p.name)
    .filter((name) => /^@aws-sdk\/(client-|lib-)/.test(name))
    .sort();
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
