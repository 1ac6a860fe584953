import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/core/settings';
import { QuarryFunction } from './quarry-function';

export interface BatchRunnerProps {
  /** Function environment (names from lambda/core/settings.ts `ENV`); the queue's URL is added. */
  readonly environment: Record<string, string>;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The batch runner's timeout: a fan-out or cancel step that has not the time left hands over to a new message. */
export const BATCH_RUNNER_TIMEOUT = Duration.minutes(5);

/**
 * The batch queue and its runner (lambda/handlers/batch-runner.ts): fans accepted batches out into jobs, walks
 * cancels, writes results files. Every step is safe to repeat, so a failed message is simply run again (after a
 * growing delay); one that fails `maxReceiveCount` times is kept 14 days in the dead-letter queue.
 *
 * Default settings: SSE-SQS, TLS-only, visibility timeout 6x the function's, one message per invocation, at most 5
 * at once (a fan-out is bounded by DynamoDB and SQS calls, not by concurrency).
 */
export class BatchRunner extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly fn: QuarryFunction;

  constructor(scope: Construct, id: string, props: BatchRunnerProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(BATCH_RUNNER_TIMEOUT.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 10 },
    });
    this.fn = new QuarryFunction(this, 'Runner', {
      handler: 'batch-runner',
      description: 'Quarry batch runner: fans batches out into jobs, cancels them, writes their results',
      timeout: BATCH_RUNNER_TIMEOUT,
      memorySize: 1024,
      environment: props.environment,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.fn.function.addEnvironment(ENV.batchesQueueUrl, this.queue.queueUrl);
    this.fn.function.addEventSource(new lambdaEventSources.SqsEventSource(this.queue, { batchSize: 1, maxConcurrency: 5, reportBatchItemFailures: true }));
    this.queue.grant(this.fn.function, 'sqs:SendMessage');
  }

  /** Batches API and every function that ends jobs: send batch messages (fan-out, cancel, completion). */
  public grantSend(grantee: iam.IGrantable): iam.Grant {
    return this.queue.grant(grantee, 'sqs:SendMessage');
  }
}
