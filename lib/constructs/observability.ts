import { Duration } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC_DIMENSIONS, METRIC_NAMESPACE, METRIC_SERVICE, METRICS, type JobMetricName, type ModelMetricName } from '../../lambda/core/metric-names';

/** A configured model as the dashboard shows it: one line per model in each per-model graph. */
export interface ObservedModel {
  /** The model's key in the config, used as the line label. */
  readonly key: string;
  /** The model id the worker reports as the `modelId` dimension. */
  readonly modelId: string;
}

export interface ObservabilityProps {
  readonly api: apigateway.RestApi;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly functions: { readonly submit: lambda.IFunction; readonly status: lambda.IFunction; readonly worker: lambda.IFunction; readonly deadLetter: lambda.IFunction };
  /** Age of the oldest queued job that raises the queue-age alarm. @default Duration.minutes(30) */
  readonly queueAgeThreshold?: Duration;
  /** Dashboard name. @default - generated */
  readonly dashboardName?: string;
  /** The configured models: each gets a line in every per-model graph. */
  readonly models: readonly ObservedModel[];
  /** Share of finished jobs that ended FAILED (percent, over 5 minutes, 3 periods in a row) that raises the alarm. @default 10 */
  readonly failedJobsPercentThreshold?: number;
}

/**
 * The CloudWatch dashboard and alarms of the pipeline. Alarms carry no action (no alarm topic is configured yet):
 * subscribe yours with `alarm.addAlarmAction(...)` on the `public readonly` alarms.
 *
 * The pipeline and per-model graphs read the functions' Powertools metrics named in lambda/core/metric-names.ts.
 */
