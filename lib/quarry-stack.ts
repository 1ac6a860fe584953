import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_MAX_OUTPUT_TOKENS, ENV, type RoutingTableInput } from '../lambda/core/settings';
import { ASYNC_DEFAULTS, ASYNC_PREFIX } from '../lambda/core/async-model';
import { bedrockResourceArnsFor } from './bedrock-arns';
import { RESULTS_PREFIX } from './constructs/results-bucket';
import { BATCHES_PREFIX } from '../lambda/core/batch';
import { ConfigError, queuedModelKey, type QuarryConfig } from './config';
import { ApiTenants, type UsagePlanSettings } from './constructs/api-tenants';
import { BatchRunner } from './constructs/batch-runner';
import { DEAD_LETTER_HANDLER_TIMEOUT, DeadLetterHandler } from './constructs/dead-letter-handler';
import { JobApi } from './constructs/job-api';
import { JobEvents } from './constructs/job-events';
import { JobQueue } from './constructs/job-queue';
import { JobTable } from './constructs/job-table';
import { JobSweep } from './constructs/job-sweep';
import { JobWorker } from './constructs/job-worker';
import { Observability } from './constructs/observability';
import { QuarryFunction } from './constructs/quarry-function';
import { ResultsBucket } from './constructs/results-bucket';
import { InputsBucket } from './constructs/inputs-bucket';
import { jobRequestJsonSchema } from './job-request-model';

export interface QuarryStackProps extends StackProps {
  /** The validated configuration (lib/config.ts). */
  readonly config: QuarryConfig;
}

/** The worker's queue visibility timeout, as a multiple of its function timeout (the Lambda/SQS guidance). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** QUARRY_ROUTES: route name -> model id (and static path), the only routing the functions need from config. */
export function routingTableOf(config: QuarryConfig): RoutingTableInput {
  const routes: RoutingTableInput['routes'] = {};
  const id = (key: string) => config.models[key].modelId;
  for (const [name, route] of Object.entries(config.routes)) {
    const { tiers, classifier, candidates } = route;
    routes[name] = {
      // QUARRY_ROUTES counts against Lambda's 4 KB of environment: defaults are left out.
      ...(route.strategy !== 'static' && { strategy: route.strategy }),
      modelId: id(queuedModelKey(route)!),
      ...(route.path && { path: route.path }),
      ...(route.fallback.length > 0 && { fallback: route.fallback.map(id) }),
      ...(route.cacheResponses && { cacheResponses: true }),
      ...(route.fallbackWhenBusy && { fallbackWhenBusy: true }),
      ...(tiers && {
        tiers: {
          simple: { modelId: id(tiers.simple.model), fallback: tiers.simple.fallback.map(id) },
          medium: { modelId: id(tiers.medium.model), fallback: tiers.medium.fallback.map(id) },
          complex: { modelId: id(tiers.complex.model), fallback: tiers.complex.fallback.map(id) },
        },
      }),
      ...(route.thresholds && { thresholds: route.thresholds }),
      ...(classifier && { classifier: { modelId: id(classifier.model), band: classifier.band, timeoutMs: classifier.timeoutMs } }),
      ...(candidates && { candidates: candidates.map(id), objective: route.objective ?? 'latency', exploration: route.exploration ?? 0.05 }),
      ...(route.latencySloMs !== undefined && { latencySloMs: route.latencySloMs }),
      ...(route.serviceTier && { serviceTier: route.serviceTier }),
      ...(!route.serviceTierFallback && { serviceTierFallback: false }),
      ...(route.flexPatience !== 2 && { flexPatience: route.flexPatience }),
    };
  }
  const models: NonNullable<RoutingTableInput['models']> = {};
  for (const [key, model] of Object.entries(config.models)) {
    if (model.invocation === 'async') {
      // Only what an async model's jobs use: its kind and, where they differ from the defaults, its deadline and polling.
      const custom = model.async && Object.fromEntries(Object.entries(model.async).filter(([k, v]) => ASYNC_DEFAULTS[k as keyof typeof ASYNC_DEFAULTS] !== v));
      models[model.modelId] = { key, invocation: 'async', ...(custom && Object.keys(custom).length > 0 && { async: custom }) };
      continue;
    }
    models[model.modelId] = {
      key,
      contextWindow: model.contextWindow,
      ...(model.regions.length > 0 && { regions: model.regions }),
      ...(model.maxOutputTokens !== DEFAULT_MAX_OUTPUT_TOKENS && { maxOutputTokens: model.maxOutputTokens }),
      ...(model.quota && { quota: model.quota }),
      ...(model.price && { price: { in: model.price.inputPerMillionTokens, out: model.price.outputPerMillionTokens } }),
    };
  }
  return { defaultRoute: config.defaultRoute, routes, models };
}

