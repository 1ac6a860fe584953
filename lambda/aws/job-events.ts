import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { jobEvent } from '../core/job-event';
import type { Job } from '../core/job';
import type { BatchEvent } from '../core/batch';

export class JobEvents {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publishTerminal(job: Job, now: Date): Promise<void> {
    const { message, attributes } = jobEvent(job, now);
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(message),
        MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
      }),
    );
  }

  /** The one `batch.completed` event of a finished batch (attributes `type`, `status`, `tenant`). */
  async publishBatch(event: BatchEvent): Promise<void> {
    const attributes = { type: event.type, status: event.status, tenant: event.tenant };
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(event),
        MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
      }),
    );
  }
}
