import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { jobMessageBodySchema } from '../aws/job-queue';
import { handleDeadLetter } from '../core/job-settlement';
import type { JobMessage } from '../core/ports';
import { METRICS } from '../core/metric-names';
import { deadLetterSettingsSchema, ENV, readSettings } from '../core/settings';
import { instrumented, logger, metrics } from './observability';
import { settlingDeps } from './settling-deps';

const settings = readSettings(deadLetterSettingsSchema, process.env);
const deps = settlingDeps({ table: settings[ENV.jobsTable], queueUrl: settings[ENV.jobsQueueUrl], topicArn: settings[ENV.eventsTopicArn], policy: settings[ENV.resilience] });
const processor = new BatchProcessor(EventType.SQS);

async function processRecord(record: SQSRecord, context: Context): Promise<void> {
  let message: JobMessage;
  try {
    message = jobMessageBodySchema.parse(record.body);
  } catch {
    // Not a Quarry job message: nothing to mark. Say so loudly; keeping it would only re-invoke this function.
    logger.error('dead-lettered message is not a job message', { messageId: record.messageId, bodyBytes: Buffer.byteLength(record.body) });
    metrics.addMetric(METRICS.jobs.foreignDeadLetters, MetricUnit.Count, 1);
    return;
  }
  const outcome = await handleDeadLetter(message, () => context.getRemainingTimeInMillis(), deps);
  const metric = outcome.kind === 'failed' ? METRICS.jobs.deadLettered : outcome.kind === 'requeued' ? METRICS.jobs.deadLettersRequeued : METRICS.jobs.deliveriesSkipped;
  metrics.addMetric(metric, MetricUnit.Count, 1);
}

export const handler = instrumented(
  async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, (record: SQSRecord) => processRecord(record, context), processor, { context, throwOnFullBatchFailure: false }),
);
