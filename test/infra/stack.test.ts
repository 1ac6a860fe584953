import { Match, Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lib/config';
import { routingTableOf } from '../../lib/quarry-stack';
import { ENV, routingTableSchema } from '../../lambda/core/settings';
import { actionsOf, resourceNamed, statementsOf, synth, type Synthesized } from './synth';

let template: Template;
let build: Synthesized['build'];
const defaults = parseConfig({});

beforeAll(() => {
  ({ template, build } = synth());
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
    expect(table.AttributeDefinitions).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
    expect(table.GlobalSecondaryIndexes).toBeUndefined();
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

  it('denies non-TLS access to both buckets', () => {
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(2);
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

  it('has no subscription unless the config asks', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('functions', () => {
  const roles = ['submit', 'status', 'worker', 'deadLetter'] as const;

  it.each(roles)('%s runs Node.js 22 on arm64 with X-Ray, source maps and Powertools settings', (role) => {
    const fn = fnNamed(build.functions[role].logicalId);
    expect(fn.Runtime).toBe('nodejs22.x');
    expect(fn.Architectures).toEqual(['arm64']);
    expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
    expect(fn.Handler).toBe('index.handler');
    expect(fn.Environment.Variables).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'quarry',
      POWERTOOLS_METRICS_NAMESPACE: 'Quarry',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
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
    expect(routes).toEqual(routingTableOf(defaults));
    expect(routes.defaultRoute).toBe('generate');
    expect(routes.routes.classify).toEqual({ modelId: 'anthropic.claude-3-haiku-20240307-v1:0', path: '/api/classify', fallback: ['amazon.nova-micro-v1:0'], cacheResponses: false, fallbackWhenBusy: false });
    expect(envOf(build.functions.worker.logicalId)[ENV.routes]).toBe(envOf(build.functions.submit.logicalId)[ENV.routes]);
  });

  it('gives submit, status and the DLQ handler exactly their settings', () => {
    const base = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_LOG_LEVEL'];
    const keys = (prefix: string) => Object.keys(envOf(prefix)).filter((k) => !base.includes(k)).sort();
    expect(keys(build.functions.submit.logicalId)).toEqual([ENV.jobsTable, ENV.jobsQueueUrl, ENV.routes, ENV.jobTtlDays, ENV.maxRequestBytes].sort());
    expect(envOf(build.functions.submit.logicalId)[ENV.jobsQueueUrl]).toEqual(ref(build.resources.jobsQueue));
    expect(envOf(build.functions.submit.logicalId)[ENV.maxRequestBytes]).toBe(String(defaults.api.maxRequestBytes));
    expect(keys(build.functions.status.logicalId)).toEqual([ENV.jobsTable, ENV.resultUrlSeconds].sort());
    expect(keys(build.functions.deadLetter.logicalId)).toEqual([ENV.jobsTable, ENV.eventsTopicArn].sort());
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

describe('IAM', () => {
  const policyOf = (role: keyof typeof build.functions) => build.functions[role].logicalId.replace(/Function[0-9A-F]{8}$/, 'Role');
  const statements = (role: keyof typeof build.functions) => statementsOf(template, policyOf(role));
  const grants = (role: keyof typeof build.functions) =>
    statements(role)
      .filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')))
      .map((s) => ({ actions: actionsOf(s).sort(), resource: s.Resource }));
  const resultObjects = () => ({ 'Fn::Join': ['', [arnOf(build.resources.resultsBucket), '/results/*']] });

  it('lets submit write jobs and enqueue them, nothing else', () => {
    expect(grants('submit')).toEqual([
      { actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resource: arnOf(build.resources.jobsTable) },
      { actions: ['sqs:SendMessage'], resource: arnOf(build.resources.jobsQueue) },
    ]);
  });

  it('lets status read jobs and result objects, nothing else', () => {
    expect(grants('status')).toEqual([
      { actions: ['dynamodb:GetItem'], resource: arnOf(build.resources.jobsTable) },
      { actions: ['s3:GetObject'], resource: resultObjects() },
    ]);
  });

  it('lets the worker consume and requeue jobs, move them, keep cache and breakers, write results and publish events', () => {
    const keyArn = arnOf(resourceNamed(template, 'AWS::KMS::Key', 'EventsKey').id);
    expect(grants('worker').filter((g) => !g.actions[0].startsWith('bedrock:'))).toEqual([
      {
        actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
        resource: arnOf(build.resources.jobsQueue),
      },
      { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resource: arnOf(build.resources.jobsTable) },
      { actions: ['s3:PutObject'], resource: resultObjects() },
      { actions: ['sns:Publish'], resource: ref(build.resources.eventsTopic) },
      { actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resource: keyArn },
    ]);
  });

  it('lets the worker invoke exactly the configured models and their inference-profile destinations', () => {
    const bedrock = statements('worker').filter((s) => actionsOf(s).some((a) => a.startsWith('bedrock:')));
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

  it('limits each function to the kinds of table items it works on', () => {
    const leadingKeys = (role: Parameters<typeof statements>[0]) =>
      statements(role)
        .filter((st) => actionsOf(st).some((a) => a.startsWith('dynamodb:')))
        .map((st) => ((st as { Condition?: Record<string, Record<string, unknown>> }).Condition ?? {})['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']);
    expect(leadingKeys('submit')).toEqual([['JOB#*']]);
    expect(leadingKeys('status')).toEqual([['JOB#*']]);
    expect(leadingKeys('deadLetter')).toEqual([['JOB#*']]);
    expect(leadingKeys('worker')).toEqual([['JOB#*', 'CACHE#*', 'BREAKER#*', 'BUCKET#*']]);
  });

  it('lets the DLQ handler consume the DLQ, fail jobs and publish events', () => {
    expect(grants('deadLetter').map((g) => g.actions)).toEqual([
      ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
      ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      ['sns:Publish'],
      ['kms:Decrypt', 'kms:GenerateDataKey'],
    ]);
    expect(grants('deadLetter')[0].resource).toEqual(arnOf(build.resources.deadLetterQueue));
  });

  it('scopes log writes to each function\'s own log group', () => {
    for (const role of ['submit', 'status', 'worker', 'deadLetter'] as const) {
      const logs = statements(role).find((s) => actionsOf(s).includes('logs:PutLogEvents'))!;
      expect(logs.Resource).toEqual(arnOf(fnNamed(build.functions[role].logicalId).LoggingConfig.LogGroup.Ref));
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

  it('serves stage v1 with throttling, access logs, tracing, metrics and no data tracing', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: arnOf(resourceNamed(template, 'AWS::Logs::LogGroup', 'ApiAccessLogs').id), Format: Match.anyValue() },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: defaults.api.rateLimit,
          ThrottlingBurstLimit: defaults.api.burstLimit,
          MetricsEnabled: true,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        }),
      ],
    });
  });

  it('routes POST /jobs, GET /jobs/{jobId}, GET /models and a POST per static route path to Lambda proxy integrations, each wanting an API key', () => {
    const routes = methods().map((m) => `${m.HttpMethod} ${pathOf(m.ResourceId)}`).sort();
    expect(routes).toEqual(['GET /jobs/{jobId}', 'GET /models', 'POST /api/analyze', 'POST /api/classify', 'POST /api/generate', 'POST /jobs']);
    for (const method of methods()) {
      expect(method.Integration.Type).toBe('AWS_PROXY');
      expect(method.AuthorizationType).toBe('NONE');
      expect(method.ApiKeyRequired).toBe(true);
    }
  });

  it('validates every POST body against the job request model', () => {
    const model = resourceNamed(template, 'AWS::ApiGateway::Model', 'ApiJobRequestModel');
    expect(model.resource.Properties.Schema).toMatchObject({
      $schema: 'http://json-schema.org/draft-04/schema#',
      type: 'object',
      additionalProperties: false,
      properties: expect.objectContaining({ prompt: expect.any(Object), messages: expect.any(Object), route: expect.any(Object) }),
    });
    const validator = resourceNamed(template, 'AWS::ApiGateway::RequestValidator', 'ApiRequestValidator');
    expect(validator.resource.Properties).toMatchObject({ ValidateRequestBody: true, ValidateRequestParameters: true });
    for (const post of methods().filter((m) => m.HttpMethod === 'POST')) {
      expect(post.RequestValidatorId).toEqual(ref(validator.id));
      expect(post.RequestModels).toEqual({ 'application/json': ref(model.id) });
    }
  });

  it('answers gateway errors with the API\'s JSON error shape', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => r.Properties);
    const byType = Object.fromEntries(responses.map((r) => [r.ResponseType, r]));
    expect(Object.keys(byType).sort()).toEqual(
      ['ACCESS_DENIED', 'BAD_REQUEST_BODY', 'BAD_REQUEST_PARAMETERS', 'DEFAULT_4XX', 'DEFAULT_5XX', 'INVALID_API_KEY', 'MISSING_AUTHENTICATION_TOKEN', 'QUOTA_EXCEEDED', 'REQUEST_TOO_LARGE', 'THROTTLED', 'UNSUPPORTED_MEDIA_TYPE'],
    );
    for (const response of responses) {
      expect(response.ResponseParameters['gatewayresponse.header.Content-Type']).toBe("'application/json'");
      expect(response.ResponseTemplates['application/json']).toMatch(/^\{"error":\{"code":"[^"]+","message":/);
    }
    expect(byType.BAD_REQUEST_BODY.ResponseTemplates['application/json']).toContain('"details":"$context.error.validationErrorString"');
    expect(byType.MISSING_AUTHENTICATION_TOKEN.StatusCode).toBe('404');
  });

  it('is regional and carries no WAF association unless configured', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
  });
});

describe('observability', () => {
  it('alarms on dead letters, worker errors, queue age, API 5xx and the failed-jobs rate', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [build.resources.deadLetterQueue, 'QueueName'] } }],
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: ref(build.functions.worker.logicalId) }] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 1800 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5XXError' });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('exports the endpoints a client and the local runtime need', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      ['ApiKeyIdDefault', 'ApiUrl', 'DashboardName', 'DeadLetterQueueUrl', 'EventsTopicArn', 'JobsQueueUrl', 'JobsTableName', 'ResultsBucketName'],
    );
  });
});
