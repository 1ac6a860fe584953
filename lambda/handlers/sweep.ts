import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { documentClient, snsClient, sqsClient } from '../aws/clients';
import { JobEvents } from '../aws/job-events';
import { JobQueue } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { sweepDueJobs, type SweepReport } from '../core/job-sweep';
import { METRICS } from '../core/metric-names';
import { ENV, readSettings, sweepSettingsSchema } from '../core/settings';
import { instrumented, jobLog, logger, metrics, tracer } from './observability';

const settings = readSettings(sweepSettingsSchema, process.env);
const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
const store = new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]);
const deps = {
  store,
  index: store,
  events: new JobEvents(tracer.captureAWSv3Client(snsClient()), settings[ENV.eventsTopicArn]),
  requeuer: { requeue: (message: { jobId: string; tenant?: string }, delaySeconds: number) => queue.requeue(settings[ENV.jobsQueueUrl], message, delaySeconds) },
  log: jobLog,
  clock: () => new Date(),
  sleep: (ms: number) => sleep(ms),
  policy: settings[ENV.resilience],
};

/** Runs on a schedule: settles the jobs nothing else would move on (lambda/core/job-sweep.ts). */
export const handler = instrumented(async (_event: ScheduledEvent, context: Context): Promise<SweepReport> => {
  const report = await sweepDueJobs(() => context.getRemainingTimeInMillis(), deps);
  metrics.addMetric(METRICS.jobs.sweepRequeued, MetricUnit.Count, report.requeued);
  metrics.addMetric(METRICS.jobs.pastDeadline, MetricUnit.Count, report.pastDeadline);
  metrics.addMetric(METRICS.jobs.sweepAnnounced, MetricUnit.Count, report.announced);
  metrics.addMetric(METRICS.jobs.sweepErrors, MetricUnit.Count, report.errors);
  if (report.due > 0) logger.info('sweep', { ...report });
  return report;
});
