import type { CfnResource } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { z } from 'zod/mini';
import { parseConfig } from '../../lib/config';
import { routingTableOf, VISIBILITY_TIMEOUT_FACTOR } from '../../lib/quarry-stack';
import { resolveIntrinsics } from '../../local/intrinsics';
import { ITEM_KINDS, SWEEP_INDEX, TENANT_INDEX } from '../../lambda/core/item-keys';
import {
  deadLetterSettingsSchema,
  ENV,
  invokeSettingsSchema,
  modelsSettingsSchema,
  routingTableSchema,
  statusSettingsSchema,
  submitSettingsSchema,
  sweepSettingsSchema,
  workerSettingsSchema,
} from '../../lambda/core/settings';
import { actionsOf, resourceNamed, statementsOf, synth, type Synthesized } from './synth';
import { API_ERRORS } from '../../lambda/core/errors';
import { METRIC_NAMESPACE, METRIC_SERVICE } from '../../lambda/core/metric-names';

let template: Template;
let build: Synthesized['build'];
const defaults = parseConfig({});

let sweepId: string;
let modelsId: string;
let cancelId: string;
let batchesId: string;
let batchRunnerId: string;

beforeAll(() => {
  ({ template, build } = synth());
  const logicalId = (fn: { node: { defaultChild?: unknown } }) => build.stack.resolve((fn.node.defaultChild as CfnResource).logicalId) as string;
  sweepId = logicalId(build.stack.sweep.fn.function);
  modelsId = logicalId(build.stack.models.function);
  cancelId = logicalId(build.stack.cancel.function);
  batchesId = logicalId(build.stack.batches.function);
  batchRunnerId = logicalId(build.stack.batchRunner.fn.function);
});

const fnNamed = (prefix: string) => resourceNamed(template, 'AWS::Lambda::Function', prefix).resource.Properties;
const envOf = (prefix: string): Record<string, unknown> => fnNamed(prefix).Environment.Variables;
const ref = (logicalId: string) => ({ Ref: logicalId });
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** The bucket/queue/topic policy statement that denies every request not made over TLS. */
const denyInsecureTransport = Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });

describe('jobs queue', () => {
  it('redrives to the DLQ after the configured number of receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: arnOf(build.resources.deadLetterQueue), maxReceiveCount: defaults.worker.maxReceiveCount },
    });
  });

  it('hides a received job for 6x the worker timeout', () => {
    const queue = resourceNamed(template, 'AWS::SQS::Queue', build.resources.jobsQueue).resource.Properties;
    expect(queue.VisibilityTimeout).toBe(6 * defaults.worker.timeoutSeconds);
    expect(fnNamed(build.functions.worker.logicalId).Timeout).toBe(defaults.worker.timeoutSeconds);
  });

  it("hides a received dead letter for at least 6x its handler's timeout", () => {
    const deadLetterQueue = resourceNamed(template, 'AWS::SQS::Queue', build.resources.deadLetterQueue).resource.Properties;
    const handlerTimeout = fnNamed(build.functions.deadLetter.logicalId).Timeout as number;
    expect(VISIBILITY_TIMEOUT_FACTOR).toBe(6);
    expect(deadLetterQueue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * handlerTimeout);
  });

  it('encrypts both queues with SSE-SQS and keeps dead letters 14 days', () => {
    for (const id of [build.resources.jobsQueue, build.resources.deadLetterQueue]) {
      expect(resourceNamed(template, 'AWS::SQS::Queue', id).resource.Properties.SqsManagedSseEnabled).toBe(true);
    }
    expect(resourceNamed(template, 'AWS::SQS::Queue', build.resources.deadLetterQueue).resource.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('denies non-TLS access to both queues', () => {
    for (const id of [build.resources.jobsQueue, build.resources.deadLetterQueue]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(id)],
        PolicyDocument: { Statement: Match.arrayWith([denyInsecureTransport]) },
      });
    }
  });
});

describe('jobs table', () => {
  it('has the partition key pk only, on-demand, with TTL, PITR and SSE', () => {
    const table = resourceNamed(template, 'AWS::DynamoDB::Table', build.resources.jobsTable).resource.Properties;
    expect(table.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
  });

  it('has two sparse indexes, keys only: the sweep\'s (shard and due time) and the tenants\' jobs (tenant and creation time)', () => {
    const table = resourceNamed(template, 'AWS::DynamoDB::Table', build.resources.jobsTable).resource.Properties;
    expect(table.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: SWEEP_INDEX.name,
        KeySchema: [
          { AttributeName: SWEEP_INDEX.partitionKey, KeyType: 'HASH' },
          { AttributeName: SWEEP_INDEX.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: TENANT_INDEX.name,
        KeySchema: [
          { AttributeName: TENANT_INDEX.partitionKey, KeyType: 'HASH' },
          { AttributeName: TENANT_INDEX.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
    expect(table.AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sweepShard', AttributeType: 'S' },
      { AttributeName: 'sweepAt', AttributeType: 'N' },
      { AttributeName: 'tenantJobs', AttributeType: 'S' },
      { AttributeName: 'createdAt', AttributeType: 'S' },
    ]);
  });

  it('is retained and deletion-protected by default', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Properties: Match.objectLike({ DeletionProtectionEnabled: true }) });
  });
});

describe('results bucket', () => {
  const bucket = () => resourceNamed(template, 'AWS::S3::Bucket', build.resources.resultsBucket).resource.Properties;

  it('is encrypted, blocks all public access and expires results after the configured days', () => {
    expect(bucket().BucketEncryption).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket().PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket().LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Prefix: 'results/', ExpirationInDays: defaults.results.expirationDays, Status: 'Enabled' }),
    );
    expect(bucket().VersioningConfiguration).toBeUndefined();
  });

  it('logs server access to its access-log bucket', () => {
    expect(bucket().LoggingConfiguration).toEqual({ DestinationBucketName: ref(resourceNamed(template, 'AWS::S3::Bucket', 'ResultsAccessLogs').id), LogFilePrefix: 'results-bucket/' });
  });

  it('denies non-TLS access to every bucket (results, inputs, access logs)', () => {
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]));
    }
  });
});

