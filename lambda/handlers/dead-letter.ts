import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { documentClient, snsClient } from '../aws/clients';
import { JobEvents } from '../aws/job-events';
import { jobMessageBodySchema } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { abandonDeadLettered } from '../core/job-processing';
import { deadLetterSettingsSchema, ENV, readSettings } from '../core/settings';
import { instrumented, jobLog, logger, metrics, tracer } from './observability';

const settings = readSettings(deadLetterSettingsSchema, process.env);
const deps = {
  store: new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]),
  events: new JobEvents(tracer.captureAWSv3Client(snsClient()), settings[ENV.eventsTopicArn]),
  log: jobLog,
  clock: () => new Date(),
};
const processor = new BatchProcessor(EventType.SQS);

async function processRecord(record: SQSRecord): Promise<void> {
  let jobId: string;
  try {
    jobId = jobMessageBodySchema.parse(record.body).jobId;
  } catch {
    // Not a Quarry job message: nothing to mark. Say so loudly; keeping it would only re-invoke this function.
    logger.error('dead-lettered message is not a job message', { messageId: record.messageId, bodyBytes: Buffer.byteLength(record.body) });
    metrics.addMetric('ForeignDeadLetters', MetricUnit.Count, 1);
    return;
  }
  const outcome = await abandonDeadLettered(jobId, deps);
  metrics.addMetric(outcome.kind === 'finished' ? 'JobsDeadLettered' : 'DeadLettersSkipped', MetricUnit.Count, 1);
}

export const handler = instrumented(
  async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, processRecord, processor, { context, throwOnFullBatchFailure: false }),
);
