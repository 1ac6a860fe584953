import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { CloudFormationTemplate, TemplateResource } from './cloud-assembly';
import type { ServiceEndpoints } from './emulators';
import { resolveIntrinsics, type ResolutionContext } from './intrinsics';

export const LOCAL_ACCOUNT_ID = '000000000000';

/** A resource as it exists locally: what `Ref` gives and its `Fn::GetAtt` attributes. */
export interface LocalResource {
  type: string;
  ref: string;
  attributes: Record<string, string>;
}

export type Log = (line: string) => void;

export interface AwsClients {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  sns: SNSClient;
  s3: S3Client;
}

export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function createAwsClients(endpoints: ServiceEndpoints, region: string): AwsClients {
  const common = { region, credentials: localCredentials, maxAttempts: 2 };
  return {
    dynamodb: new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb }),
    // fauxqs answers QueueUrls on sqs.<region>.localhost: keep the configured endpoint, not the URL's host.
    sqs: new SQSClient({ ...common, endpoint: endpoints.sqs, useQueueUrlAsEndpoint: false }),
    sns: new SNSClient({ ...common, endpoint: endpoints.sns }),
    s3: new S3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true }),
  };
}

/** The local resources of one stack and the resolver context that maps the template onto them. */
export class LocalTopology {
  readonly resources = new Map<string, LocalResource>();

  constructor(
    readonly template: CloudFormationTemplate,
    readonly region: string,
    readonly stackName: string,
  ) {}

  get context(): ResolutionContext {
    return {
      region: this.region,
      accountId: LOCAL_ACCOUNT_ID,
      stackName: this.stackName,
      ref: (id) => this.resources.get(id)?.ref,
      getAtt: (id, attribute) => this.resources.get(id)?.attributes[attribute],
      parameters: Object.fromEntries(Object.entries(this.template.Parameters ?? {}).map(([k, p]) => [k, p.Default])),
      conditions: this.template.Conditions,
      mappings: this.template.Mappings,
    };
  }

  resolve<T = unknown>(value: unknown, path: string): T {
    return resolveIntrinsics(value, this.context, path) as T;
  }

  ofType(...types: string[]): Array<[string, TemplateResource]> {
    return Object.entries(this.template.Resources).filter(([, r]) => types.includes(r.Type));
  }

  functionArn(name: string): string {
    return `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT_ID}:function:${name}`;
  }
}

const arn = (service: string, region: string, resource: string) => `arn:aws:${service}:${region}:${LOCAL_ACCOUNT_ID}:${resource}`;

/**
 * Creates the stack's tables, buckets, queues (redrive to their DLQs), topics and subscriptions on the local
 * endpoints, named after their logical ids unless the template names them, and registers every local value a
 * function's environment may refer to.
 */
