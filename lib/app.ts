import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import type { CfnResource } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as cxapi from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig, parseConfig, type QuarryConfig, type QuarryConfigInput } from './config';
import { PROJECT_ROOT } from './constructs/quarry-function';
import { QuarryStack } from './quarry-stack';

export interface CreateAppOptions {
  /** An App to build into (bin/app.ts passes the CLI's). @default - a new App with cdk.json's context, `outdir` and `context` */
  readonly app?: App;
  /** The configuration (validated with lib/config.ts). @default - read from the app context (`quarry`, `configFile`) or QUARRY_CONFIG */
  readonly config?: QuarryConfigInput;
  /** Cloud assembly directory of a new App. @default - a fresh temporary directory */
  readonly outdir?: string;
  /** Extra context for a new App, over cdk.json's. @default - none */
  readonly context?: Record<string, unknown>;
  /** Bundle the functions with esbuild; false skips bundling (fast, for template-only tests). @default true */
  readonly bundling?: boolean;
  /** Run the cdk-nag AwsSolutions checks on synth. @default true */
  readonly nag?: boolean;
}

export interface QuarryApp {
  readonly app: App;
  readonly stack: QuarryStack;
  readonly config: QuarryConfig;
}

/** Quarry's functions, by role. */
export type QuarryFunctionRole = 'submit' | 'status' | 'worker' | 'deadLetter';

export interface SynthesizedFunction {
  /** Logical id of the AWS::Lambda::Function in the template. */
  readonly logicalId: string;
  /** Construct path, e.g. Quarry/JobWorker/Worker/Function. */
  readonly constructPath: string;
  /** Absolute directory holding the bundled index.js (+ index.js.map); undefined when bundling was skipped. */
  readonly assetDir?: string;
  /** Module export called by Lambda, relative to assetDir: `index.handler`. */
  readonly handler: string;
}

export interface QuarryBuild extends QuarryApp {
  readonly assembly: cxapi.CloudAssembly;
  /** Absolute path of the stack's template in the assembly. */
  readonly templatePath: string;
  /** The synthesized CloudFormation template. */
  readonly template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>; Outputs?: Record<string, unknown> } & Record<string, unknown>;
  readonly functions: Record<QuarryFunctionRole, SynthesizedFunction>;
  /** Logical ids of the resources the local runtime emulates. */
  readonly resources: { jobsTable: string; jobsQueue: string; deadLetterQueue: string; eventsTopic: string; resultsBucket: string; inputsBucket: string; restApi: string };
}

/** cdk.json's context, so an in-process synth behaves as `cdk synth` does (feature flags). */
function cdkJsonContext(): Record<string, unknown> {
  const file = path.join(PROJECT_ROOT, 'cdk.json');
  return existsSync(file) ? ((JSON.parse(readFileSync(file, 'utf8')).context ?? {}) as Record<string, unknown>) : {};
}

/**
 * Builds the Quarry construct tree (not yet synthesized): validates the config, creates the stack and
 * registers cdk-nag. Throws ConfigError (its message names every offending field) for an invalid config.
 */
export function createApp(options: CreateAppOptions = {}): QuarryApp {
  const app =
    options.app ??
    new App({
      outdir: options.outdir ?? mkdtempSync(path.join(tmpdir(), 'quarry-cdk-')),
      context: {
        ...cdkJsonContext(),
        ...(options.bundling === false && { 'aws:cdk:bundling-stacks': [] }),
        ...options.context,
      },
    });
  const config = options.config !== undefined ? parseConfig(options.config) : loadConfig((key) => app.node.tryGetContext(key));
  const stack = new QuarryStack(app, config.stackName, { config });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config };
}

/**
 * Builds and synthesizes Quarry in-process: what `cdk synth` produces, plus the locations a local runtime
 * needs (template, bundled function directories, logical ids). With `nag` on, an unacknowledged cdk-nag
 * error makes synth throw.
 */
export function buildApp(options: CreateAppOptions = {}): QuarryBuild {
  const built = createApp(options);
  const { app, stack } = built;
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stack.stackName);
  const template = artifact.template as QuarryBuild['template'];
  const logicalId = (resource: CfnResource) => stack.resolve(resource.logicalId) as string;
  const describe = (fn: lambda.Function): SynthesizedFunction => {
    const code = fn.node.tryFindChild('Code');
    const assetDir = code instanceof s3assets.Asset && options.bundling !== false ? path.join(assembly.directory, code.assetPath) : undefined;
    return { logicalId: logicalId(fn.node.defaultChild as CfnResource), constructPath: fn.node.path, assetDir, handler: 'index.handler' };
  };
  const child = (c: { node: { defaultChild?: unknown } }) => logicalId(c.node.defaultChild as CfnResource);
  return {
    ...built,
    assembly,
    templatePath: artifact.templateFullPath,
    template,
    functions: {
      submit: describe(stack.submit.function),
      status: describe(stack.status.function),
      worker: describe(stack.worker.fn.function),
      deadLetter: describe(stack.deadLetter.fn.function),
    },
    resources: {
      jobsTable: child(stack.jobTable.table),
      jobsQueue: child(stack.jobQueue.queue),
      deadLetterQueue: child(stack.jobQueue.deadLetterQueue),
      eventsTopic: child(stack.jobEvents.topic),
      resultsBucket: child(stack.results.bucket),
      inputsBucket: child(stack.inputs.bucket),
      restApi: child(stack.jobApi.api),
    },
  };
}