export class Observability extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  /** Any message in the DLQ: a job could not be processed within its receive budget. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Worker invocations that failed as a whole (crash, timeout), not single jobs. */
  public readonly workerErrorsAlarm: cloudwatch.Alarm;
  /** The oldest queued job has waited too long: workers are behind, throttled or broken. */
  public readonly queueAgeAlarm: cloudwatch.Alarm;
  /** The API answered with 5xx. */
  public readonly apiServerErrorsAlarm: cloudwatch.Alarm;
  /**
   * Too many finished jobs end FAILED: what users feel, whatever the cause (every model of a chain down, breakers
   * open, validation errors at scale). A single breaker opening is not paged on: fallback exists for that.
   */
  public readonly failedJobsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const minute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);
    const { api, queue, deadLetterQueue, functions } = props;

    this.deadLetterAlarm = deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum' }).createAlarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'Jobs were dead-lettered (the DLQ handler marks them FAILED; inspect the DLQ for the cause)',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.workerErrorsAlarm = functions.worker.metricErrors({ period: fiveMinutes, statistic: 'Sum' }).createAlarm(this, 'WorkerErrorsAlarm', {
      alarmDescription: 'Worker invocations failed as a whole (crash or timeout); their batches are redelivered',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const queueAge = props.queueAgeThreshold ?? Duration.minutes(30);
    this.queueAgeAlarm = queue.metricApproximateAgeOfOldestMessage({ period: minute, statistic: 'Maximum' }).createAlarm(this, 'QueueAgeAlarm', {
      alarmDescription: `The oldest queued job has waited more than ${queueAge.toHumanString()}`,
      threshold: queueAge.toSeconds(),
      evaluationPeriods: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.apiServerErrorsAlarm = api.metricServerError({ period: fiveMinutes, statistic: 'Sum' }).createAlarm(this, 'ApiServerErrorsAlarm', {
      alarmDescription: 'The API answered with 5xx',
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const jobs = (name: JobMetricName, label: string, period = minute) =>
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: name, dimensionsMap: { [METRIC_DIMENSIONS.service]: METRIC_SERVICE }, statistic: 'Sum', period, label });
    const perModel = (name: ModelMetricName, statistic = 'Sum') =>
      props.models.map(
        (m) =>
          new cloudwatch.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: name,
            dimensionsMap: { [METRIC_DIMENSIONS.service]: METRIC_SERVICE, [METRIC_DIMENSIONS.modelId]: m.modelId },
            statistic,
            period: minute,
            label: m.key,
          }),
      );

    const failedPercent = props.failedJobsPercentThreshold ?? 10;
    const failedRate = new cloudwatch.MathExpression({
      // Below 5 finished jobs in 5 minutes the rate says little; report 0 so a lone failure does not page.
      expression: 'IF(succeeded + failed >= 5, 100 * failed / (succeeded + failed), 0)',
      usingMetrics: { succeeded: jobs(METRICS.jobs.succeeded, 'succeeded', fiveMinutes), failed: jobs(METRICS.jobs.failed, 'failed', fiveMinutes) },
      period: fiveMinutes,
      label: 'Failed jobs (%)',
    });
    this.failedJobsAlarm = failedRate.createAlarm(this, 'FailedJobsAlarm', {
      alarmDescription: `More than ${failedPercent}% of finished jobs ended FAILED for 15 minutes (see the per-model graphs for the model behind it)`,
      threshold: failedPercent,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const fns = [functions.submit, functions.status, functions.worker, functions.deadLetter];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName, defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, height: 3, alarms: [this.deadLetterAlarm, this.workerErrorsAlarm, this.queueAgeAlarm, this.apiServerErrorsAlarm, this.failedJobsAlarm] }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'API requests and errors', width: 12, left: [api.metricCount({ period: minute }), api.metricClientError({ period: minute }), api.metricServerError({ period: minute })] }),
      new cloudwatch.GraphWidget({ title: 'API latency (p50, p99)', width: 12, left: [api.metricLatency({ period: minute, statistic: 'p50' }), api.metricLatency({ period: minute, statistic: 'p99' })] }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Jobs queue',
        width: 12,
        left: [queue.metricApproximateNumberOfMessagesVisible({ period: minute }), queue.metricApproximateNumberOfMessagesNotVisible({ period: minute })],
        right: [queue.metricApproximateAgeOfOldestMessage({ period: minute })],
      }),
      new cloudwatch.GraphWidget({ title: 'Dead-letter queue', width: 12, left: [deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute })] }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Function errors', width: 8, left: fns.map((fn) => fn.metricErrors({ period: minute })) }),
      new cloudwatch.GraphWidget({ title: 'Function duration (p99)', width: 8, left: fns.map((fn) => fn.metricDuration({ period: minute, statistic: 'p99' })) }),
      new cloudwatch.GraphWidget({
        title: 'Worker concurrency and throttles',
        width: 8,
        left: [functions.worker.metric('ConcurrentExecutions', { period: minute, statistic: 'Maximum' }), functions.worker.metricThrottles({ period: minute })],
      }),
    );
    const j = METRICS.jobs;
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Jobs',
        width: 12,
        left: [jobs(j.submitted, 'submitted'), jobs(j.succeeded, 'succeeded'), jobs(j.failed, 'failed')],
        right: [jobs(j.requeued, 'requeued'), jobs(j.deadLettered, 'dead-lettered'), jobs(j.cacheServed, 'served from cache')],
      }),
      new cloudwatch.GraphWidget({ title: 'Failed jobs (% of finished, 5 min)', width: 12, left: [failedRate], leftAnnotations: [{ value: failedPercent, label: 'alarm' }] }),
    );
    const m = METRICS.model;
    const graph = (title: string, left: cloudwatch.IMetric[]) => new cloudwatch.GraphWidget({ title, width: 8, left });
    this.dashboard.addWidgets(
      graph('Model invocations', perModel(m.invocations)),
      graph('Model latency (p99, ms)', perModel(m.latency, 'p99')),
      graph('Model throttles', perModel(m.throttles)),
    );
    this.dashboard.addWidgets(graph('Model errors', perModel(m.errors)), graph('Model retries', perModel(m.retries)), graph('Model fallbacks (moved past)', perModel(m.fallbacks)));
    this.dashboard.addWidgets(
      graph('Circuit breaker transitions', perModel(m.breakerTransitions)),
      graph('Input tokens', perModel(m.inputTokens)),
      graph('Output tokens', perModel(m.outputTokens)),
    );
  }
}
