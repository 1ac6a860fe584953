import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod/mini';
import { jsonText } from '../core/json-text';
import type { BatchMessage, BatchQueue } from '../core/ports';

/** A batch queue message body (lambda/core/ports.ts BatchMessage). */
export const batchMessageBodySchema = jsonText(
  z.union([
    z.object({ kind: z.literal('fan-out'), batchId: z.string(), createdAt: z.optional(z.string()) }),
    z.object({ kind: z.literal('cancel'), batchId: z.string(), from: z.optional(z.number()) }),
    z.object({ kind: z.literal('complete'), batchId: z.string(), checks: z.optional(z.number()) }),
  ]),
);

export class BatchQueueClient implements BatchQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(message: BatchMessage, delaySeconds = 0): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message), DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))) }));
  }
}