describe('events topic', () => {
  it('is encrypted with a rotating customer managed key', () => {
    const key = resourceNamed(template, 'AWS::KMS::Key', 'EventsKey');
    expect(key.resource.Properties.EnableKeyRotation).toBe(true);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf(key.id) });
  });

  it('denies non-TLS publishing', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', { Topics: [ref(build.resources.eventsTopic)], PolicyDocument: { Statement: Match.arrayWith([denyInsecureTransport]) } });
  });

  it('has no subscription, and so no subscription dead-letter queue, unless the config asks', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    expect(build.stack.jobEvents.subscriptionDeadLetterQueue).toBeUndefined();
    // The jobs queue and the batch queue, each with its dead-letter queue.
    template.resourceCountIs('AWS::SQS::Queue', 4);
  });
});

describe('functions', () => {
  const roles = ['submit', 'status', 'worker', 'deadLetter'] as const;

  it.each(roles)('%s runs Node.js 22 on arm64 with Powertools settings, without X-Ray tracing or runtime source maps', (role) => {
    const fn = fnNamed(build.functions[role].logicalId);
    expect(fn.Runtime).toBe('nodejs22.x');
    expect(fn.Architectures).toEqual(['arm64']);
    expect(fn.TracingConfig).toBeUndefined();
    expect(fn.Environment.Variables.POWERTOOLS_TRACE_ENABLED).toBe('false');
    expect(fn.Handler).toBe('index.handler');
    expect(fn.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: METRIC_SERVICE,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    expect(fn.Environment.Variables.NODE_OPTIONS).toBeUndefined();
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
    // Lambda's own START/REPORT lines only for invocations that fail; EMF objects (no level, read as INFO) pass.
    expect(fn.LoggingConfig).toMatchObject({ LogFormat: 'JSON', SystemLogLevel: 'WARN', ApplicationLogLevel: 'INFO' });
  });

  it("logs Lambda's START and REPORT lines of every invocation when functions.platformLogs is INFO", () => {
    const chatty = synth({ functions: { platformLogs: 'INFO' } });
    const { stack } = chatty.build;
    for (const { function: fn } of [stack.submit, stack.status, stack.models, stack.worker.fn, stack.deadLetter.fn, stack.sweep.fn]) {
      const id = stack.resolve((fn.node.defaultChild as CfnResource).logicalId) as string;
      expect(resourceNamed(chatty.template, 'AWS::Lambda::Function', id).resource.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON', SystemLogLevel: 'INFO' });
    }
  });

  it('traces every function and the API stage with X-Ray when functions.tracing asks for it', () => {
    const traced = synth({ functions: { tracing: true } });
    const { stack } = traced.build;
    const functions = [stack.submit, stack.status, stack.models, stack.worker.fn, stack.deadLetter.fn, stack.sweep.fn];
    for (const { function: fn } of functions) {
      const id = stack.resolve((fn.node.defaultChild as CfnResource).logicalId) as string;
      const properties = resourceNamed(traced.template, 'AWS::Lambda::Function', id).resource.Properties;
      expect(properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED).toBe('true');
    }
    traced.template.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: true });
  });

  it('starts every function with --enable-source-maps when functions.sourceMaps asks for source maps', () => {
    const withMaps = synth({ functions: { sourceMaps: true } });
    const { stack } = withMaps.build;
    const functions = [stack.submit, stack.status, stack.models, stack.worker.fn, stack.deadLetter.fn, stack.sweep.fn];
    for (const { function: fn } of functions) {
      const id = stack.resolve((fn.node.defaultChild as CfnResource).logicalId) as string;
      expect(resourceNamed(withMaps.template, 'AWS::Lambda::Function', id).resource.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  it.each(roles)('%s logs to its own log group with the configured retention', (role) => {
    const logGroup = fnNamed(build.functions[role].logicalId).LoggingConfig.LogGroup;
    const id = logGroup.Ref as string;
    expect(resourceNamed(template, 'AWS::Logs::LogGroup', id).resource.Properties.RetentionInDays).toBe(defaults.logRetentionDays);
  });

  it('uses no AWS managed policy on any function role', () => {
    for (const role of Object.values(template.findResources('AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] } } }))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('gives the worker its memory and the settings its core reads', () => {
    const worker = fnNamed(build.functions.worker.logicalId);
    expect(worker.MemorySize).toBe(defaults.worker.memorySize);
    expect(envOf(build.functions.worker.logicalId)).toEqual(
      expect.objectContaining({
        [ENV.jobsTable]: ref(build.resources.jobsTable),
        [ENV.jobsQueueUrl]: ref(build.resources.jobsQueue),
        [ENV.eventsTopicArn]: ref(build.resources.eventsTopic),
        [ENV.resultsBucket]: ref(build.resources.resultsBucket),
        [ENV.resultInlineMaxBytes]: String(defaults.results.inlineMaxBytes),
        [ENV.resilience]: JSON.stringify(defaults.resilience),
        [ENV.logPromptText]: 'false',
      }),
    );
  });

  it('serializes the routing table with each route\'s model id and static path', () => {
    const routes = routingTableSchema.parse(JSON.parse(envOf(build.functions.submit.logicalId)[ENV.routes] as string));
    expect(routes).toEqual(routingTableSchema.parse(routingTableOf(defaults)));
    expect(routes.defaultRoute).toBe('generate');
    expect(routes.routes.classify).toEqual({ strategy: 'static', modelId: 'anthropic.claude-3-haiku-20240307-v1:0', path: '/api/classify', fallback: ['amazon.nova-micro-v1:0'], cacheResponses: false, fallbackWhenBusy: false });
    // The strategies' routes, as the worker reads them: model ids, not config keys.
    expect(routes.routes.auto).toEqual({
      strategy: 'content',
      modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
      fallback: [],
      cacheResponses: false,
      fallbackWhenBusy: false,
      tiers: {
        simple: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', fallback: ['amazon.nova-micro-v1:0'] },
        medium: { modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0', fallback: ['anthropic.claude-3-haiku-20240307-v1:0'] },
        complex: { modelId: 'us.anthropic.claude-opus-4-1-20250805-v1:0', fallback: ['us.anthropic.claude-sonnet-4-20250514-v1:0'] },
      },
      classifier: { modelId: 'amazon.nova-micro-v1:0', band: 0.03, timeoutMs: 2000 },
    });
    expect(routes.routes.fastest).toEqual({
      strategy: 'metric',
      modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
      fallback: [],
      cacheResponses: false,
      fallbackWhenBusy: false,
      candidates: ['anthropic.claude-3-haiku-20240307-v1:0', 'amazon.nova-micro-v1:0'],
      objective: 'latency',
      exploration: 0.05,
    });
    expect(envOf(build.functions.worker.logicalId)[ENV.routes]).toBe(envOf(build.functions.submit.logicalId)[ENV.routes]);
  });

  it('gives submit, status, the DLQ handler and the sweep exactly their settings', () => {
    const base = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_TRACE_ENABLED'];
    const keys = (prefix: string) => Object.keys(envOf(prefix)).filter((k) => !base.includes(k)).sort();
    expect(keys(build.functions.submit.logicalId)).toEqual(
      [ENV.jobsTable, ENV.jobsQueueUrl, ENV.routes, ENV.jobTtlDays, ENV.maxRequestBytes, ENV.tenants, ENV.resilience, ENV.inputsBucket, ENV.guardrails, ENV.inputUploadSeconds].sort(),
    );
    expect(envOf(build.functions.submit.logicalId)[ENV.jobsQueueUrl]).toEqual(ref(build.resources.jobsQueue));
    expect(envOf(build.functions.submit.logicalId)[ENV.maxRequestBytes]).toBe(String(defaults.api.maxRequestBytes));
    expect(keys(build.functions.status.logicalId)).toEqual([ENV.jobsTable, ENV.resultUrlSeconds, ENV.tenants, ENV.resilience].sort());
    expect(keys(build.functions.deadLetter.logicalId)).toEqual([ENV.jobsTable, ENV.jobsQueueUrl, ENV.eventsTopicArn, ENV.resilience].sort());
    expect(keys(sweepId)).toEqual([ENV.jobsTable, ENV.jobsQueueUrl, ENV.eventsTopicArn, ENV.resilience, ENV.tenants].sort());
    expect(envOf(sweepId)[ENV.jobsQueueUrl]).toEqual(ref(build.resources.jobsQueue));
  });

  it("gives every function an environment its settings schema accepts once CloudFormation (or the local runtime) resolves it", () => {
    const resolved = (logicalId: string) =>
      resolveIntrinsics(envOf(logicalId), {
        region: 'eu-west-1',
        accountId: '123456789012',
        ref: (id) => `ref-${id}`,
        getAtt: (id, attribute) => `${attribute}-of-${id}`,
      }) as Record<string, string>;
    const schemas: [string, z.ZodMiniType][] = [
      [build.functions.submit.logicalId, submitSettingsSchema],
      [build.functions.status.logicalId, statusSettingsSchema],
      [build.functions.worker.logicalId, workerSettingsSchema],
      [build.functions.deadLetter.logicalId, deadLetterSettingsSchema],
      [sweepId, sweepSettingsSchema],
      [modelsId, modelsSettingsSchema],
    ];
    for (const [logicalId, schema] of schemas) {
      const parsed = schema.safeParse({ AWS_REGION: 'eu-west-1', ...resolved(logicalId) });
      expect(parsed.error?.issues ?? []).toEqual([]);
    }
  });
});

describe('sweep', () => {
  it('runs every minute from an EventBridge rule, with a 60 s timeout and no retries of a failed run', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: arnOf(sweepId), RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', { FunctionName: arnOf(sweepId), Principal: 'events.amazonaws.com', Action: 'lambda:InvokeFunction' });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: ref(sweepId), MaximumRetryAttempts: 0 });
    expect(fnNamed(sweepId)).toMatchObject({ Timeout: 60, Runtime: 'nodejs22.x', Architectures: ['arm64'] });
  });

  it('is the stack\'s `sweep`', () => {
    expect(build.stack.sweep.fn.function.node.path).toBe('Quarry/Sweep/Sweep/Function');
  });
});

describe('event source mappings', () => {
  it('feeds the worker partial batches from the jobs queue, capped by maxConcurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arnOf(build.resources.jobsQueue),
      FunctionName: ref(build.functions.worker.logicalId),
      BatchSize: defaults.worker.batchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: defaults.worker.maxConcurrency },
    });
  });

  it('feeds the DLQ handler from the DLQ with partial batch responses', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arnOf(build.resources.deadLetterQueue),
      FunctionName: ref(build.functions.deadLetter.logicalId),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('inputs bucket', () => {
  const bucket = () => resourceNamed(template, 'AWS::S3::Bucket', build.resources.inputsBucket).resource.Properties;

  it('is encrypted, blocks all public access, expires inputs after the configured days and logs to the access-log bucket', () => {
    expect(bucket().BucketEncryption).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket().PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket().LifecycleConfiguration.Rules).toContainEqual(expect.objectContaining({ ExpirationInDays: defaults.inputs.expirationDays, Status: 'Enabled' }));
    expect(bucket().LoggingConfiguration).toEqual({ DestinationBucketName: ref(resourceNamed(template, 'AWS::S3::Bucket', 'ResultsAccessLogs').id), LogFilePrefix: 'inputs-bucket/' });
  });

  it('is named to the functions that take requests and call models', () => {
    const idOf = (fn: { function: { node: { defaultChild?: unknown } } }) => build.stack.resolve((fn.function.node.defaultChild as CfnResource).logicalId) as string;
    for (const fn of [build.functions.submit.logicalId, build.functions.worker.logicalId, idOf(build.stack.invoke), idOf(build.stack.invokeStream)]) {
      expect(envOf(fn)[ENV.inputsBucket]).toEqual(ref(build.resources.inputsBucket));
    }
    expect(envOf(build.functions.submit.logicalId)[ENV.guardrails]).toBe('[]');
  });
});

describe('IAM', () => {
  type Role = keyof typeof build.functions | 'sweep' | 'models' | 'cancel' | 'batches' | 'batchRunner';
  const others: Partial<Record<Role, () => string>> = { sweep: () => sweepId, models: () => modelsId, cancel: () => cancelId, batches: () => batchesId, batchRunner: () => batchRunnerId };
  const logicalIdOf = (role: Role) => others[role]?.() ?? build.functions[role as keyof typeof build.functions].logicalId;
  const policyOf = (role: Role) => logicalIdOf(role).replace(/Function[0-9A-F]{8}$/, 'Role');
  const statements = (role: Role) => statementsOf(template, policyOf(role));
  /** Each statement as actions, resource and, for table items, the one key prefix it is limited to. */
  const grants = (role: Role) =>
    statements(role)
      .filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')))
      .map((s) => {
        const prefixes = (s as { Condition?: Record<string, Record<string, unknown>> }).Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
        return { actions: actionsOf(s).sort(), resource: s.Resource, ...(prefixes !== undefined && { items: prefixes }) };
      });
  const resultObjects = () => ({ 'Fn::Join': ['', [arnOf(build.resources.resultsBucket), '/results/*']] });
  const asyncObjects = () => ({ 'Fn::Join': ['', [arnOf(build.resources.resultsBucket), '/async/*']] });
  const inputObjects = () => ({ 'Fn::Join': ['', [arnOf(build.resources.inputsBucket), '/*']] });
  const items = (kind: keyof typeof ITEM_KINDS, ...actions: string[]) => ({ actions: actions.map((a) => `dynamodb:${a}`), resource: arnOf(build.resources.jobsTable), items: [`${ITEM_KINDS[kind]}*`] });
  const keyArn = () => arnOf(resourceNamed(template, 'AWS::KMS::Key', 'EventsKey').id);
  /** What every function that ends jobs holds to count batch jobs in their batch. */
  const tally = () => [items('tally', 'UpdateItem'), items('batch', 'UpdateItem')];
  const publish = () => [
    { actions: ['sns:Publish'], resource: ref(build.resources.eventsTopic) },
    { actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resource: keyArn() },
  ];

  it('lets submit create, read and discard jobs and enqueue them, nothing else (no UpdateItem)', () => {
    expect(grants('submit')).toEqual([
      items('job', 'DeleteItem', 'GetItem', 'PutItem'),
      items('input', 'PutItem'),
      // POST /inputs signs upload URLs: a presigned PUT carries the signer's permission.
      { actions: ['s3:PutObject'], resource: inputObjects() },
      { actions: ['sqs:SendMessage'], resource: arnOf(build.resources.jobsQueue) },
    ]);
  });

  it('lets status read jobs (one, or a page in a batch), query the tenants\' index, read a batch and read result objects, nothing else', () => {
    expect(grants('status')).toEqual([
      items('job', 'BatchGetItem', 'GetItem'),
      { actions: ['dynamodb:Query'], resource: { 'Fn::Join': ['', [arnOf(build.resources.jobsTable), `/index/${TENANT_INDEX.name}`]] } },
      // GET /jobs?batchId=: the batch, to know its tenant and size.
      items('batch', 'GetItem'),
      { actions: ['s3:GetObject'], resource: [asyncObjects(), resultObjects()] },
    ]);
  });

  it('lets the worker consume and requeue jobs, move them, keep cache, breakers and admission schedules, write results and publish events', () => {
    expect(grants('worker').filter((g) => !g.actions[0].startsWith('bedrock:'))).toEqual([
      {
        actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
        resource: arnOf(build.resources.jobsQueue),
      },
      items('job', 'GetItem', 'UpdateItem'),
      items('input', 'GetItem'),
      items('cache', 'GetItem', 'PutItem'),
      items('breaker', 'GetItem', 'UpdateItem'),
      items('bucket', 'GetItem', 'UpdateItem'),
      { actions: ['s3:PutObject'], resource: [asyncObjects(), resultObjects()] },
      ...publish(),
      { actions: ['s3:GetObject'], resource: inputObjects() },
      // To report an async invocation's files: the bucket's listing, under async/ only.
      { actions: ['s3:ListBucket'], resource: arnOf(build.resources.resultsBucket) },
      ...tally(),
    ]);
    const listing = statements('worker').find((s) => actionsOf(s).includes('s3:ListBucket'));
    expect(listing?.Condition).toEqual({ StringLike: { 's3:prefix': ['async/*'] } });
  });

  it('lets cancel read and move jobs and publish their events, nothing else', () => {
    expect(grants('cancel')).toEqual([items('job', 'GetItem', 'UpdateItem'), ...publish(), ...tally()]);
  });

  it('lets the batches API record, read and cancel batches, read their tally, keep batch objects, read inputs and send to the batch queue, nothing else', () => {
    const batchObjects = { 'Fn::Join': ['', [arnOf(build.resources.resultsBucket), '/batches/*']] };
    expect(grants('batches')).toEqual([
      items('batch', 'GetItem', 'PutItem', 'UpdateItem'),
      items('tally', 'BatchGetItem'),
      { actions: ['s3:GetObject', 's3:PutObject'], resource: batchObjects },
      { actions: ['s3:GetObject'], resource: inputObjects() },
      { actions: ['sqs:SendMessage'], resource: { 'Fn::GetAtt': [expect.stringMatching(/^BatchRunnerQueue/), 'Arn'] } },
    ]);
  });

  it('lets the batch runner consume its queue, write batch jobs and their tally, read results, queue jobs and publish events, nothing else', () => {
    const batchObjects = { 'Fn::Join': ['', [arnOf(build.resources.resultsBucket), '/batches/*']] };
    const actions = grants('batchRunner').map((g) => `${g.actions.join(',')} ${JSON.stringify(g.items ?? '')}`);
    expect(grants('batchRunner')).toEqual(
      expect.arrayContaining([
        items('batch', 'GetItem', 'UpdateItem'),
        items('tally', 'BatchGetItem', 'UpdateItem'),
        items('job', 'BatchGetItem', 'GetItem', 'PutItem', 'UpdateItem'),
        items('input', 'PutItem'),
        { actions: ['s3:GetObject', 's3:PutObject'], resource: batchObjects },
        { actions: ['s3:GetObject'], resource: resultObjects() },
        { actions: ['sqs:SendMessage'], resource: arnOf(build.resources.jobsQueue) },
        ...publish(),
      ]),
    );
    // Nothing that deletes, and no table-wide item statement.
    expect(actions.join('\n')).not.toMatch(/DeleteItem|dynamodb:\*|s3:\*/);
    expect(grants('batchRunner').filter((g) => g.actions.some((a) => a.startsWith('dynamodb:') && a !== 'dynamodb:Query')).every((g) => g.items !== undefined)).toBe(true);
  });

  it('lets GET /models batch-read breakers, nothing else', () => {
    expect(grants('models')).toEqual([items('breaker', 'BatchGetItem')]);
  });

  it('lets the sweep query its index (only the index), move jobs, requeue them and publish events, nothing else', () => {
    expect(grants('sweep')).toEqual([
      { actions: ['dynamodb:Query'], resource: { 'Fn::Join': ['', [arnOf(build.resources.jobsTable), `/index/${SWEEP_INDEX.name}`]] } },
      items('job', 'GetItem', 'UpdateItem'),
      { actions: ['sqs:SendMessage'], resource: arnOf(build.resources.jobsQueue) },
      ...publish(),
      ...tally(),
    ]);
  });

  it('lets the worker invoke exactly the configured models and their inference-profile destinations', () => {
    // The async model's statements are their own (test/infra/cross-region.test.ts).
    const bedrock = statements('worker').filter((s) => actionsOf(s).some((a) => a.startsWith('bedrock:')) && s.Sid === 'InvokeConfiguredModels');
    expect(bedrock).toHaveLength(1);
    expect(actionsOf(bedrock[0]).sort()).toEqual(['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
    const resources = (bedrock[0].Resource as unknown[]).map((r) => build.stack.resolve(r)).map((r) => JSON.stringify(r));
    const expected = build.stack.bedrockModelArns().map((a) => JSON.stringify(build.stack.resolve(a)));
    expect(resources.sort()).toEqual(expected.sort());
    expect(resources).toHaveLength(14);
    expect(resources).not.toContain('"*"');
    expect(resources.join()).not.toContain(':bedrock:*:');
    expect(resources.join()).toContain('foundation-model/anthropic.claude-3-haiku-20240307-v1:0');
    expect(resources.join()).toContain(':inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0');
    expect(resources.join()).toContain(':bedrock:us-west-2::foundation-model/anthropic.claude-opus-4-1-20250805-v1:0');
  });

  it('limits every table item statement to one item kind, with the prefixes of lambda/core/item-keys.ts', () => {
    const known = Object.values(ITEM_KINDS).map((prefix) => `${prefix}*`);
    for (const role of ['submit', 'status', 'cancel', 'worker', 'deadLetter', 'sweep', 'models'] as const) {
      const itemStatements = grants(role).filter((g) => g.actions.some((a) => a.startsWith('dynamodb:')) && !g.actions.includes('dynamodb:Query'));
      expect(itemStatements.length).toBeGreaterThan(0);
      for (const statement of itemStatements) {
        expect(statement.items).toHaveLength(1);
        expect(known).toContain((statement.items as string[])[0]);
      }
      const kinds = itemStatements.map((g) => (g.items as string[])[0]);
      expect(new Set(kinds).size).toBe(kinds.length);
    }
  });

  it('lets the DLQ handler consume the DLQ, move jobs, requeue them and publish events', () => {
    expect(grants('deadLetter')).toEqual([
      { actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'], resource: arnOf(build.resources.deadLetterQueue) },
      items('job', 'GetItem', 'UpdateItem'),
      { actions: ['sqs:SendMessage'], resource: arnOf(build.resources.jobsQueue) },
      ...publish(),
      ...tally(),
    ]);
  });

  it('scopes log writes to each function\'s own log group', () => {
    for (const role of ['submit', 'status', 'cancel', 'worker', 'deadLetter', 'sweep', 'models'] as const) {
      const logs = statements(role).find((s) => actionsOf(s).includes('logs:PutLogEvents'))!;
      expect(logs.Resource).toEqual(arnOf(fnNamed(logicalIdOf(role)).LoggingConfig.LogGroup.Ref));
    }
  });
});

describe('REST API', () => {
  const methods = () => Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => m.Properties);
  const pathOf = (resourceRef: { Ref: string }): string => {
    const resource = template.findResources('AWS::ApiGateway::Resource')[resourceRef.Ref];
    const parent = resource.Properties.ParentId;
    return `${'Fn::GetAtt' in parent ? '' : pathOf(parent)}/${resource.Properties.PathPart}`;
  };

  it('serves stage v1 with throttling and metrics, and without tracing or stage logs unless asked for', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: false,
      AccessLogSetting: Match.absent(),
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: defaults.api.rateLimit,
          ThrottlingBurstLimit: defaults.api.burstLimit,
          MetricsEnabled: true,
          LoggingLevel: 'OFF',
          DataTraceEnabled: false,
        }),
      ],
    });
    // The account-wide setting is left alone: no AWS::ApiGateway::Account, no role for API Gateway.
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(Object.values(template.findResources('AWS::IAM::Role')).filter((r) => JSON.stringify(r).includes('apigateway.amazonaws.com'))).toEqual([]);
  });

  it('with api.cloudWatchRole, creates the account role (retained) and logs the stage: JSON access logs, execution logs at ERROR, no data', () => {
    const { template: withRole } = synth({ api: { cloudWatchRole: true } });
    const account = Object.values(withRole.findResources('AWS::ApiGateway::Account'));
    expect(account).toHaveLength(1);
    const roles = Object.entries(withRole.findResources('AWS::IAM::Role')).filter(([, r]) => JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('apigateway.amazonaws.com'));
    expect(roles).toHaveLength(1);
    expect(roles[0][1].DeletionPolicy).toBe('Retain');
    expect(account[0].Properties.CloudWatchRoleArn).toEqual(arnOf(roles[0][0]));
    withRole.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: arnOf(resourceNamed(withRole, 'AWS::Logs::LogGroup', 'ApiAccessLogs').id), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: [Match.objectLike({ LoggingLevel: 'ERROR', DataTraceEnabled: false })],
    });
  });

  it('routes POST and GET /jobs, GET /jobs/{jobId}, GET /models and a POST per static route path to Lambda proxy integrations, each wanting an API key', () => {
    const proxies = methods().filter((m) => m.Integration.Type === 'AWS_PROXY');
    const routes = proxies.map((m) => `${m.HttpMethod} ${pathOf(m.ResourceId)}`).sort();
    expect(routes).toEqual([
      'DELETE /batches/{batchId}',
      'DELETE /conversations/{conversationId}',
      'DELETE /jobs/{jobId}',
      'GET /batches/{batchId}',
      'GET /conversations/{conversationId}',
      'GET /jobs',
      'GET /jobs/{jobId}',
      'GET /models',
      'GET /openapi.json',
      'POST /api/analyze',
      'POST /api/classify',
      'POST /api/generate',
      'POST /batches',
      'POST /chat/completions',
      'POST /conversations',
      'POST /conversations/{conversationId}/messages',
      'POST /inputs',
      'POST /invoke',
      'POST /invoke/stream',
      'POST /jobs',
    ]);
    for (const method of methods()) {
      expect(method.AuthorizationType).toBe('NONE');
      expect(method.ApiKeyRequired).toBe(true);
    }
  });

  it('answers any other method of a path 405 and OPTIONS 204, with Allow listing its methods, from MOCK integrations', () => {
    const mocks = methods().filter((m) => m.Integration.Type === 'MOCK');
    const allowOf = (m: ReturnType<typeof methods>[number]) => m.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Allow'];
    const byPath = (httpMethod: string) => Object.fromEntries(mocks.filter((m) => m.HttpMethod === httpMethod).map((m) => [pathOf(m.ResourceId), allowOf(m)]));
    const expected = {
      '/jobs': "'GET, POST, OPTIONS'",
      '/jobs/{jobId}': "'DELETE, GET, OPTIONS'",
      '/models': "'GET, OPTIONS'",
      '/openapi.json': "'GET, OPTIONS'",
      '/api/classify': "'POST, OPTIONS'",
      '/api/generate': "'POST, OPTIONS'",
      '/api/analyze': "'POST, OPTIONS'",
      '/invoke': "'POST, OPTIONS'",
      '/invoke/stream': "'POST, OPTIONS'",
      '/chat/completions': "'POST, OPTIONS'",
      '/conversations': "'POST, OPTIONS'",
      '/conversations/{conversationId}': "'DELETE, GET, OPTIONS'",
      '/conversations/{conversationId}/messages': "'POST, OPTIONS'",
      '/inputs': "'POST, OPTIONS'",
      '/batches': "'POST, OPTIONS'",
      '/batches/{batchId}': "'DELETE, GET, OPTIONS'",
    };
    expect(byPath('ANY')).toEqual(expected);
    expect(byPath('OPTIONS')).toEqual(expected);
    expect(mocks).toHaveLength(32);
    for (const mock of mocks) {
      const status = mock.HttpMethod === 'ANY' ? '405' : '204';
      // Every content type the template maps answers the status; any other is refused (415), never passed to the mock.
      expect(mock.Integration.PassthroughBehavior).toBe('NEVER');
      expect(Object.values(mock.Integration.RequestTemplates)).toEqual(Object.keys(mock.Integration.RequestTemplates).map(() => `{"statusCode": ${status}}`));
      expect(mock.Integration.RequestTemplates).toHaveProperty(['application/json']);
      expect(mock.Integration.IntegrationResponses).toEqual([expect.objectContaining({ StatusCode: status })]);
      expect(mock.MethodResponses).toEqual([expect.objectContaining({ StatusCode: status, ResponseParameters: expect.objectContaining({ 'method.response.header.Allow': true }) })]);
    }
    const jobsAny = mocks.find((m) => m.HttpMethod === 'ANY' && pathOf(m.ResourceId) === '/jobs');
    expect(JSON.parse(jobsAny.Integration.IntegrationResponses[0].ResponseTemplates['application/json'])).toEqual({
      error: { code: 'METHOD_NOT_ALLOWED', message: '$context.httpMethod is not allowed on /jobs; allowed: GET, POST, OPTIONS' },
    });
  });

  it('leaves body validation to the functions: no request validator, a documentation model of the job request', () => {
    template.resourceCountIs('AWS::ApiGateway::RequestValidator', 0);
    for (const method of methods()) expect(method.RequestValidatorId).toBeUndefined();
    const model = resourceNamed(template, 'AWS::ApiGateway::Model', 'ApiJobRequestModel');
    expect(model.resource.Properties.Schema).toMatchObject({
      $schema: 'http://json-schema.org/draft-04/schema#',
      type: 'object',
      additionalProperties: false,
      properties: expect.objectContaining({ prompt: expect.any(Object), messages: expect.any(Object), route: expect.any(Object), metadata: expect.objectContaining({ type: 'object' }) }),
    });
    // Every POST takes the job request but the OpenAI-compatible one, whose body is OpenAI's.
    const posts = methods().filter((m) => m.HttpMethod === 'POST');
    const jobBodies = ['/jobs', '/invoke', '/invoke/stream', '/api/classify', '/api/generate', '/api/analyze'];
    for (const post of posts) expect([pathOf(post.ResourceId), post.RequestModels]).toEqual([pathOf(post.ResourceId), jobBodies.includes(pathOf(post.ResourceId)) ? { 'application/json': ref(model.id) } : undefined]);
  });

  it('answers gateway errors with the API\'s JSON error shape and documented codes', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => r.Properties);
    const byType = Object.fromEntries(responses.map((r) => [r.ResponseType, r]));
    expect(Object.keys(byType).sort()).toEqual(
      ['ACCESS_DENIED', 'DEFAULT_4XX', 'DEFAULT_5XX', 'INVALID_API_KEY', 'MISSING_AUTHENTICATION_TOKEN', 'QUOTA_EXCEEDED', 'REQUEST_TOO_LARGE', 'THROTTLED', 'UNSUPPORTED_MEDIA_TYPE'],
    );
    for (const response of responses) {
      expect(response.ResponseParameters['gatewayresponse.header.Content-Type']).toBe("'application/json'");
      const code = /^\{"error":\{"code":"([^"]+)","message":/.exec(response.ResponseTemplates['application/json'])?.[1];
      expect(code === '$context.error.responseType' || code! in API_ERRORS).toBe(true);
    }
    expect(byType.MISSING_AUTHENTICATION_TOKEN.StatusCode).toBe('404');
  });

  it('is regional and carries no WAF association unless configured', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
  });
});

