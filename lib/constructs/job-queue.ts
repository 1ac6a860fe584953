import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface JobQueueProps {
  /** How long a received job stays hidden; keep it at least 6x the worker timeout (the Lambda guidance). */
  readonly visibilityTimeout: Duration;
  /** Deliveries of a message before it moves to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number;
  /** How long a queued job may wait. @default Duration.days(4) */
  readonly retentionPeriod?: Duration;
  /** How long a dead letter received by its handler stays hidden; keep it at least 6x that handler's timeout. @default Duration.seconds(30) */
  readonly deadLetterVisibilityTimeout?: Duration;
}

/**
 * The jobs queue and its dead-letter queue.
 *
 * Default settings: SSE-SQS encryption on both (SQS-managed keys: nothing to grant to producers, consumers or
 * subscribers, no KMS request cost per message; the payload is a job id and route, the prompt stays in
 * DynamoDB), TLS-only queue policies, redrive after `maxReceiveCount` deliveries, DLQ retention 14 days
 * (the maximum, longer than the source queue's so a dead letter outlives its original).
 */
export class JobQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1) throw new Error(`JobQueue: maxReceiveCount must be a positive integer, got ${maxReceiveCount}`);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: props.deadLetterVisibilityTimeout,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: props.retentionPeriod ?? Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
  }

  /** Submit, worker, dead-letter handler and sweep: enqueue jobs (again). */
  public grantSendJobs(grantee: iam.IGrantable): iam.Grant {
    return this.queue.grant(grantee, 'sqs:SendMessage');
  }
}
