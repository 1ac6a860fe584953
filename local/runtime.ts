import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ENV } from '../lambda/core/settings';
import { startAwsFaultLayer, type AwsFaults } from './aws-faults';
import { startBedrockSimulator } from './bedrock-sim';
import { locateFunctionCode, readStackArtifact, type StackArtifact } from './cloud-assembly';
import { startEmulators, type ServiceEndpoints } from './emulators';
import { EventSourcePoller, DEFAULT_POLLER_CONCURRENCY, type SqsEventSourceMapping } from './event-source-poller';
import { displayName, FunctionHost, formatFunctionLogLine, type FunctionDefinition } from './function-host';
import { UnresolvableIntrinsicError } from './intrinsics';
import { readRestApis, startApiServer, type ApiServer } from './rest-api';
import { readScheduledRules, RuleScheduler, type ScheduledInvocation } from './scheduled-rules';
import { synthesizeQuarry } from './synth';
import { createAwsClients, createTopology, localCredentials, LocalTopology, type AwsClients, type Log } from './topology';

export interface LocalRuntimeOptions {
  /** API port; 0 picks a free one. @default PORT env, else 3000 */
  port?: number;
  /** Raw Quarry configuration (lib/config.ts input) the app is synthesized with. @default as `cdk synth` reads it (QUARRY_CONFIG, cdk.json) */
  config?: Record<string, unknown>;
  /** Directory for the synthesized cloud assembly. @default a temporary directory, removed by stop() */
  outdir?: string;
  /** Reuse the assembly in `outdir` when the app's sources and config did not change since it was built. @default false */
  reuseAssembly?: boolean;
  /** Use this already synthesized cloud assembly instead of synthesizing the app. */
  assembly?: string;
  /** Stack to run when the assembly holds several. @default the one with Lambda functions */
  stackName?: string;
  /** Print nothing (runtime lines and function logs go to `log`/`functionLog` only if given). */
  quiet?: boolean;
  log?: Log;
  /** Receives each function log line (raw). @default printed compactly unless quiet */
  functionLog?: (functionName: string, line: string) => void;
  /** Bedrock simulator port; 0 picks a free one. @default API port + 10 (0 when the API port is 0) */
  bedrockPort?: number;
  /** @default AWS_REGION env, else us-east-1 */
  region?: string;
  /** Environment the runtime reads AWS_ENDPOINT_URL_* from. @default process.env */
  env?: Record<string, string | undefined>;
  /** Port of the AWS fault layer's admin API (`/_faults`); 0 picks a free one. @default API port + 11 (0 when the API port is 0) */
  faultsPort?: number;
  /** Seeds the fault rules' `rate` draws, so a run can be repeated. @default random */
  faultsSeed?: number;
  /**
   * Runs every scheduled rule with a `rate(...)` expression at this interval (ms) instead of its own, e.g. 500 in
   * tests; 0 runs none on a timer (runScheduled() still does). @default each rule's rate
   */
  scheduleIntervalMs?: number;
}

export interface LocalResources {
  jobsTable?: string;
  jobsQueueUrl?: string;
  deadLetterQueueUrl?: string;
  topicArn?: string;
  resultsBucket?: string;
  /** The bucket a request's attachments may be in (`s3Location`), under `<tenant>/`. */
  inputsBucket?: string;
}

