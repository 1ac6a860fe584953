import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { AsyncInvoker, AsyncOutputs } from '../aws/async-invoker';
import { bedrockAsyncClient, documentClient, s3Client, snsClient, sqsClient } from '../aws/clients';
import { JobEvents } from '../aws/job-events';
import { JobQueue, jobMessageBodySchema } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { ResultStore } from '../aws/result-store';
import { METRICS } from '../core/metric-names';
import { processDelivery, RedeliverLater, type ProcessingDeps } from '../core/job-processing';
import { redeliveryDelaySeconds } from '../core/job-lifecycle';
import { ENV, readSettings, workerSettingsSchema } from '../core/settings';
import { batchTallyFor } from './batch-deps';
import { modelCallDeps } from './model-call-deps';
import { instrumented, logger, metrics, tracer } from './observability';

const settings = readSettings(workerSettingsSchema, process.env);
const table = settings[ENV.jobsTable];
const policy = settings[ENV.resilience];
const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
const modelCalls = modelCallDeps({ table, policy, routing: settings[ENV.routes], tenants: settings[ENV.tenants], inputsBucket: settings[ENV.inputsBucket] });
const deps: ProcessingDeps = {
  ...modelCalls.deps,
  store: new JobRepository(tracer.captureAWSv3Client(documentClient()), table),
  results: new ResultStore(tracer.captureAWSv3Client(s3Client()), settings[ENV.resultsBucket]),
  events: new JobEvents(tracer.captureAWSv3Client(snsClient()), settings[ENV.eventsTopicArn]),
  requeuer: { requeue: (message, delaySeconds) => queue.requeue(settings[ENV.jobsQueueUrl], message, delaySeconds) },
  resultInlineMaxBytes: settings[ENV.resultInlineMaxBytes],
  logText: settings[ENV.logPromptText],
  batches: batchTallyFor(table),
  asyncModels: new AsyncInvoker((region) => tracer.captureAWSv3Client(bedrockAsyncClient(region))),
  asyncOutputs: new AsyncOutputs(tracer.captureAWSv3Client(s3Client())),
  asyncOutputBucket: settings[ENV.resultsBucket],
};
const processor = new BatchProcessor(EventType.SQS);

async function processRecord(record: SQSRecord, context: Context): Promise<void> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  try {
    await deliver(record, receiveCount, context);
  } catch (error) {
    if (error instanceof RedeliverLater) throw error;
    // A delivery that crashed comes back after a delay growing in minutes (each time spending a receive, so a poison
    // message reaches the DLQ, but an AWS episode of a few minutes does not), not after the whole visibility timeout.
    const delaySeconds = redeliveryDelaySeconds(receiveCount, policy);
    logger.error('delivery failed', { messageId: record.messageId, receiveCount, retryInSeconds: delaySeconds, error: error as Error });
    await queue.redeliverAfter(settings[ENV.jobsQueueUrl], record.receiptHandle, delaySeconds).catch((e: Error) => logger.warn('could not shorten the redelivery delay', { error: e.name }));
    throw error;
  }
}

async function deliver(record: SQSRecord, receiveCount: number, context: Context): Promise<void> {
  const message = jobMessageBodySchema.parse(record.body);
  const outcome = await processDelivery(
    {
      jobId: message.jobId,
      ...(message.tenant && { tenant: message.tenant }),
      ...(message.request && { request: message.request }),
      ...(message.requestHash !== undefined && { requestHash: message.requestHash }),
      ...(message.createdAt !== undefined && { createdAt: message.createdAt }),
      ...(message.poll !== undefined && { poll: message.poll }),
      messageId: record.messageId,
      receiveCount,
      owner: `${record.messageId}:${receiveCount}:${context.awsRequestId}`,
      remainingMillis: () => context.getRemainingTimeInMillis(),
    },
    deps,
  );
  if (outcome.kind === 'finished') metrics.addMetric(outcome.status === 'SUCCEEDED' ? METRICS.jobs.succeeded : METRICS.jobs.failed, MetricUnit.Count, 1);
  if (outcome.kind === 'skipped') metrics.addMetric(METRICS.jobs.deliveriesSkipped, MetricUnit.Count, 1);
}

export const handler = instrumented(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  try {
    return await processPartialResponse(event, (record: SQSRecord) => processRecord(record, context), processor, { context, throwOnFullBatchFailure: false });
  } finally {
    // The batch's model metrics, one EMF object per model; its successful calls, one breaker write per model.
    await modelCalls.flush();
  }
});