export async function createTopology(topology: LocalTopology, clients: AwsClients, log: Log): Promise<void> {
  const { region } = topology;
  const props = (r: TemplateResource) => r.Properties ?? {};

  for (const [id, r] of topology.ofType('AWS::Lambda::Function')) {
    const name = typeof props(r).FunctionName === 'string' ? String(props(r).FunctionName) : id;
    topology.resources.set(id, { type: r.Type, ref: name, attributes: { Arn: topology.functionArn(name) } });
  }
  for (const [id, r] of topology.ofType('AWS::IAM::Role')) {
    topology.resources.set(id, { type: r.Type, ref: id, attributes: { Arn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${id}`, RoleId: id } });
  }
  for (const [id, r] of topology.ofType('AWS::ApiGateway::RestApi', 'AWS::ApiGateway::Resource', 'AWS::ApiGateway::Deployment', 'AWS::ApiGateway::Stage', 'AWS::ApiGateway::Model', 'AWS::ApiGateway::RequestValidator', 'AWS::ApiGateway::ApiKey', 'AWS::ApiGateway::UsagePlan')) {
    const ref = r.Type === 'AWS::ApiGateway::Stage' ? String(props(r).StageName ?? id) : id;
    topology.resources.set(id, { type: r.Type, ref, attributes: { RootResourceId: `${id}Root`, ResourceId: id, Arn: arn('apigateway', region, id), APIKeyId: id } });
  }

  for (const [id, r] of topology.ofType('AWS::Events::Rule')) {
    const name = typeof props(r).Name === 'string' ? String(props(r).Name) : id;
    topology.resources.set(id, { type: r.Type, ref: name, attributes: { Arn: arn('events', region, `rule/${name}`) } });
  }

  for (const [id, r] of topology.ofType('AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable')) {
    const p = props(r);
    const name = typeof p.TableName === 'string' ? p.TableName : id;
    const indexes = (p.GlobalSecondaryIndexes as Array<Record<string, unknown>> | undefined)?.map((gsi) => ({
      IndexName: gsi.IndexName,
      KeySchema: gsi.KeySchema,
      Projection: gsi.Projection ?? { ProjectionType: 'ALL' },
      ...(gsi.ProvisionedThroughput ? { ProvisionedThroughput: gsi.ProvisionedThroughput } : {}),
    }));
    const input = {
      TableName: name,
      KeySchema: p.KeySchema,
      AttributeDefinitions: p.AttributeDefinitions,
      ...(indexes?.length ? { GlobalSecondaryIndexes: indexes } : {}),
      ...(p.LocalSecondaryIndexes ? { LocalSecondaryIndexes: p.LocalSecondaryIndexes } : {}),
      ...(p.ProvisionedThroughput ? { ProvisionedThroughput: p.ProvisionedThroughput } : { BillingMode: 'PAY_PER_REQUEST' }),
    } as CreateTableCommandInput;
    let tableArn = arn('dynamodb', region, `table/${name}`);
    try {
      const created = await clients.dynamodb.send(new CreateTableCommand(input));
      tableArn = created.TableDescription?.TableArn ?? tableArn;
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw new Error(`creating table ${id}: ${(error as Error).message}`, { cause: error });
      const existing = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
      tableArn = existing.Table?.TableArn ?? tableArn;
      log(`table ${name} already exists; reusing it`);
    }
    topology.resources.set(id, { type: r.Type, ref: name, attributes: { Arn: tableArn, StreamArn: `${tableArn}/stream/local` } });
  }

  for (const [id, r] of topology.ofType('AWS::S3::Bucket')) {
    const p = props(r);
    const name = typeof p.BucketName === 'string' ? p.BucketName : id.toLowerCase();
    await clients.s3.send(new CreateBucketCommand({ Bucket: name })).catch((error: Error) => {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(error.name)) throw new Error(`creating bucket ${id}: ${error.message}`, { cause: error });
    });
    topology.resources.set(id, {
      type: r.Type,
      ref: name,
      attributes: { Arn: `arn:aws:s3:::${name}`, DomainName: `${name}.s3.amazonaws.com`, RegionalDomainName: `${name}.s3.${region}.amazonaws.com` },
    });
  }

  await createQueues(topology, clients);

  for (const [id, r] of topology.ofType('AWS::SNS::Topic')) {
    const p = props(r);
    const name = typeof p.TopicName === 'string' ? p.TopicName : p.FifoTopic ? `${id}.fifo` : id;
    const attributes: Record<string, string> = {};
    if (p.FifoTopic) attributes.FifoTopic = 'true';
    if (p.ContentBasedDeduplication) attributes.ContentBasedDeduplication = 'true';
    const created = await clients.sns.send(new CreateTopicCommand({ Name: name, Attributes: attributes }));
    const topicArn = created.TopicArn ?? arn('sns', region, name);
    topology.resources.set(id, { type: r.Type, ref: topicArn, attributes: { TopicArn: topicArn, TopicName: name } });
  }

  const subscriptions: Array<{ id: string; properties: Record<string, unknown> }> = topology.ofType('AWS::SNS::Subscription').map(([id, r]) => ({ id, properties: props(r) }));
  for (const [id, r] of topology.ofType('AWS::SNS::Topic')) {
    for (const [i, inline] of ((props(r).Subscription as Array<Record<string, unknown>> | undefined) ?? []).entries()) {
      subscriptions.push({ id: `${id}.Subscription[${i}]`, properties: { ...inline, TopicArn: { Ref: id } } });
    }
  }
  for (const { id, properties } of subscriptions) {
    const p = topology.resolve<Record<string, unknown>>(properties, id);
    const protocol = String(p.Protocol);
    if (protocol !== 'sqs') {
      log(`subscription ${id}: ${protocol} ${String(p.Endpoint)} is not delivered locally (only sqs subscriptions are)`);
      continue;
    }
    const attributes: Record<string, string> = {};
    if (p.FilterPolicy) attributes.FilterPolicy = typeof p.FilterPolicy === 'string' ? p.FilterPolicy : JSON.stringify(p.FilterPolicy);
    if (p.FilterPolicyScope) attributes.FilterPolicyScope = String(p.FilterPolicyScope);
    if (p.RawMessageDelivery !== undefined) attributes.RawMessageDelivery = String(p.RawMessageDelivery === true || p.RawMessageDelivery === 'true');
    if (p.RedrivePolicy) attributes.RedrivePolicy = typeof p.RedrivePolicy === 'string' ? p.RedrivePolicy : JSON.stringify(p.RedrivePolicy);
    const localQueue = [...topology.resources.values()].some((q) => q.type === 'AWS::SQS::Queue' && q.attributes.Arn === p.Endpoint);
    if (!localQueue) {
      log(`subscription ${id}: queue ${String(p.Endpoint)} is not part of this stack; not delivered locally`);
      continue;
    }
    const subscribed = await clients.sns.send(
      new SubscribeCommand({ TopicArn: String(p.TopicArn), Protocol: 'sqs', Endpoint: String(p.Endpoint), Attributes: attributes, ReturnSubscriptionArn: true }),
    );
    topology.resources.set(id, { type: 'AWS::SNS::Subscription', ref: subscribed.SubscriptionArn ?? id, attributes: {} });
  }
}

const QUEUE_ATTRIBUTES = ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'MaximumMessageSize', 'ReceiveMessageWaitTimeSeconds', 'FifoQueue', 'ContentBasedDeduplication', 'DeduplicationScope', 'FifoThroughputLimit'] as const;

async function createQueues(topology: LocalTopology, clients: AwsClients): Promise<void> {
  const pending = new Map(topology.ofType('AWS::SQS::Queue'));
  // A queue is created after the dead-letter queue its RedrivePolicy points to.
  while (pending.size > 0) {
    const ready = [...pending].filter(([, r]) => {
      const target = JSON.stringify(r.Properties?.RedrivePolicy ?? {});
      return ![...pending.keys()].some((other) => target.includes(`"${other}"`));
    });
    if (ready.length === 0) throw new Error(`queues redrive to each other in a cycle: ${[...pending.keys()].join(', ')}`);
    for (const [id, r] of ready) {
      pending.delete(id);
      const p = r.Properties ?? {};
      const name = typeof p.QueueName === 'string' ? p.QueueName : p.FifoQueue ? `${id}.fifo` : id;
      const attributes: Record<string, string> = {};
      for (const key of QUEUE_ATTRIBUTES) if (p[key] !== undefined) attributes[key] = String(topology.resolve(p[key], `${id}.${key}`));
      if (p.RedrivePolicy) {
        const redrive = topology.resolve<Record<string, unknown>>(p.RedrivePolicy, `${id}.RedrivePolicy`);
        attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: redrive.deadLetterTargetArn, maxReceiveCount: Number(redrive.maxReceiveCount) });
      }
      const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })).catch(async (error: Error) => {
        // An external endpoint may still hold this queue from an earlier run with other attributes.
        if (error.name !== 'QueueAlreadyExists' && error.name !== 'QueueNameExists') throw new Error(`creating queue ${id}: ${error.message}`, { cause: error });
        const again = await clients.sqs.send(new CreateQueueCommand({ QueueName: name }));
        await clients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: again.QueueUrl, Attributes: attributes }));
        return again;
      });
      const queueUrl = created.QueueUrl!;
      const read = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
      const queueArn = read.Attributes?.QueueArn ?? arn('sqs', topology.region, name);
      topology.resources.set(id, { type: r.Type, ref: queueUrl, attributes: { Arn: queueArn, QueueName: name, QueueUrl: queueUrl } });
    }
  }
}
