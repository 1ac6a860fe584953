import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE, METRIC_SERVICE } from '../../lambda/core/metric-names';
import type { QuarryConfig } from '../config';

/** Repository root: the handlers live in lambda/handlers, the lock file next to package.json. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** The Lambda handlers of Quarry, by the file name of their entry in lambda/handlers. */
export type QuarryHandler = 'submit' | 'status' | 'cancel' | 'batches' | 'batch-runner' | 'invoke' | 'invoke-stream' | 'worker' | 'dead-letter' | 'models' | 'sweep';

export function handlerEntry(handler: QuarryHandler): string {
  return path.join(PROJECT_ROOT, 'lambda', 'handlers', `${handler}.ts`);
}

/**
 * How every Quarry bundle is built (the cold-start benchmark builds its baselines with the same settings):
 * minified; ESM entry points first (`module` before `main`) so esbuild tree-shakes the AWS SDK's and Smithy's ES
 * modules instead of taking their CommonJS builds whole; a source map only when asked for; without tracing, no
 * tracer: QUARRY_BUNDLE_TRACING is then fixed to "off", which drops the Powertools tracer and the X-Ray SDK
 * (lambda/handlers/observability.ts).
 */
export function quarryBundling(sourceMaps: boolean, tracing = true): BundlingOptions {
  return {
    forceDockerBundling: false,
    minify: true,
    sourceMap: sourceMaps,
    ...(sourceMaps && { sourceMapMode: SourceMapMode.DEFAULT, sourcesContent: false }),
    target: 'node22',
    format: OutputFormat.CJS,
    mainFields: ['module', 'main'],
    externalModules: [],
    ...(!tracing && { define: { 'process.env.QUARRY_BUNDLE_TRACING': JSON.stringify('off') } }),
  };
}

/** Whether a function with this environment traces: Powertools' switch, on unless set to false. */
export function tracesWith(environment: Record<string, string>): boolean {
  return environment.POWERTOOLS_TRACE_ENABLED?.toLowerCase() !== 'false';
}

/** Runtime flags of every Quarry function: Node.js resolves stack traces through the source map only if it ships. */
export function quarryRuntimeEnvironment(sourceMaps: boolean): Record<string, string> {
  return sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {};
}

/** `functions.<option>` of the Quarry config of the stack a function is in (false outside a Quarry stack). */
function functionsConfig(scope: Construct): Partial<QuarryConfig['functions']> | undefined {
  return (Stack.of(scope) as Stack & { readonly config?: Partial<Pick<QuarryConfig, 'functions'>> }).config?.functions;
}

function functionOption(scope: Construct, option: 'sourceMaps' | 'tracing'): boolean {
  return functionsConfig(scope)?.[option] ?? false;
}

/** Lambda's system log levels by the config's name (`functions.platformLogs`). */
const SYSTEM_LOG_LEVELS = { DEBUG: lambda.SystemLogLevel.DEBUG, INFO: lambda.SystemLogLevel.INFO, WARN: lambda.SystemLogLevel.WARN } as const;

export interface QuarryFunctionProps {
  /** Which handler in lambda/handlers this function runs. */
  readonly handler: QuarryHandler;
  /** One line for the console. */
  readonly description: string;
  /** Function-specific environment (the names come from lambda/core/settings.ts `ENV`). */
  readonly environment: Record<string, string>;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to the log group when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * Ship a source map and start Node.js with --enable-source-maps (readable stack traces, slower cold start).
   * @default - `functions.sourceMaps` of the stack's Quarry config, else false
   */
  readonly sourceMaps?: boolean;
  /**
   * X-Ray active tracing (and the Powertools tracer in the bundle).
   * @default - `functions.tracing` of the stack's Quarry config, else false
   */
  readonly tracing?: boolean;
  /**
   * Lambda's own lines (START, REPORT, init): WARN keeps only those of failed invocations.
   * @default - `functions.platformLogs` of the stack's Quarry config, else 'WARN'
   */
  readonly platformLogs?: keyof typeof SYSTEM_LOG_LEVELS;
}

/**
 * A Quarry Lambda function with the project's defaults: Node.js 22 on arm64, bundled by the local esbuild
 * (minified, tree-shaken, source maps only on request), X-Ray active tracing on request, its own log group with a retention,
 * Lambda's JSON log format (platform lines of failed invocations only, unless `functions.platformLogs` says otherwise),
 * Powertools settings.
 *
 * The AWS SDK v3 is bundled rather than taken from the runtime: the functions then run the exact client
 * versions the lock file pins and the tests ran (the runtime's copy changes under us and lacks
 * lib-dynamodb/s3-request-presigner guarantees), and tree-shaking keeps the bundle small.
 */
export class QuarryFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly logGroup: logs.LogGroup;
  /** The execution role: log writes to its own log group, X-Ray, and what the stack grants; no managed policy. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: QuarryFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.description.split(':')[0]}`,
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:CreateLogGroup/PutLogEvents on every log group).
    this.logGroup.grantWrite(this.role);
    const sourceMaps = props.sourceMaps ?? functionOption(this, 'sourceMaps');
    const tracing = props.tracing ?? functionOption(this, 'tracing');
    const logLevel = props.logLevel ?? 'INFO';
    const environment: Record<string, string> = {
      ...quarryRuntimeEnvironment(sourceMaps),
      POWERTOOLS_TRACE_ENABLED: String(tracing),
      POWERTOOLS_SERVICE_NAME: METRIC_SERVICE,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: logLevel,
      ...props.environment,
    };
    this.function = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: handlerEntry(props.handler),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      logGroup: this.logGroup,
      // Lambda's JSON log format: its own lines filtered by level (START/REPORT are INFO). The functions' lines
      // (Powertools JSON and EMF metrics) pass as written; Lambda reads an EMF object, which has no level, as INFO, so
      // the application level is never above INFO (Powertools drops its own lines below POWERTOOLS_LOG_LEVEL).
      loggingFormat: lambda.LoggingFormat.JSON,
      systemLogLevelV2: SYSTEM_LOG_LEVELS[props.platformLogs ?? functionsConfig(this)?.platformLogs ?? 'WARN'],
      applicationLogLevelV2: logLevel === 'DEBUG' ? lambda.ApplicationLogLevel.DEBUG : lambda.ApplicationLogLevel.INFO,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      environment,
      bundling: quarryBundling(sourceMaps, tracesWith(environment)),
    });
    if (tracing) {
      Validations.of(this).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; the statement holds only these two actions.',
      });
    }
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-L1',
        reason: 'Pinned to Node.js 22 on purpose: the esbuild target (node22) and the local runtime are tested against it; moving to a newer runtime is a deliberate, tested upgrade, not a silent one.',
      },
    );
  }
}
