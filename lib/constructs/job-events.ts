import { RemovalPolicy } from 'aws-cdk-lib';
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
 * filter policies on the `status`, `route` and `tenant` message attributes.
 *
 * An `sqs` subscriber queue must allow `sqs:SendMessage` from this topic (and, if KMS-encrypted, let
 * `sns.amazonaws.com` use its key); a `lambda` subscriber must live in the deploying account.
 */
export class JobEvents extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: JobEventsProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts Quarry job events (SNS)',
      enableKeyRotation: true,
      removalPolicy: props.keyRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true });
    (props.subscriptions ?? []).forEach((subscription, index) => {
      this.topic.addSubscription(this.subscriptionFor(subscription, index));
    });
  }

  /** Worker and dead-letter handler: publish job events (and encrypt them with the topic key). */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [this.topic.topicArn] }).combine(
      iam.Grant.addToPrincipal({ grantee, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resourceArns: [this.key.keyArn] }),
    );
  }

  private subscriptionFor(subscription: JobEventSubscription, index: number): sns.ITopicSubscription {
    const filterPolicy = filterPolicyOf(subscription.filter);
    switch (subscription.protocol) {
      case 'email':
        return new subscriptions.EmailSubscription(subscription.endpoint, { filterPolicy });
      case 'https':
        return new subscriptions.UrlSubscription(subscription.endpoint, { protocol: sns.SubscriptionProtocol.HTTPS, filterPolicy });
      case 'sqs':
        return new subscriptions.SqsSubscription(sqs.Queue.fromQueueArn(this, `SubscriberQueue${index}`, subscription.endpoint), { filterPolicy });
      case 'lambda':
        return new subscriptions.LambdaSubscription(
          lambda.Function.fromFunctionAttributes(this, `SubscriberFunction${index}`, { functionArn: subscription.endpoint, sameEnvironment: true }),
          { filterPolicy },
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
