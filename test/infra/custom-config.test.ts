import { Match, Template } from 'aws-cdk-lib/assertions';
import { ENV } from '../../lambda/core/settings';
import { resourceNamed, statementsOf, actionsOf, synth, type Synthesized } from './synth';

const webAclArn = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/quarry/0a1b2c3d';
const config = {
  stackName: 'QuarryCustom',
  models: {
    nova: { modelId: 'amazon.nova-lite-v1:0' },
    sonnet: { modelId: 'global.anthropic.claude-sonnet-4-20250514-v1:0' },
    tuned: { modelId: 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123' },
  },
  routes: { summarize: { model: 'nova', path: '/v2/summarize' }, chat: { model: 'sonnet' }, tuned: { model: 'tuned' } },
  defaultRoute: 'chat',
  api: { rateLimit: 7, burstLimit: 11, webAclArn },
  worker: { memorySize: 1536, timeoutSeconds: 300, batchSize: 25, maxBatchingWindowSeconds: 3, maxConcurrency: 40, maxReceiveCount: 3 },
  results: { expirationDays: 7, inlineMaxBytes: 1000, presignedUrlSeconds: 120 },
  jobs: { ttlDays: 3 },
  inputs: { expirationDays: 2, uploadUrlSeconds: 300 },
  guardrails: [{ id: 'pii1a2b', description: 'PII' }, { id: 'topics9z' }],
  removalPolicy: 'destroy' as const,
  logRetentionDays: 7,
  logPromptText: true,
  subscriptions: [
    { protocol: 'email' as const, endpoint: 'ops@example.com', filter: { status: ['FAILED'] } },
    { protocol: 'https' as const, endpoint: 'https://hooks.example.com/quarry', filter: { route: ['summarize'], tenant: ['acme', 'globex'] } },
    { protocol: 'sqs' as const, endpoint: 'arn:aws:sqs:eu-west-1:123456789012:job-events' },
    { protocol: 'lambda' as const, endpoint: 'arn:aws:lambda:eu-west-1:123456789012:function:on-job', filter: { status: ['SUCCEEDED', 'FAILED'] } },
  ],
};

let template: Template;
let build: Synthesized['build'];

beforeAll(() => {
  ({ template, build } = synth(config));
});

describe('a stack built from a custom configuration', () => {
  it('is named by the config', () => {
    expect(build.stack.stackName).toBe('QuarryCustom');
  });

  it('subscribes each configured endpoint with its filter policy on status/route/tenant', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 4);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', FilterPolicy: { status: ['FAILED'] } });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://hooks.example.com/quarry',
      FilterPolicy: { route: ['summarize'], tenant: ['acme', 'globex'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'sqs', Endpoint: 'arn:aws:sqs:eu-west-1:123456789012:job-events', FilterPolicy: Match.absent() });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      Endpoint: 'arn:aws:lambda:eu-west-1:123456789012:function:on-job',
      FilterPolicy: { status: ['SUCCEEDED', 'FAILED'] },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'sns.amazonaws.com', FunctionName: 'arn:aws:lambda:eu-west-1:123456789012:function:on-job' });
  });

  it('gives every subscription the one dead-letter queue (SSE, TLS only, 14 days), which only the topic may send to, with an alarm on its depth', () => {
    const queue = resourceNamed(template, 'AWS::SQS::Queue', 'EventsSubscriptionDeadLetterQueue');
    expect(queue.resource.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription')).map((r) => r.Properties);
    expect(subscriptions).toHaveLength(4);
    for (const subscription of subscriptions) expect(subscription.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [queue.id, 'Arn'] } });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue.id }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'sns.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { Ref: build.resources.eventsTopic } } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue.id, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('sizes the worker, its queue and its event source mapping from the config', () => {
    const worker = resourceNamed(template, 'AWS::Lambda::Function', build.functions.worker.logicalId).resource.Properties;
    expect(worker).toMatchObject({ MemorySize: 1536, Timeout: 300 });
    expect(worker.Environment.Variables).toMatchObject({
      [ENV.resultInlineMaxBytes]: '1000',
      [ENV.logPromptText]: 'true',
    });
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 1800, RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }) });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: build.functions.worker.logicalId },
      BatchSize: 25,
      MaximumBatchingWindowInSeconds: 3,
      ScalingConfig: { MaximumConcurrency: 40 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('passes the other limits to the functions that enforce them', () => {
    const env = (role: keyof typeof build.functions) => resourceNamed(template, 'AWS::Lambda::Function', build.functions[role].logicalId).resource.Properties.Environment.Variables;
    expect(env('submit')[ENV.jobTtlDays]).toBe('3');
    expect(env('status')[ENV.resultUrlSeconds]).toBe('120');
    expect(JSON.parse(env('submit')[ENV.routes])).toEqual({
      defaultRoute: 'chat',
      routes: {
        summarize: { modelId: 'amazon.nova-lite-v1:0', path: '/v2/summarize' },
        chat: { modelId: 'global.anthropic.claude-sonnet-4-20250514-v1:0' },
        tuned: { modelId: 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123' },
      },
      models: {
        'amazon.nova-lite-v1:0': { key: 'nova', contextWindow: 200000 },
        'global.anthropic.claude-sonnet-4-20250514-v1:0': { key: 'sonnet', contextWindow: 200000 },
        'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123': { key: 'tuned', contextWindow: 200000 },
      },
    });
  });

  it('grants Bedrock on exactly these models: foundation model, global profile with destinations, application profile', () => {
    const bedrock = statementsOf(template, build.functions.worker.logicalId.replace(/Function[0-9A-F]{8}$/, 'Role')).find((s) => actionsOf(s).includes('bedrock:InvokeModel'))!;
    const resources = (bedrock.Resource as unknown[]).map((r) => JSON.stringify(r));
    expect(resources).toHaveLength(5);
    expect(resources).toContain('"arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123"');
    const joined = resources.join('\n');
    expect(joined).toMatch(/::foundation-model\/amazon\.nova-lite-v1:0/);
    expect(joined).toMatch(/:inference-profile\/global\.anthropic\.claude-sonnet-4-20250514-v1:0/);
    expect(joined).toMatch(/:bedrock:\*::foundation-model\/anthropic\.claude-sonnet-4-20250514-v1:0/);
    expect(joined).toMatch(/:bedrock:::foundation-model\/anthropic\.claude-sonnet-4-20250514-v1:0/);
    expect(joined).not.toMatch(/claude-3-haiku|opus/);
  });

  it('throttles the stage, adds the static path and associates the web ACL', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', { MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 7, ThrottlingBurstLimit: 11 })] });
    template.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: 'summarize' });
    // POST and GET /jobs, GET and DELETE /jobs/{jobId}, POST /batches, GET and DELETE /batches/{batchId}, POST /inputs, GET /models, GET /openapi.json, POST /invoke, POST /invoke/stream, POST /chat/completions, the conversation paths and POST /api/summarize, each with its ANY (405) and OPTIONS answers.
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => `${m.Properties.HttpMethod} ${m.Properties.Integration.Type}`);
    expect(methods.filter((m) => m.endsWith('AWS_PROXY'))).toHaveLength(18);
    expect(methods.filter((m) => m.endsWith('MOCK')).sort()).toEqual([...Array(14).fill('ANY MOCK'), ...Array(14).fill('OPTIONS MOCK')]);
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { WebACLArn: webAclArn });
  });

  it('lets cdk destroy remove data resources when removalPolicy is destroy', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: false }) });
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete' });
    template.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'results/', ExpirationInDays: 7 })]) } });
  });

  it('lets the functions that call models apply exactly the configured guardrails, and tells the request validation which they are', () => {
    const idOf = (fn: { function: { node: { defaultChild?: unknown } } }) => build.stack.resolve((fn.function.node.defaultChild as { logicalId: string }).logicalId) as string;
    for (const fn of [build.stack.invoke, build.stack.invokeStream, build.stack.worker.fn]) {
      const guardrails = statementsOf(template, idOf(fn).replace(/Function[0-9A-F]{8}$/, 'Role')).filter((st) => actionsOf(st).includes('bedrock:ApplyGuardrail'));
      expect(guardrails).toHaveLength(1);
      expect(actionsOf(guardrails[0])).toEqual(['bedrock:ApplyGuardrail']);
      const resources = JSON.stringify(guardrails[0].Resource);
      expect(resources).toContain(':guardrail/pii1a2b');
      expect(resources).toContain(':guardrail/topics9z');
      expect(resources).not.toContain('*');
    }
    const submitEnv = template.toJSON().Resources[idOf(build.stack.submit)].Properties.Environment.Variables;
    expect(submitEnv[ENV.guardrails]).toBe('["pii1a2b","topics9z"]');
    expect(submitEnv[ENV.inputUploadSeconds]).toBe('300');
  });

  it('expires inputs after the configured days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-inputs', ExpirationInDays: 2 })]) } });
  });
});
