import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QuarryFunction } from './quarry-function';

export interface DeadLetterHandlerProps {
  /** The dead-letter queue of the jobs queue. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Function environment (names from lambda/core/settings.ts `ENV`). */
  readonly environment: Record<string, string>;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The dead-letter handler's timeout; its queue's visibility timeout must be at least 6x this (the Lambda/SQS guidance). */
export const DEAD_LETTER_HANDLER_TIMEOUT = Duration.seconds(30);

/**
 * Settles dead-lettered jobs: a job still within its deadline goes back to the jobs queue; a poison message or a job
 * past its deadline ends FAILED (`DEAD_LETTERED`) and is announced, so no poller waits forever. A record it cannot
 * settle is reported as a batch item failure and stays in the DLQ (14 days) for a retry.
 */
export class DeadLetterHandler extends Construct {
  public readonly fn: QuarryFunction;
  public readonly eventSource: lambdaEventSources.SqsEventSource;

  constructor(scope: Construct, id: string, props: DeadLetterHandlerProps) {
    super(scope, id);
    this.fn = new QuarryFunction(this, 'DeadLetter', {
      handler: 'dead-letter',
      description: 'Quarry dead-letter handler: requeues dead-lettered jobs still in time, fails the rest',
      timeout: DEAD_LETTER_HANDLER_TIMEOUT,
      environment: props.environment,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.eventSource = new lambdaEventSources.SqsEventSource(props.deadLetterQueue, {
      batchSize: 10,
      maxConcurrency: 2,
      reportBatchItemFailures: true,
    });
    this.fn.function.addEventSource(this.eventSource);
  }
}
