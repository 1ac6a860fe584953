import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { jobEvent } from '../core/job-event';
import type { Job } from '../core/job';

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
}
