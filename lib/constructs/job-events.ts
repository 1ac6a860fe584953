import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QuarryConfig } from '../config';

export type JobEventSubscription = QuarryConfig['subscriptions'][number];

/** Message attributes every job event carries, usable in subscription filter policies. */
export const JOB_EVENT_ATTRIBUTES = ['status', 'route', 'tenant'] as const;

export interface JobEventsProps {
  /** Subscriptions created with the topic. @default - none */
  readonly subscriptions?: readonly JobEventSubscription[];
  /** What `cdk destroy` does to the topic key. @default RemovalPolicy.RETAIN */
  readonly keyRemovalPolicy?: RemovalPolicy;
}

/**
 * The topic that announces each job reaching a terminal state, and its subscriptions.
 *
 * Default settings: SSE with a customer managed KMS key with yearly rotation (the AWS managed `alias/aws/sns`
 * key's policy cannot be edited, so no other service could ever be allowed to use it), a TLS-only topic policy,
 * filter policies on the `status`, `route` and `tenant` message attributes. Every subscription redrives the events
 * SNS could not deliver (after its delivery retries, or at once for a client error such as a deleted endpoint) to
 * one shared dead-letter queue (SSE-SQS, TLS-only, 14 days), whose policy lets this topic alone send to it.
 *
 * An `sqs` subscriber queue must allow `sqs:SendMessage` from this topic (and, if KMS-encrypted, let
 * `sns.amazonaws.com` use its key); a `lambda` subscriber must live in the deploying account.
 */
export class JobEvents extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;
  /** Events no subscriber could take; created with the first subscription. */
  public readonly subscriptionDeadLetterQueue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobEventsProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts Quarry job events (SNS)',
      enableKeyRotation: true,
      removalPolicy: props.keyRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true });
    const subscriptionList = props.subscriptions ?? [];
    if (subscriptionList.length > 0) {
      this.subscriptionDeadLetterQueue = new sqs.Queue(this, 'SubscriptionDeadLetterQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(this.subscriptionDeadLetterQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: "It is the dead-letter queue of the topic's subscriptions (each subscription's RedrivePolicy names it); cdk-nag recognizes only SQS redrive policies.",
      });
    }
    subscriptionList.forEach((subscription, index) => {
      this.topic.addSubscription(this.subscriptionFor(subscription, index, this.subscriptionDeadLetterQueue!));
    });
  }

  /** Worker, dead-letter handler and sweep: publish job events (and encrypt them with the topic key). */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [this.topic.topicArn] }).combine(
      iam.Grant.addToPrincipal({ grantee, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resourceArns: [this.key.keyArn] }),
    );
  }

  private subscriptionFor(subscription: JobEventSubscription, index: number, deadLetterQueue: sqs.IQueue): sns.ITopicSubscription {
    // The subscription's redrive policy names the queue; CDK adds the queue policy that lets this topic send to it.
    const options = { filterPolicy: filterPolicyOf(subscription.filter), deadLetterQueue };
    switch (subscription.protocol) {
      case 'email':
        return new subscriptions.EmailSubscription(subscription.endpoint, options);
      case 'https':
        return new subscriptions.UrlSubscription(subscription.endpoint, { protocol: sns.SubscriptionProtocol.HTTPS, ...options });
      case 'sqs':
        return new subscriptions.SqsSubscription(sqs.Queue.fromQueueArn(this, `SubscriberQueue${index}`, subscription.endpoint), options);
      case 'lambda':
        return new subscriptions.LambdaSubscription(
          lambda.Function.fromFunctionAttributes(this, `SubscriberFunction${index}`, { functionArn: subscription.endpoint, sameEnvironment: true }),
          options,
        );
    }
  }
}

function filterPolicyOf(filter: JobEventSubscription['filter']): Record<string, sns.SubscriptionFilter> | undefined {
  if (!filter) return undefined;
  const policy: Record<string, sns.SubscriptionFilter> = {};
  for (const attribute of JOB_EVENT_ATTRIBUTES) {
    const allowlist = filter[attribute];
    if (allowlist) policy[attribute] = sns.SubscriptionFilter.stringFilter({ allowlist });
  }
  return Object.keys(policy).length > 0 ? policy : undefined;
}
