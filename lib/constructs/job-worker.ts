import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QuarryFunction } from './quarry-function';

export interface JobWorkerProps {
  /** The jobs queue the worker consumes. */
  readonly queue: sqs.IQueue;
  /** Function environment (names from lambda/core/settings.ts `ENV`). */
  readonly environment: Record<string, string>;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(120) */
  readonly timeout?: Duration;
  /** Records per invocation. @default 5 */
  readonly batchSize?: number;
  /** How long the event source mapping gathers a batch. @default Duration.seconds(0) */
  readonly maxBatchingWindow?: Duration;
  /** Most concurrent invocations the event source mapping starts (never reserved concurrency). @default 10 */
  readonly maxConcurrency?: number;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The worker function and its SQS event source mapping.
 *
 * Default settings: partial batch responses (`ReportBatchItemFailures`), so one failed job does not redeliver
 * the batch; concurrency capped on the mapping with `maxConcurrency`, because reserved concurrency would
 * throttle the poller and burn receive counts into the DLQ.
 */
export class JobWorker extends Construct {
  public readonly fn: QuarryFunction;
  public readonly eventSource: lambdaEventSources.SqsEventSource;

  constructor(scope: Construct, id: string, props: JobWorkerProps) {
    super(scope, id);
    this.fn = new QuarryFunction(this, 'Worker', {
      handler: 'worker',
      description: 'Quarry worker: runs queued jobs against Amazon Bedrock',
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(120),
      environment: props.environment,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.eventSource = new lambdaEventSources.SqsEventSource(props.queue, {
      batchSize: props.batchSize ?? 5,
      maxBatchingWindow: props.maxBatchingWindow,
      maxConcurrency: props.maxConcurrency ?? 10,
      reportBatchItemFailures: true,
    });
    this.fn.function.addEventSource(this.eventSource);
  }
}