describe('observability', () => {
  /** A Quarry pipeline metric as an alarm's MetricStat names it (namespace Quarry, dimension service=quarry only). */
  const quarryMetric = (name: string, stat = 'Sum') =>
    Match.objectLike({ MetricStat: { Metric: { Namespace: 'Quarry', MetricName: name, Dimensions: [{ Name: 'service', Value: 'quarry' }] }, Period: 300, Stat: stat } });

  it('alarms on jobs dead-lettered, from the metric the dead-letter handler emits (not the DLQ depth)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Metrics: [quarryMetric('JobsDeadLettered')], Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    const depth = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(depth).toEqual([]);
  });

  it('alarms when dead letters stay in the DLQ for 15 minutes (its handler cannot settle them)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      EvaluationPeriods: 3,
      Threshold: 1,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'visible + inFlight' }),
        Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [build.resources.deadLetterQueue, 'QueueName'] } }] }), Stat: 'Minimum' }) }),
        Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesNotVisible' }), Stat: 'Minimum' }) }),
      ]),
    });
  });

  it('alarms on jobs past their deadline and on any sweep finding (announced > 0 over 5 minutes)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Metrics: [quarryMetric('JobsPastDeadline')], Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1, Metrics: [quarryMetric('SweepAnnounced')] });
  });

  it('alarms on sweep errors, sweep function errors and a sweep that stopped running', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Metrics: [quarryMetric('SweepErrors')] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: ref(sweepId) }] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: ref(sweepId) }],
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it('keeps the worker-errors, queue-age, API 5xx and failed-jobs alarms, and shows every alarm in the status widget', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: ref(build.functions.worker.logicalId) }] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 1800 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5XXError' });
    const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(11);
    expect(build.stack.observability.alarms).toHaveLength(11);
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const id of alarms) expect(body).toContain(id);
  });

  it('exports the endpoints a client and the local runtime need', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      ['ApiKeyIdDefault', 'ApiUrl', 'DashboardName', 'DeadLetterQueueUrl', 'EventsTopicArn', 'InputsBucketName', 'JobsQueueUrl', 'JobsTableName', 'ResultsBucketName'],
    );
  });
});