export interface LocalRuntime {
  apiUrl: string;
  bedrockUrl: string;
  region: string;
  endpoints: ServiceEndpoints;
  resources: LocalResources;
  /** The key of tenant `default` (else the first key) when the stack defines API keys; send it as `x-api-key`. */
  apiKey?: string;
  /** Every API key issued at start, by tenant (the key's `quarry:tenant` tag, else its name, else its logical id). */
  apiKeys: Record<string, string>;
  /** The id of each tenant's key (`requestContext.identity.apiKeyId`, its logical id): the tenant stored on jobs and in SNS attributes. */
  apiKeyIds: Record<string, string>;
  /** The functions as run locally, by logical id. */
  functions: Map<string, FunctionHost>;
  /** The SQS event source mappings' pollers, by the mapping's logical id (their `stats()` say what they delivered). */
  pollers: Map<string, EventSourcePoller>;
  /** SDK clients on the local endpoints (the runtime's own; tests may use them). They bypass the fault layer. */
  clients: AwsClients;
  /** The endpoints the functions use: the fault layer's proxies in front of `endpoints`. */
  faultEndpoints: ServiceEndpoints;
  /** Base URL of the fault layer's admin API: `${faultsUrl}/_faults` (see local/README.md). */
  faultsUrl: string;
  /** The fault layer's rules and counters, in process (what the admin API drives). */
  faults: AwsFaults;
  /**
   * Runs the targets of the template's scheduled rules now (all enabled ones, or those `name` designates: a rule's
   * or target function's logical id or name) and resolves when their invocations have finished. A run of the same
   * rule in progress finishes first: two runs of one rule never overlap.
   */
  runScheduled(name?: string): Promise<ScheduledInvocation[]>;
  /** The local values of the template's resources, by logical id. */
  topology: LocalTopology;
  stop(): Promise<void>;
}

/** The tenant whose key `apiKey` is. */
const DEFAULT_TENANT = 'default';
/** Lambda's default function timeout (s) and memory (MB) when the template names none. */
const DEFAULT_TIMEOUT_SECONDS = 3;
const DEFAULT_MEMORY_MB = 128;
/** Longest wait for one shutdown step (servers, pollers and functions, emulators). */
const STOP_STEP_TIMEOUT_MS = 5000;
/** Warm containers per function at most when neither reserved concurrency nor a mapping bounds it. */
const DEFAULT_FUNCTION_CONCURRENCY = 10;

