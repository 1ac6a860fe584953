import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod/mini';
import type { NormalizedJobRequest } from '../core/job-request';
import { jsonText } from '../core/json-text';
import type { JobMessage } from '../core/ports';
import { requestTravelsInMessage } from '../core/delivery';

/**
 * The queue message (lambda/core/ports.ts JobMessage): the job id (and tenant, for logs), the request's fingerprint,
 * when the job was submitted and, when it is small (lambda/core/delivery.ts), the job's request: its only copy.
 */
export const jobMessageSchema = z.object({
  jobId: z.string().check(z.minLength(1), z.maxLength(64)),
  tenant: z.optional(z.string()),
  requestHash: z.optional(z.string()),
  createdAt: z.optional(z.string()),
  request: z.optional(z.custom<NormalizedJobRequest>((value) => typeof value === 'object' && value !== null && Array.isArray((value as { messages?: unknown }).messages))),
  poll: z.optional(z.number().check(z.int(), z.positive())),
});

/** The message body for a job, with its request only if that is small enough. */
function bodyOf(message: JobMessage): string {
  if (message.request && !requestTravelsInMessage(message.request)) {
    const { request: _large, ...rest } = message;
    return JSON.stringify(rest);
  }
  return JSON.stringify(message);
}

/** An SQS record body carrying a job message (JSON text). */
export const jobMessageBodySchema = jsonText(jobMessageSchema);

export class JobQueue {
  constructor(private readonly client: SQSClient) {}

  async enqueue(queueUrl: string, message: JobMessage): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: bodyOf(message),
        MessageAttributes: message.tenant ? { tenant: { DataType: 'String', StringValue: message.tenant } } : undefined,
      }),
    );
  }

  /**
   * Sends many jobs' messages, ten to a SendMessageBatch call, several calls at once; an entry SQS refused is sent
   * again (a few times), and what still fails throws, so the caller runs the step again.
   */
  async enqueueMany(queueUrl: string, messages: JobMessage[]): Promise<void> {
    const groups: JobMessage[][] = [];
    for (let i = 0; i < messages.length; i += 10) groups.push(messages.slice(i, i + 10));
    await Promise.all(
      groups.map(async (group) => {
        let pending = group.map((message, i) => ({ Id: String(i), MessageBody: bodyOf(message), ...(message.tenant && { MessageAttributes: { tenant: { DataType: 'String', StringValue: message.tenant } } }) }));
        for (let round = 0; pending.length > 0; round++) {
          if (round > 3) throw new Error(`SendMessageBatch kept refusing ${pending.length} messages`);
          const { Failed = [] } = await this.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
          const failed = new Set(Failed.map((f) => f.Id));
          pending = pending.filter((entry) => failed.has(entry.Id));
        }
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
        MessageBody: bodyOf(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
        MessageAttributes: message.tenant ? { tenant: { DataType: 'String', StringValue: message.tenant } } : undefined,
      }),
    );
  }
}
