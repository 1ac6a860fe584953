import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { bedrockClient, documentClient, s3Client, snsClient, sqsClient } from '../aws/clients';
import { JobEvents } from '../aws/job-events';
import { JobQueue, jobMessageBodySchema } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { ModelGateway } from '../aws/model-gateway';
import { ResultStore } from '../aws/result-store';
import { processDelivery, type ProcessingDeps } from '../core/job-processing';
import { ENV, readSettings, workerSettingsSchema } from '../core/settings';
import { instrumented, jobLog, logger, metrics, tracer } from './observability';

const settings = readSettings(workerSettingsSchema, process.env);
const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
const deps: ProcessingDeps = {
  store: new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]),
  model: new ModelGateway(tracer.captureAWSv3Client(bedrockClient())),
  results: new ResultStore(tracer.captureAWSv3Client(s3Client()), settings[ENV.resultsBucket]),
  events: new JobEvents(tracer.captureAWSv3Client(snsClient()), settings[ENV.eventsTopicArn]),
  log: jobLog,
  clock: () => new Date(),
  region: process.env.AWS_REGION,
  resultInlineMaxBytes: settings[ENV.resultInlineMaxBytes],
  retryDelaySeconds: settings[ENV.retryDelaySeconds],
  visibilityTimeoutSeconds: settings[ENV.visibilityTimeoutSeconds],
  logText: settings[ENV.logPromptText],
};
const processor = new BatchProcessor(EventType.SQS);

/** Reported to SQS as a batch item failure; the message is already set to come back after the delay. */
class RetryLater extends Error {}

async function processRecord(record: SQSRecord, context: Context): Promise<void> {
  const message = jobMessageBodySchema.parse(record.body);
  const outcome = await processDelivery(
    {
      jobId: message.jobId,
      receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1'),
      owner: `${record.messageId}:${context.awsRequestId}`,
      remainingMillis: context.getRemainingTimeInMillis(),
    },
    deps,
  );
  if (outcome.kind === 'finished') metrics.addMetric(outcome.status === 'SUCCEEDED' ? 'JobsSucceeded' : 'JobsFailed', MetricUnit.Count, 1);
  if (outcome.kind === 'skipped') metrics.addMetric('DeliveriesSkipped', MetricUnit.Count, 1);
  if (outcome.kind !== 'retry-later') return;
  metrics.addMetric('JobRetries', MetricUnit.Count, 1);
  try {
    await queue.redeliverAfter(settings[ENV.jobsQueueUrl], record.receiptHandle, outcome.delaySeconds);
  } catch (error) {
    // The message still comes back, only after the full visibility timeout.
    logger.warn('could not shorten the redelivery delay', { jobId: message.jobId, error: (error as Error).name });
  }
  throw new RetryLater(`${outcome.errorCode}; retry in ${outcome.delaySeconds}s`);
}

export const handler = instrumented(
  async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, (record: SQSRecord) => processRecord(record, context), processor, { context, throwOnFullBatchFailure: false }),
);