/**
 * Runs the synthesized stack on this machine: emulators (or AWS_ENDPOINT_URL_* endpoints) behind a fault-injecting
 * layer, the Bedrock simulator, the template's tables, queues, topics, subscriptions and buckets, its functions'
 * bundles in worker threads, its SQS event source mappings as pollers, its scheduled rules on timers and its REST
 * API on a local HTTP server.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const env = options.env ?? process.env;
  // The deployed functions run on Node.js 22+; the SDK's notice about this machine's Node is noise locally.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const region = options.region ?? env.AWS_REGION ?? 'us-east-1';
  const port = options.port ?? Number(env.PORT ?? 3000);
  const print: Log = options.log ?? (options.quiet ? () => undefined : (line) => console.log(line));
  // Quiet without a functionLog: nobody reads the functions' output, so their containers drop it where it is written.
  const printFunctionLog = options.functionLog ?? (options.quiet ? undefined : (fn: string, line: string) => {
    const formatted = formatFunctionLogLine(fn, line);
    if (formatted) console.log(formatted);
  });

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      // A step that does not finish (a socket that never closes) must not keep the caller from exiting.
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          print(`stop: a step did not finish within ${STOP_STEP_TIMEOUT_MS} ms; going on`);
          resolve();
        }, STOP_STEP_TIMEOUT_MS);
      });
      await Promise.race([stop().catch((error: Error) => print(`stop: ${error.message}`)), bounded]);
      clearTimeout(timer);
    }
  };
  // Emulators start in their own process while the app synthesizes in this one.
  const emulatorsStarting = startEmulators({ region, env });
  const bedrockStarting = env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME
    ? Promise.resolve({ url: env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME, connectS3: () => undefined, stop: async () => undefined })
    : startBedrockSimulator({ port: options.bedrockPort ?? (port === 0 ? 0 : port + 10) });
  stops.push(() => emulatorsStarting.then((e) => e.stop(), () => undefined));
  stops.push(() => bedrockStarting.then((b) => b.stop(), () => undefined));
  try {
    let assemblyDir = options.assembly;
    if (!assemblyDir) {
      const synthStarted = Date.now();
      let outdir = options.outdir;
      if (!outdir) {
        const temporary = mkdtempSync(join(tmpdir(), 'quarry-local-'));
        stops.push(async () => rmSync(temporary, { recursive: true, force: true }));
        outdir = temporary;
      }
      const synth = await synthesizeQuarry({ config: options.config, outdir, reuse: options.reuseAssembly });
      assemblyDir = synth.directory;
      print(synth.reused ? `reusing the cloud assembly in ${assemblyDir} (sources unchanged)` : `synthesized the app in ${Date.now() - synthStarted}ms`);
    }
    const stack = readStackArtifact(assemblyDir, options.stackName);
    const [emulators, bedrock] = await Promise.all([emulatorsStarting, bedrockStarting]);
    // Bedrock writes async invocations' output straight into the caller's bucket: the S3 itself, not the fault layer.
    bedrock.connectS3(emulators.endpoints.s3);
    const faultLayer = await startAwsFaultLayer({
      upstream: emulators.endpoints,
      handlers: emulators.handlers,
      adminPort: options.faultsPort ?? (port === 0 ? 0 : port + 11),
      seed: options.faultsSeed,
      log: print,
    });
    stops.push(() => faultLayer.stop());

    const clients = createAwsClients(emulators.endpoints, region);
    stops.push(async () => {
      for (const client of Object.values(clients)) client.destroy();
    });
    const topology = new LocalTopology(stack.template, region, stack.stackName);
    await createTopology(topology, clients, print);

    const functions = new Map<string, FunctionHost>();
    const pollers = new Map<string, EventSourcePoller>();
    stops.push(async () => {
      // Pollers stop receiving first; stopping the functions then ends in-flight invocations (their records stay queued).
      const polling = [...pollers.values()].map((p) => p.stop());
      await Promise.all([...functions.values()].map((f) => f.stop()));
      await Promise.all(polling);
    });
    const mappings = readEventSourceMappings(topology, print);
    for (const definition of readFunctions(stack, topology, faultLayer.endpoints, bedrock.url, mappings, env, assemblyDir, print)) {
      const shortName = displayName(definition.name);
      functions.set(definition.logicalId, new FunctionHost(definition, print, printFunctionLog && ((line) => printFunctionLog(shortName, line))));
    }
    await Promise.all([...functions.values()].map((f) => f.warm()));

    for (const { functionLogicalId, mapping } of mappings) {
      const fn = functions.get(functionLogicalId);
      if (!fn) continue;
      const poller = new EventSourcePoller({ mapping, function: fn, sqs: clients.sqs, region, log: print });
      poller.start();
      pollers.set(mapping.logicalId, poller);
    }

    const scheduler = new RuleScheduler({ rules: readScheduledRules(topology, print), functions, region, intervalMs: options.scheduleIntervalMs, log: print });
    scheduler.start();
    stops.push(async () => scheduler.stop());

    const apis = readRestApis(topology);
    if (apis.length > 1) print(`serving REST API ${apis[0].logicalId} only; ${apis.slice(1).map((a) => a.logicalId).join(', ')} not served locally`);
    const apiKeys = apis[0]?.apiKeys ?? [];
    let server: ApiServer | undefined;
    if (apis[0]) {
      server = await startApiServer({ api: apis[0], functions, port, log: print });
      const started = server;
      stops.push(() => started.stop());
      for (const key of apiKeys) print(`API key (tenant ${key.tenant}): ${key.value}`);
    }

    return {
      apiUrl: server?.url ?? '',
      bedrockUrl: bedrock.url,
      region,
      endpoints: emulators.endpoints,
      resources: findResourcesByRole(topology, stack),
      apiKey: (apiKeys.find((k) => k.tenant === DEFAULT_TENANT) ?? apiKeys[0])?.value,
      apiKeys: Object.fromEntries(apiKeys.map((k) => [k.tenant, k.value])),
      apiKeyIds: Object.fromEntries(apiKeys.map((k) => [k.tenant, k.id])),
      functions,
      pollers,
      clients,
      faultEndpoints: faultLayer.endpoints,
      faultsUrl: faultLayer.adminUrl,
      faults: faultLayer.faults,
      runScheduled: (name) => scheduler.run(name),
      topology,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function readEventSourceMappings(topology: LocalTopology, log: Log): Array<{ functionLogicalId: string; mapping: SqsEventSourceMapping }> {
  const found: Array<{ functionLogicalId: string; mapping: SqsEventSourceMapping }> = [];
  for (const [id, r] of topology.ofType('AWS::Lambda::EventSourceMapping')) {
    const p = r.Properties ?? {};
    const sourceArn = topology.resolve<string>(p.EventSourceArn, `${id}.EventSourceArn`);
    const queue = [...topology.resources.values()].find((q) => q.type === 'AWS::SQS::Queue' && q.attributes.Arn === sourceArn);
    if (!queue) {
      log(`event source mapping ${id}: ${sourceArn} is not a queue of this stack; not polled locally`);
      continue;
    }
    const fnName = topology.resolve<string>(p.FunctionName, `${id}.FunctionName`);
    const functionLogicalId = [...topology.resources].find(([, f]) => f.type === 'AWS::Lambda::Function' && (f.ref === fnName || f.attributes.Arn === fnName))?.[0];
    if (!functionLogicalId) {
      log(`event source mapping ${id}: function ${fnName} is not part of this stack; not polled locally`);
      continue;
    }
    if (p.FilterCriteria) log(`event source mapping ${id}: FilterCriteria is not applied locally`);
    const scaling = (p.ScalingConfig ?? {}) as { MaximumConcurrency?: number };
    found.push({
      functionLogicalId,
      mapping: {
        logicalId: id,
        queueUrl: queue.ref,
        queueArn: queue.attributes.Arn,
        batchSize: Number(p.BatchSize ?? 10),
        maximumBatchingWindowSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
        reportBatchItemFailures: ((p.FunctionResponseTypes ?? []) as string[]).includes('ReportBatchItemFailures'),
        maximumConcurrency: Number(scaling.MaximumConcurrency ?? DEFAULT_POLLER_CONCURRENCY),
        enabled: p.Enabled !== false && p.Enabled !== 'false',
      },
    });
  }
  return found;
}

function readFunctions(
  stack: StackArtifact,
  topology: LocalTopology,
  endpoints: ServiceEndpoints,
  bedrockUrl: string,
  mappings: Array<{ functionLogicalId: string; mapping: SqsEventSourceMapping }>,
  hostEnv: Record<string, string | undefined>,
  assemblyDir: string,
  log: Log,
): FunctionDefinition[] {
  const { region } = topology;
  return topology.ofType('AWS::Lambda::Function').map(([logicalId, r]) => {
    const p = r.Properties ?? {};
    const local = topology.resources.get(logicalId)!;
    const code = locateFunctionCode(stack, logicalId, join(assemblyDir, '.local-inline'));
    const timeoutSeconds = Number(p.Timeout ?? DEFAULT_TIMEOUT_SECONDS);
    const memoryMb = Number(p.MemorySize ?? DEFAULT_MEMORY_MB);
    const variables = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    const templateEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries(variables)) {
      try {
        templateEnv[name] = String(topology.resolve(value, `${logicalId}.Environment.${name}`));
      } catch (error) {
        if (!(error instanceof UnresolvableIntrinsicError)) throw error;
        log(`${local.ref}: environment variable ${name} left unset: ${error.message}`);
      }
    }
    const fromHost = Object.fromEntries(Object.entries(hostEnv).filter((e): e is [string, string] => e[0].startsWith('POWERTOOLS_') && e[1] !== undefined));
    const runtime = String(p.Runtime ?? 'nodejs22.x');
    // Lambda tells a function with the JSON log format its format and application log level (Powertools reads both).
    const logging = p.LoggingConfig as { LogFormat?: string; ApplicationLogLevel?: string } | undefined;
    const loggingEnv: Record<string, string> =
      logging?.LogFormat === 'JSON' ? { AWS_LAMBDA_LOG_FORMAT: 'JSON', ...(logging.ApplicationLogLevel && { AWS_LAMBDA_LOG_LEVEL: logging.ApplicationLogLevel }) } : {};
    const env: Record<string, string> = {
      PATH: hostEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      ...templateEnv,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_ENDPOINT_URL_SNS: endpoints.sns,
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrockUrl,
      AWS_LAMBDA_FUNCTION_NAME: local.ref,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${local.ref}`,
      AWS_LAMBDA_LOG_STREAM_NAME: 'local/[$LATEST]local',
      ...loggingEnv,
      AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
      LAMBDA_TASK_ROOT: code.taskRoot,
      _HANDLER: String(p.Handler ?? 'index.handler'),
      // The deployed runtime is Node.js 22+; the SDK's notice about this machine's older Node is noise here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // No X-Ray daemon locally.
      POWERTOOLS_TRACE_ENABLED: 'false',
      ...fromHost,
    };
    const reserved = p.ReservedConcurrentExecutions !== undefined ? Number(p.ReservedConcurrentExecutions) : undefined;
    const fromMappings = mappings.filter((m) => m.functionLogicalId === logicalId).reduce((sum, m) => sum + m.mapping.maximumConcurrency, 0);
    return {
      logicalId,
      name: local.ref,
      arn: local.attributes.Arn,
      code,
      timeoutSeconds,
      memoryMb,
      env,
      maxConcurrency: reserved ?? Math.max(DEFAULT_FUNCTION_CONCURRENCY, fromMappings),
    };
  });
}

/** Finds the pipeline's resources by the role the functions' environment gives them (lambda/core/settings.ts ENV). */
function findResourcesByRole(topology: LocalTopology, stack: StackArtifact): LocalResources {
  const valueOf = (envName: string): string | undefined => {
    for (const [id, r] of Object.entries(stack.template.Resources)) {
      if (r.Type !== 'AWS::Lambda::Function') continue;
      const raw = (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.[envName];
      if (raw === undefined) continue;
      try {
        return String(topology.resolve(raw, `${id}.${envName}`));
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  const jobsQueueUrl = valueOf(ENV.jobsQueueUrl);
  const jobsQueueId = [...topology.resources].find(([, q]) => q.type === 'AWS::SQS::Queue' && q.ref === jobsQueueUrl)?.[0];
  const redrive = jobsQueueId ? stack.template.Resources[jobsQueueId].Properties?.RedrivePolicy : undefined;
  let deadLetterQueueUrl: string | undefined;
  if (redrive) {
    const target = topology.resolve<{ deadLetterTargetArn?: string }>(redrive, `${jobsQueueId}.RedrivePolicy`).deadLetterTargetArn;
    deadLetterQueueUrl = [...topology.resources.values()].find((q) => q.type === 'AWS::SQS::Queue' && q.attributes.Arn === target)?.ref;
  }
  return {
    jobsTable: valueOf(ENV.jobsTable),
    jobsQueueUrl,
    deadLetterQueueUrl,
    topicArn: valueOf(ENV.eventsTopicArn),
    resultsBucket: valueOf(ENV.resultsBucket),
    inputsBucket: valueOf(ENV.inputsBucket),
  };
}

/** Writes `.local/endpoints.json` as ARCHITECTURE.md specifies it. */
export function writeEndpointsFile(runtime: LocalRuntime, file = join('.local', 'endpoints.json')): string {
  mkdirSync(dirname(file), { recursive: true });
  const content = {
    apiUrl: runtime.apiUrl,
    bedrockUrl: runtime.bedrockUrl,
    region: runtime.region,
    endpoints: runtime.endpoints,
    faultsUrl: runtime.faultsUrl,
    faultEndpoints: runtime.faultEndpoints,
    resources: {
      jobsTable: runtime.resources.jobsTable,
      jobsQueueUrl: runtime.resources.jobsQueueUrl,
      deadLetterQueueUrl: runtime.resources.deadLetterQueueUrl,
      topicArn: runtime.resources.topicArn,
      resultsBucket: runtime.resources.resultsBucket,
      inputsBucket: runtime.resources.inputsBucket,
    },
    ...(runtime.apiKey ? { apiKey: runtime.apiKey, apiKeys: runtime.apiKeys } : {}),
  };
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}