/** The plans as the tenant directory (QUARRY_TENANTS) states them: route names and model ids, not model keys. */
export function tenantPlansOf(config: QuarryConfig): Record<string, UsagePlanSettings> {
  return Object.fromEntries(
    Object.entries(config.plans).map(([name, plan]) => [name, { ...plan, ...(plan.models && { models: plan.models.map((key) => config.models[key].modelId) }) }]),
  );
}

/** Lambda's limit on a function's environment: all names and values together. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/** `team-a` -> `TeamA`, for output ids (letters and digits only). */
function outputIdOf(name: string): string {
  return name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
}

/** API Gateway -> submit -> SQS -> worker -> Bedrock, DynamoDB (+ S3) -> SNS; status polling; DLQ handling; the sweep. */
export class QuarryStack extends Stack {
  public readonly config: QuarryConfig;
  public readonly jobTable: JobTable;
  public readonly results: ResultsBucket;
  public readonly inputs: InputsBucket;
  public readonly jobQueue: JobQueue;
  public readonly jobEvents: JobEvents;
  public readonly submit: QuarryFunction;
  public readonly status: QuarryFunction;
  public readonly models: QuarryFunction;
  public readonly cancel: QuarryFunction;
  public readonly batches: QuarryFunction;
  public readonly batchRunner: BatchRunner;
  public readonly invoke: QuarryFunction;
  public readonly invokeStream: QuarryFunction;
  public readonly worker: JobWorker;
  public readonly deadLetter: DeadLetterHandler;
  public readonly sweep: JobSweep;
  public readonly jobApi: JobApi;
  public readonly tenants: ApiTenants;
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: QuarryStackProps) {
    super(scope, id, { description: 'Quarry: serverless asynchronous invocation pipeline for Amazon Bedrock', ...props });
    const config = (this.config = props.config);
    const dataRemovalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const logs_ = { logRetention, logRemovalPolicy: dataRemovalPolicy };
    const routes = JSON.stringify(routingTableOf(config));
    const workerTimeout = Duration.seconds(config.worker.timeoutSeconds);
    const visibilityTimeout = Duration.seconds(config.worker.timeoutSeconds * VISIBILITY_TIMEOUT_FACTOR);

    this.jobTable = new JobTable(this, 'Jobs', { removalPolicy: dataRemovalPolicy });
    this.results = new ResultsBucket(this, 'Results', { expirationDays: config.results.expirationDays, removalPolicy: dataRemovalPolicy });
    this.inputs = new InputsBucket(this, 'Inputs', { expirationDays: config.inputs.expirationDays, accessLogsBucket: this.results.accessLogsBucket, removalPolicy: dataRemovalPolicy });
    // What a request may name beyond routes and models: attachments in the inputs bucket, the configured guardrails.
    const requestPolicy = {
      [ENV.inputsBucket]: this.inputs.bucket.bucketName,
      [ENV.guardrails]: JSON.stringify(config.guardrails.map((g) => g.id)),
    };
    this.jobQueue = new JobQueue(this, 'JobQueue', {
      visibilityTimeout,
      maxReceiveCount: config.worker.maxReceiveCount,
      deadLetterVisibilityTimeout: Duration.seconds(DEAD_LETTER_HANDLER_TIMEOUT.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
    });
    this.jobEvents = new JobEvents(this, 'Events', { subscriptions: config.subscriptions, keyRemovalPolicy: dataRemovalPolicy });
    const table = this.jobTable.table;

    this.submit = new QuarryFunction(this, 'Submit', {
      handler: 'submit',
      description: 'Quarry submit: validates a job, stores it QUEUED and enqueues it',
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.jobsQueueUrl]: this.jobQueue.queue.queueUrl,
        [ENV.routes]: routes,
        [ENV.jobTtlDays]: String(config.jobs.ttlDays),
        [ENV.maxRequestBytes]: String(config.api.maxRequestBytes),
        [ENV.resilience]: JSON.stringify(config.resilience),
        [ENV.inputUploadSeconds]: String(config.inputs.uploadUrlSeconds),
        ...requestPolicy,
      },
    });
    this.jobTable.grantSubmitJobs(this.submit.function);
    this.inputs.grantSignUploads(this.submit.function);
    this.jobQueue.grantSendJobs(this.submit.function);

    this.status = new QuarryFunction(this, 'Status', {
      handler: 'status',
      description: 'Quarry status: returns a job and a presigned URL for a result kept in S3',
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.resultUrlSeconds]: String(config.results.presignedUrlSeconds),
        [ENV.resilience]: JSON.stringify(config.resilience),
      },
    });
    this.jobTable.grantReadJobs(this.status.function);
    this.jobTable.grantListJobs(this.status.function);
    this.jobTable.grantItems(this.status.function, 'batch', 'GetItem');
    this.results.grantReadResults(this.status.function);
    if (this.hasAsyncModels()) this.results.grantReadAsyncOutput(this.status.function);

    this.batchRunner = new BatchRunner(this, 'BatchRunner', {
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.jobsQueueUrl]: this.jobQueue.queue.queueUrl,
        [ENV.eventsTopicArn]: this.jobEvents.topic.topicArn,
        [ENV.resultsBucket]: this.results.bucket.bucketName,
        [ENV.jobTtlDays]: String(config.jobs.ttlDays),
        [ENV.batchJobDeadlineSeconds]: String(config.batches.jobDeadlineSeconds),
        [ENV.resilience]: JSON.stringify(config.resilience),
      },
    });
    const batchQueueUrl = this.batchRunner.queue.queueUrl;
    const runnerFn = this.batchRunner.fn.function;
    this.jobTable.grantBatchRunner(runnerFn);
    this.jobQueue.grantSendJobs(runnerFn);
    this.results.grantBatchObjects(runnerFn);
    this.results.grantReadResults(runnerFn);
    this.jobEvents.grantPublish(runnerFn);

    this.batches = new QuarryFunction(this, 'Batches', {
      handler: 'batches',
      description: 'Quarry batches: accepts a batch of requests, reports and cancels it',
      ...logs_,
      timeout: Duration.seconds(29),
      memorySize: 1024,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.batchesQueueUrl]: batchQueueUrl,
        [ENV.resultsBucket]: this.results.bucket.bucketName,
        [ENV.routes]: routes,
        [ENV.jobTtlDays]: String(config.jobs.ttlDays),
        [ENV.batchInputMaxBytes]: String(config.batches.inputMaxBytes),
        [ENV.resultUrlSeconds]: String(config.results.presignedUrlSeconds),
        ...requestPolicy,
      },
    });
    this.jobTable.grantBatchesApi(this.batches.function);
    this.results.grantBatchObjects(this.batches.function);
    this.inputs.grantReadInputs(this.batches.function);
    this.batchRunner.grantSend(this.batches.function);

    this.cancel = new QuarryFunction(this, 'Cancel', {
      handler: 'cancel',
      description: 'Quarry cancel: cancels a job that has not started and announces it',
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.eventsTopicArn]: this.jobEvents.topic.topicArn,
        [ENV.resilience]: JSON.stringify(config.resilience),
      },
    });
    this.jobTable.grantTransitionJobs(this.cancel.function);
    this.jobEvents.grantPublish(this.cancel.function);

    this.models = new QuarryFunction(this, 'Models', {
      handler: 'models',
      description: 'Quarry models: lists the configured models and the state of their circuit breakers; serves the OpenAPI document',
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.routes]: routes,
        [ENV.resilience]: JSON.stringify(config.resilience),
      },
    });
    this.jobTable.grantReadBreakers(this.models.function);

    this.invoke = new QuarryFunction(this, 'Invoke', {
      handler: 'invoke',
      description: 'Quarry invoke: answers a request synchronously through routing, admission, circuit breakers and fallback',
      ...logs_,
      // A second past the integration's timeout: the handler answers 504 INVOKE_TIMEOUT before either runs out.
      timeout: Duration.seconds(config.api.invokeTimeoutSeconds + 1),
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.routes]: routes,
        [ENV.maxRequestBytes]: String(config.api.maxRequestBytes),
        [ENV.invokeTimeoutSeconds]: String(config.api.invokeTimeoutSeconds),
        [ENV.resilience]: JSON.stringify(config.resilience),
        ...requestPolicy,
      },
    });
    this.invokeStream = new QuarryFunction(this, 'InvokeStream', {
      handler: 'invoke-stream',
      description: 'Quarry invoke/stream: streams an answer as server-sent events through routing, admission, circuit breakers and fallback',
      ...logs_,
      timeout: Duration.seconds(config.api.streamTimeoutSeconds + 1),
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.routes]: routes,
        [ENV.maxRequestBytes]: String(config.api.maxRequestBytes),
        [ENV.invokeTimeoutSeconds]: String(config.api.streamTimeoutSeconds),
        [ENV.resilience]: JSON.stringify(config.resilience),
        ...requestPolicy,
        // Conversations: a turn in job mode is submitted as POST /jobs submits; histories expire with jobs.
        [ENV.jobsQueueUrl]: this.jobQueue.queue.queueUrl,
        [ENV.jobTtlDays]: String(config.jobs.ttlDays),
      },
    });
    for (const fn of [this.invoke.function, this.invokeStream.function]) {
      this.jobTable.grantModelCallState(fn);
      this.grantCallModels(fn);
    }
    this.jobTable.grantConversations(this.invokeStream.function);
    this.jobQueue.grantSendJobs(this.invokeStream.function);

    this.worker = new JobWorker(this, 'JobWorker', {
      queue: this.jobQueue.queue,
      memorySize: config.worker.memorySize,
      timeout: workerTimeout,
      batchSize: config.worker.batchSize,
      maxBatchingWindow: config.worker.maxBatchingWindowSeconds > 0 ? Duration.seconds(config.worker.maxBatchingWindowSeconds) : undefined,
      maxConcurrency: config.worker.maxConcurrency,
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.jobsQueueUrl]: this.jobQueue.queue.queueUrl,
        [ENV.eventsTopicArn]: this.jobEvents.topic.topicArn,
        [ENV.resultsBucket]: this.results.bucket.bucketName,
        [ENV.routes]: routes,
        [ENV.resultInlineMaxBytes]: String(config.results.inlineMaxBytes),
        [ENV.logPromptText]: String(config.logPromptText),
        [ENV.resilience]: JSON.stringify(config.resilience),
        [ENV.inputsBucket]: this.inputs.bucket.bucketName,
      },
    });
    const workerFn = this.worker.fn.function;
    this.jobTable.grantWorkerState(workerFn);
    // Requeueing a job whose models cannot answer yet sends it again with a delay.
    this.jobQueue.grantSendJobs(workerFn);
    this.results.grantWriteResults(workerFn);
    this.jobEvents.grantPublish(workerFn);
    this.grantCallModels(workerFn);
    this.grantAsyncInvocations(workerFn);

    this.deadLetter = new DeadLetterHandler(this, 'DeadLetterHandler', {
      deadLetterQueue: this.jobQueue.deadLetterQueue,
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.jobsQueueUrl]: this.jobQueue.queue.queueUrl,
        [ENV.eventsTopicArn]: this.jobEvents.topic.topicArn,
        [ENV.resilience]: JSON.stringify(config.resilience),
      },
    });
    const deadLetterFn = this.deadLetter.fn.function;
    this.jobTable.grantTransitionJobs(deadLetterFn);
    // A dead-lettered job still within its deadline goes back to the jobs queue.
    this.jobQueue.grantSendJobs(deadLetterFn);
    this.jobEvents.grantPublish(deadLetterFn);

    this.sweep = new JobSweep(this, 'Sweep', {
      ...logs_,
      environment: {
        [ENV.jobsTable]: table.tableName,
        [ENV.jobsQueueUrl]: this.jobQueue.queue.queueUrl,
        [ENV.eventsTopicArn]: this.jobEvents.topic.topicArn,
        [ENV.resilience]: JSON.stringify(config.resilience),
      },
    });
    const sweepFn = this.sweep.fn.function;
    this.jobTable.grantQuerySweepIndex(sweepFn);
    this.jobTable.grantTransitionJobs(sweepFn);
    this.jobQueue.grantSendJobs(sweepFn);
    this.jobEvents.grantPublish(sweepFn);

    // Every function that ends jobs counts a batch job in its batch's tally (lambda/core/batch-tally.ts).
    for (const fn of [workerFn, deadLetterFn, sweepFn, this.cancel.function, runnerFn]) this.jobTable.grantBatchTally(fn);

    this.jobApi = new JobApi(this, 'Api', {
      submitFunction: this.submit.function,
      statusFunction: this.status.function,
      cancelFunction: this.cancel.function,
      batchesFunction: this.batches.function,
      modelsFunction: this.models.function,
      invokeFunction: this.invoke.function,
      invokeTimeout: Duration.seconds(config.api.invokeTimeoutSeconds),
      invokeStreamFunction: this.invokeStream.function,
      streamTimeout: Duration.seconds(config.api.streamTimeoutSeconds),
      jobRequestSchema: jobRequestJsonSchema(),
      routePaths: Object.values(config.routes).flatMap((r) => (r.path ? [r.path] : [])),
      rateLimit: config.api.rateLimit,
      burstLimit: config.api.burstLimit,
      webAclArn: config.api.webAclArn,
      accessLogRetention: logRetention,
      logRemovalPolicy: dataRemovalPolicy,
      cloudWatchRole: config.api.cloudWatchRole,
      tracing: config.functions.tracing,
    });

    this.tenants = new ApiTenants(this, 'Tenants', { api: this.jobApi.api, plans: tenantPlansOf(config), tenants: config.tenants });
    for (const fn of [this.submit.function, this.status.function, this.cancel.function, this.batches.function, this.invoke.function, this.invokeStream.function, workerFn, sweepFn]) fn.addEnvironment(ENV.tenants, this.tenants.directoryJson);

    this.observability = new Observability(this, 'Observability', {
      api: this.jobApi.api,
      queue: this.jobQueue.queue,
      deadLetterQueue: this.jobQueue.deadLetterQueue,
      functions: { submit: this.submit.function, status: this.status.function, invoke: this.invoke.function, invokeStream: this.invokeStream.function, worker: workerFn, deadLetter: deadLetterFn, sweep: sweepFn, more: [this.cancel.function, this.batches.function, runnerFn] },
      subscriptionDeadLetterQueue: this.jobEvents.subscriptionDeadLetterQueue,
      models: Object.entries(config.models).map(([key, m]) => ({ key, modelId: m.modelId })),
    });

    new CfnOutput(this, 'ApiUrl', { value: this.jobApi.api.url, description: 'Base URL of the jobs API (stage v1)' });
    new CfnOutput(this, 'JobsTableName', { value: table.tableName });
    new CfnOutput(this, 'JobsQueueUrl', { value: this.jobQueue.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.jobQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'EventsTopicArn', { value: this.jobEvents.topic.topicArn, description: 'Subscribe here for job.succeeded / job.failed events' });
    new CfnOutput(this, 'ResultsBucketName', { value: this.results.bucket.bucketName });
    new CfnOutput(this, 'InputsBucketName', { value: this.inputs.bucket.bucketName, description: 'Attachments requests name by s3Location, under <tenant>/' });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    for (const [tenant, key] of Object.entries(this.tenants.apiKeys)) {
      new CfnOutput(this, `ApiKeyId${outputIdOf(tenant)}`, {
        value: key.keyId,
        description: `API key id of tenant ${tenant} (its jobs' tenant); the value: aws apigateway get-api-key --api-key <id> --include-value`,
      });
    }

    this.checkEnvironmentSizes();
    this.acknowledgeFindings();
  }

  /**
   * Lambda refuses a function whose environment exceeds 4 KB, at deploy time and with a terse message; the routes and
   * tenant directory grow with the config, so check here, counting each deploy-time value at its longest.
   */
  private checkEnvironmentSizes(): void {
    // Names and URLs CloudFormation generates (table, queue URL, topic ARN, bucket: generated names are cut to 80
    // characters or less, plus a region's URL or ARN prefix) and API key ids, at their longest.
    const deployTimeValueBytes = 150;
    const keyIdBytes = 10;
    for (const fn of [this.submit, this.status, this.cancel, this.batches, this.models, this.invoke, this.invokeStream, this.worker.fn, this.deadLetter.fn, this.sweep.fn, this.batchRunner.fn]) {
      const environment = (this.resolve((fn.function.node.defaultChild as lambda.CfnFunction).environment) as { variables?: Record<string, unknown> } | undefined)?.variables ?? {};
      let bytes = 0;
      for (const [name, value] of Object.entries(environment)) {
        bytes += Buffer.byteLength(name);
        if (typeof value === 'string') bytes += Buffer.byteLength(value);
        else if (name === ENV.tenants) bytes += this.tenantDirectoryBytes(keyIdBytes);
        else bytes += deployTimeValueBytes;
      }
      if (bytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
        throw new ConfigError(
          `Invalid Quarry configuration:\n  - tenants: the ${fn.node.id} function's environment would reach about ${bytes} bytes, over Lambda's ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit (it holds the routes, the resilience policy and one entry per tenant with its plan's routes and models): use fewer routes, tenants or plan restrictions`,
        );
      }
    }
  }

  private tenantDirectoryBytes(keyIdBytes: number): number {
    const plans = tenantPlansOf(this.config);
    const directory = Object.fromEntries(
      Object.entries(this.config.tenants).map(([name, { plan }], i) => [String(i).padStart(keyIdBytes, '0'), { name, ...(plans[plan].routes && { routes: plans[plan].routes }), ...(plans[plan].models && { models: plans[plan].models }) }]),
    );
    return Buffer.byteLength(JSON.stringify(directory));
  }

  /** Calling the configured models (the worker's and POST /invoke's one Bedrock permission). */
  /** A function that calls models: the configured models, their attachments in the inputs bucket, the configured guardrails. */
  private grantCallModels(fn: iam.IGrantable & { addToRolePolicy(statement: iam.PolicyStatement): void }): void {
    fn.addToRolePolicy(this.invokeModelsStatement());
    this.inputs.grantReadInputs(fn);
    if (this.config.guardrails.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ApplyConfiguredGuardrails',
          // Converse with a guardrailConfig is authorized by ApplyGuardrail on the guardrail, in each region a call goes to.
          actions: ['bedrock:ApplyGuardrail'],
          resources: this.config.guardrails.flatMap((g) => this.callRegions().map((region) => `arn:${this.partition}:bedrock:${region}:${this.account}:guardrail/${g.id}`)),
        }),
      );
    }
  }

  /**
   * The worker's async models (invocation "async"): StartAsyncInvoke is authorized by InvokeModel on the model, and
   * Bedrock writes the output as the caller, so the worker may put objects under ASYNC_PREFIX (and list them, to
   * report the files); GetAsyncInvoke on the account's invocations in the stack's region.
   */
  private grantAsyncInvocations(fn: iam.IGrantable & { addToRolePolicy(statement: iam.PolicyStatement): void }): void {
    if (!this.hasAsyncModels()) return;
    const asyncModels = Object.values(this.config.models).filter((m) => m.invocation === 'async');
    const env = { partition: this.partition, region: this.region, account: this.account };
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StartAsyncInvocations', actions: ['bedrock:InvokeModel'], resources: bedrockResourceArnsFor(asyncModels, env) }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'FollowAsyncInvocations', actions: ['bedrock:GetAsyncInvoke'], resources: [`arn:${this.partition}:bedrock:${this.region}:${this.account}:async-invoke/*`] }));
    this.results.grantAsyncOutput(fn);
  }

  /** The stack's region and every failover region a model is configured with. */
  private callRegions(): string[] {
    return [...new Set([this.region, ...Object.values(this.config.models).flatMap((m) => m.regions ?? [])])];
  }

  private invokeModelsStatement(): iam.PolicyStatement {
    return new iam.PolicyStatement({
      sid: 'InvokeConfiguredModels',
      // Per the Bedrock API reference, Converse is authorized by InvokeModel and ConverseStream by InvokeModelWithResponseStream.
      actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
      resources: this.bedrockModelArns(),
    });
  }

  /** Every ARN the worker may invoke: the configured models in their failover regions and, for inference profiles, their destinations. */
  public bedrockModelArns(): string[] {
    return bedrockResourceArnsFor(this.syncModels(), { partition: this.partition, region: this.region, account: this.account });
  }

  private hasAsyncModels(): boolean {
    return Object.values(this.config.models).some((m) => m.invocation === 'async');
  }

  /** The models served by InvokeModel and Converse (every one but the async ones). */
  private syncModels() {
    return Object.values(this.config.models).filter((m) => m.invocation !== 'async');
  }

  /** cdk-nag findings this design accepts, each with its reason; finding ids are exact (no prefix matching). */
  private acknowledgeFindings(): void {
    const resultsObjects = `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.results.bucket.node.defaultChild as CfnBucket)}.Arn>/${RESULTS_PREFIX}*]`;
    for (const fn of [this.status, this.worker.fn, this.batchRunner.fn]) {
      Validations.of(fn).acknowledge({
        id: resultsObjects,
        reason: `Result objects are keyed by job id under ${RESULTS_PREFIX}; the statement is limited to that prefix and to one action (PutObject for the worker, GetObject for status).`,
      });
    }
    if (this.hasAsyncModels()) {
      const asyncObjects = `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.results.bucket.node.defaultChild as CfnBucket)}.Arn>/${ASYNC_PREFIX}*]`;
      Validations.of(this.status).acknowledge({ id: asyncObjects, reason: `Async invocations' output is a folder per job under ${ASYNC_PREFIX}, with names Bedrock chooses; GetObject only, on that prefix only, to sign the download links of the job's own files.` });
      Validations.of(this.worker.fn).acknowledge(
        {
          id: asyncObjects,
          reason: `Bedrock writes an async invocation's output as the caller, into a folder per job under ${ASYNC_PREFIX}; the statement is limited to that prefix and to PutObject (ListBucket is conditioned on the same prefix).`,
        },
        {
          id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:async-invoke/*]',
          reason: 'Invocation ids are generated by Bedrock when an invocation starts, so GetAsyncInvoke cannot name them in advance; the wildcard is on the id only, in this account and region, for that one read action.',
        },
      );
    }
    const inputObjects = `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.inputs.bucket.node.defaultChild as CfnBucket)}.Arn>/*]`;
    const batchObjects = `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.results.bucket.node.defaultChild as CfnBucket)}.Arn>/${BATCHES_PREFIX}*]`;
    for (const fn of [this.batches, this.batchRunner.fn]) {
      Validations.of(fn).acknowledge({
        id: batchObjects,
        reason: `Batch objects (validated lines, results files) are keyed by batch id under ${BATCHES_PREFIX}; the statement is limited to that prefix and to GetObject and PutObject.`,
      });
    }
    for (const fn of [this.submit, this.invoke, this.invokeStream, this.worker.fn, this.batches]) {
      Validations.of(fn).acknowledge({
        id: inputObjects,
        reason: 'The inputs bucket holds only attachments and batch inputs requests name, keyed <tenant>/<id>; one action per function (GetObject for the functions that call models and for batches, PutObject for submit, which signs upload URLs). Which tenant may name which key is checked by the request validation, as IAM cannot know the tenant of an API key.',
      });
    }
    // Only a global. profile (without profileDestinationRegions) has a wildcard: its model in any commercial region.
    const nagEnv = { partition: '<AWS::Partition>', region: '<AWS::Region>', account: '<AWS::AccountId>' };
    for (const arn of bedrockResourceArnsFor(this.syncModels(), nagEnv).filter((a) => a.includes('*'))) {
      Validations.of(this.worker.fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${arn}]`,
        reason: 'A global cross-region inference profile routes to its model in any commercial region, and AWS adds regions without notice; the wildcard is on the region only, for this one model id (set profileDestinationRegions to list them instead).',
      });
      Validations.of(this.invokeStream).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${arn}]`,
        reason: 'A global cross-region inference profile routes to its model in any commercial region, and AWS adds regions without notice; the wildcard is on the region only, for this one model id (set profileDestinationRegions to list them instead).',
      });
      Validations.of(this.invoke).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${arn}]`,
        reason: 'A global cross-region inference profile routes to its model in any commercial region, and AWS adds regions without notice; the wildcard is on the region only, for this one model id (set profileDestinationRegions to list them instead).',
      });
    }
    if (this.config.api.cloudWatchRole) {
      Validations.of(this.jobApi.api).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The account-level role API Gateway uses to write execution and access logs; the AWS managed policy is the documented one for this service role and API Gateway names its log groups itself.',
      });
    } else {
      const optIn = 'API Gateway writes stage logs only through the account-level CloudWatch role (AWS::ApiGateway::Account), one per account and region: Quarry does not replace it unless asked (api.cloudWatchRole: true turns on access logs and execution logs at ERROR). API metrics, X-Ray traces and the functions\' own logs remain.';
      Validations.of(this.jobApi.api).acknowledge({ id: 'AwsSolutions-APIG1', reason: optIn }, { id: 'AwsSolutions-APIG6', reason: optIn });
    }
    Validations.of(this.jobApi.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'Callers are identified by per-tenant API keys, limited by usage plans and isolated from each other by the handlers (a job is readable by its own key only). API keys are identification, not authorization: put an IAM or Lambda/Cognito authorizer in front when callers need signed or user-level credentials.',
    });
    Validations.of(this.jobApi.api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'The API is called by systems (tenants with API keys), not by end users of a Cognito user pool; a Cognito authorizer can be added per method when user-level access is needed.',
    });
    if (!this.config.api.webAclArn) {
      Validations.of(this.jobApi.api).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'WAF is opt-in: a web ACL costs money per month and its rules are deployment-specific; set api.webAclArn in the config and the stage is associated with it.',
      });
    }
  }
}
