import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { sweepDueJobs, type SweepReport } from '../core/job-sweep';
import { METRICS } from '../core/metric-names';
import { ENV, readSettings, sweepSettingsSchema } from '../core/settings';
import { instrumented, logger, metrics } from './observability';
import { settlingDeps } from './settling-deps';

const settings = readSettings(sweepSettingsSchema, process.env);
const settling = settlingDeps({ table: settings[ENV.jobsTable], queueUrl: settings[ENV.jobsQueueUrl], topicArn: settings[ENV.eventsTopicArn], policy: settings[ENV.resilience] });
const deps = { ...settling, index: settling.store };

/** Runs on a schedule: settles the jobs nothing else would move on (lambda/core/job-sweep.ts). */
export const handler = instrumented(async (_event: ScheduledEvent, context: Context): Promise<SweepReport> => {
  const report = await sweepDueJobs(() => context.getRemainingTimeInMillis(), deps);
  metrics.addMetric(METRICS.jobs.pastDeadline, MetricUnit.Count, report.pastDeadline);
  metrics.addMetric(METRICS.jobs.sweepAnnounced, MetricUnit.Count, report.announced);
  metrics.addMetric(METRICS.jobs.sweepErrors, MetricUnit.Count, report.errors);
  if (report.due > 0) logger.info('sweep', { ...report });
  return report;
});
