import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import { z } from 'zod';

/** The queue message: only the job id (and tenant, for logs). The request itself stays in DynamoDB. */
export const jobMessageSchema = z.object({ jobId: z.string().min(1).max(64), tenant: z.string().optional() });
export type JobMessage = z.infer<typeof jobMessageSchema>;

/** An SQS record body carrying a job message (JSON text). */
export const jobMessageBodySchema = JSONStringified(jobMessageSchema);

export class JobQueue {
  constructor(private readonly client: SQSClient) {}

  async enqueue(queueUrl: string, message: JobMessage): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message),
        MessageAttributes: message.tenant ? { tenant: { DataType: 'String', StringValue: message.tenant } } : undefined,
      }),
    );
  }

  /** Makes a delivered message visible again after `delaySeconds` instead of the full visibility timeout. */
  async redeliverAfter(queueUrl: string, receiptHandle: string, delaySeconds: number): Promise<void> {
    await this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: Math.round(delaySeconds) }));
  }

  /**
   * Sends the job again as a new message that becomes visible after `delaySeconds` (at most 900). The delivered
   * message is then acknowledged, so waiting for a model never spends the job's dead-letter receive budget.
   */
  async requeue(queueUrl: string, message: JobMessage, delaySeconds: number): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
        MessageAttributes: message.tenant ? { tenant: { DataType: 'String', StringValue: message.tenant } } : undefined,
      }),
    );
  }
}