describe('POST /invoke', () => {
  let invokeId: string;
  beforeAll(() => {
    invokeId = build.stack.resolve((build.stack.invoke.function.node.defaultChild as CfnResource).logicalId) as string;
  });
  const methods = () => Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => m.Properties as Record<string, any>);

  it('is a Lambda proxy method whose integration timeout is set explicitly, a second under the function timeout', () => {
    const [invokeResource] = Object.entries(template.findResources('AWS::ApiGateway::Resource')).find(([, r]) => r.Properties.PathPart === 'invoke')!;
    const post = methods().find((m) => m.HttpMethod === 'POST' && JSON.stringify(m.ResourceId) === JSON.stringify(ref(invokeResource)));
    expect(post).toMatchObject({ ApiKeyRequired: true, Integration: { Type: 'AWS_PROXY', TimeoutInMillis: defaults.api.invokeTimeoutSeconds * 1000 } });
    expect(fnNamed(invokeId).Timeout).toBe(defaults.api.invokeTimeoutSeconds + 1);
    expect(envOf(invokeId)[ENV.invokeTimeoutSeconds]).toBe(String(defaults.api.invokeTimeoutSeconds));
  });

  it('streams POST /invoke/stream through a response-streaming integration whose timeout is set explicitly', () => {
    const streamId = build.stack.resolve((build.stack.invokeStream.function.node.defaultChild as CfnResource).logicalId) as string;
    const [streamResource] = Object.entries(template.findResources('AWS::ApiGateway::Resource')).find(([, r]) => r.Properties.PathPart === 'stream')!;
    const post = methods().find((m) => m.HttpMethod === 'POST' && JSON.stringify(m.ResourceId) === JSON.stringify(ref(streamResource)));
    expect(post).toMatchObject({ ApiKeyRequired: true, Integration: { Type: 'AWS_PROXY', ResponseTransferMode: 'STREAM', TimeoutInMillis: defaults.api.streamTimeoutSeconds * 1000 } });
    expect(JSON.stringify(post!.Integration.Uri)).toContain('/response-streaming-invocations');
    expect(fnNamed(streamId).Timeout).toBe(defaults.api.streamTimeoutSeconds + 1);
    expect(envOf(streamId)[ENV.invokeTimeoutSeconds]).toBe(String(defaults.api.streamTimeoutSeconds));
    // The grants of POST /invoke, and for conversations their items, a turn's job and sending it to the queue.
    const grantsOf = (id: string) => statementsOf(template, id.replace(/Function[0-9A-F]{8}$/, 'Role')).filter((st) => !actionsOf(st).some((a) => a.startsWith('logs:')));
    const extra = grantsOf(streamId).filter((st) => !grantsOf(invokeId).some((g) => JSON.stringify(g) === JSON.stringify(st)));
    expect(grantsOf(streamId)).toEqual(expect.arrayContaining(grantsOf(invokeId)));
    expect(extra.map((st) => [actionsOf(st).sort(), (st as { Condition?: Record<string, Record<string, unknown>> }).Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? st.Resource])).toEqual([
      [['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [`${ITEM_KINDS.conversation}*`]],
      [['dynamodb:GetItem', 'dynamodb:PutItem'], [`${ITEM_KINDS.job}*`]],
      [['dynamodb:PutItem'], [`${ITEM_KINDS.input}*`]],
      [['sqs:SendMessage'], arnOf(build.resources.jobsQueue)],
    ]);
  });

  it('gets an environment its settings schema accepts, with the routes the worker has', () => {
    const env = resolveIntrinsics(envOf(invokeId), { region: 'eu-west-1', accountId: '123456789012', ref: (id) => `ref-${id}`, getAtt: (id, a) => `${a}-of-${id}` }) as Record<string, string>;
    expect(invokeSettingsSchema.safeParse(env).error?.issues ?? []).toEqual([]);
    expect(envOf(invokeId)[ENV.routes]).toBe(envOf(build.functions.worker.logicalId)[ENV.routes]);
    expect(Object.keys(envOf(invokeId))).not.toContain(ENV.jobsQueueUrl);
  });

  it('may keep the cache, breakers and admission schedules and invoke the configured models, and touch no job, queue or topic', () => {
    const policy = invokeId.replace(/Function[0-9A-F]{8}$/, 'Role');
    const statements = statementsOf(template, policy).filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')));
    const items = statements
      .filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')))
      .map((s) => ({ actions: actionsOf(s).sort(), items: (s as { Condition?: Record<string, Record<string, unknown>> }).Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] }));
    expect(items).toEqual([
      { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], items: [`${ITEM_KINDS.cache}*`] },
      { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], items: [`${ITEM_KINDS.breaker}*`] },
      { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], items: [`${ITEM_KINDS.bucket}*`] },
    ]);
    const bedrock = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('bedrock:')));
    expect(bedrock).toHaveLength(1);
    const resources = (bedrock[0].Resource as unknown[]).map((r) => JSON.stringify(build.stack.resolve(r)));
    expect(resources.sort()).toEqual(build.stack.bedrockModelArns().map((a) => JSON.stringify(build.stack.resolve(a))).sort());
    // Besides: reading the attachments a request names in the inputs bucket.
    expect(statements.filter((s) => !actionsOf(s).some((a) => a.startsWith('dynamodb:') || a.startsWith('bedrock:'))).map((s) => [actionsOf(s), s.Resource])).toEqual([
      [['s3:GetObject'], { 'Fn::Join': ['', [arnOf(build.resources.inputsBucket), '/*']] }],
    ]);
  });
});
