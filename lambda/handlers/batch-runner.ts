import { setTimeout as sleep } from 'node:timers/promises';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { documentClient, s3Client, snsClient, sqsClient } from '../aws/clients';
import { BatchObjects } from '../aws/batch-files';
import { batchMessageBodySchema, BatchQueueClient } from '../aws/batch-queue';
import { BatchRepository } from '../aws/batch-store';
import { JobEvents } from '../aws/job-events';
import { JobQueue } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { ResultStore } from '../aws/result-store';
import { batchTally } from '../core/batch-tally';
import { BatchNotReady, runBatchMessage, type BatchRunnerDeps } from '../core/batch-runner';
import { redeliveryDelaySeconds } from '../core/job-lifecycle';
import { batchRunnerSettingsSchema, ENV, readSettings } from '../core/settings';
import { instrumented, jobLog, logger, tracer } from './observability';

const settings = readSettings(batchRunnerSettingsSchema, process.env);
const table = settings[ENV.jobsTable];
const dynamo = tracer.captureAWSv3Client(documentClient());
const s3 = tracer.captureAWSv3Client(s3Client());
const sqs = tracer.captureAWSv3Client(sqsClient());
const batches = new BatchRepository(dynamo, table);
const queue = new BatchQueueClient(sqs, settings[ENV.batchesQueueUrl]);
const jobQueue = new JobQueue(sqs);
const results = new ResultStore(s3, settings[ENV.resultsBucket]);
const deps: BatchRunnerDeps = {
  batches,
  files: new BatchObjects(s3, settings[ENV.resultsBucket]),
  queue,
  jobs: new JobRepository(dynamo, table),
  jobQueue: { enqueueMany: (messages) => jobQueue.enqueueMany(settings[ENV.jobsQueueUrl], messages) },
  results: { text: (job) => (job.resultLocation ? results.text(job.resultLocation) : Promise.resolve(undefined)) },
  events: new JobEvents(tracer.captureAWSv3Client(snsClient()), settings[ENV.eventsTopicArn]),
  tally: batchTally(batches),
  resultsBucket: settings[ENV.resultsBucket],
  jobTtlDays: settings[ENV.jobTtlDays],
  jobDeadlineSeconds: settings[ENV.batchJobDeadlineSeconds],
  policy: settings[ENV.resilience],
  clock: () => new Date(),
  sleep: (ms) => sleep(ms),
  log: jobLog,
};
const processor = new BatchProcessor(EventType.SQS);

async function processRecord(record: SQSRecord, context: Context): Promise<void> {
  const message = batchMessageBodySchema.parse(record.body);
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  try {
    const outcome = await runBatchMessage(message, () => context.getRemainingTimeInMillis(), deps);
    logger.debug('batch message', { kind: message.kind, batchId: message.batchId, outcome });
  } catch (error) {
    if (error instanceof BatchNotReady) {
      // Its acceptance is still recording the batch: look again shortly, on a new message (no receive spent).
      await queue.send(message, 2);
      return;
    }
    // Run again after a delay growing in minutes (not the whole visibility timeout); every step is safe to repeat.
    const delaySeconds = redeliveryDelaySeconds(receiveCount, settings[ENV.resilience]);
    logger.error('batch message failed', { kind: message.kind, batchId: message.batchId, receiveCount, retryInSeconds: delaySeconds, error: error as Error });
    await jobQueue.redeliverAfter(settings[ENV.batchesQueueUrl], record.receiptHandle, delaySeconds).catch(() => undefined);
    throw error;
  }
}

/** The batch queue: fan-outs, cancel walks and completions (lambda/core/batch-runner.ts); a failure is redelivered. */
export const handler = instrumented(
  async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, (record: SQSRecord) => processRecord(record, context), processor, { context, throwOnFullBatchFailure: false }),
);
