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
  readonly functions: {
    readonly submit: lambda.IFunction;
    readonly status: lambda.IFunction;
    /** POST /invoke: on the dashboard with the others. @default - none */
    readonly invoke?: lambda.IFunction;
    /** POST /invoke/stream: on the dashboard with the others. @default - none */
    readonly invokeStream?: lambda.IFunction;
    readonly worker: lambda.IFunction;
    readonly deadLetter: lambda.IFunction;
    readonly sweep: lambda.IFunction;
    /** Further functions (cancel, batches), graphed with the others. @default - none */
    readonly more?: readonly lambda.IFunction[];
  };
  /** The dead-letter queue of the event subscriptions. @default - none (no subscription) */
  readonly subscriptionDeadLetterQueue?: sqs.IQueue;
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
  /**
   * Jobs ended FAILED by the dead-letter handler (`JobsDeadLettered`): poison messages and jobs dead-lettered past
   * their deadline. Read from the metric: the DLQ itself is drained within seconds, so its depth shows nothing.
   */
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Messages stay in the DLQ for 15 minutes: its handler cannot settle them (they wait there 14 days). */
  public readonly deadLetterBacklogAlarm: cloudwatch.Alarm;
  /** The sweep failed jobs at their deadline (`JobsPastDeadline`): they stopped moving long before. */
  public readonly pastDeadlineAlarm: cloudwatch.Alarm;
  /** The sweep found work (`SweepRequeued` + `SweepAnnounced`): a job or event nothing else would have moved on. */
  public readonly sweepFindingsAlarm: cloudwatch.Alarm;
  /** Sweep runs that could not finish (`SweepErrors`: a store or queue error). */
  public readonly sweepErrorsAlarm: cloudwatch.Alarm;
  /** Sweep invocations that failed as a whole (crash, timeout, bad settings). */
  public readonly sweepFunctionErrorsAlarm: cloudwatch.Alarm;
  /** The sweep has not run for 10 minutes (its rule disabled or its invocations refused). */
  public readonly sweepIdleAlarm: cloudwatch.Alarm;
  /** Job events no subscriber could take, kept in the subscriptions' DLQ. */
  public readonly subscriptionDeadLetterAlarm?: cloudwatch.Alarm;
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

  /** Every alarm of the pipeline. */
  public get alarms(): cloudwatch.Alarm[] {
    return [
      this.failedJobsAlarm,
      this.deadLetterAlarm,
      this.deadLetterBacklogAlarm,
      this.pastDeadlineAlarm,
      this.sweepFindingsAlarm,
      this.sweepErrorsAlarm,
      this.sweepFunctionErrorsAlarm,
      this.sweepIdleAlarm,
      this.workerErrorsAlarm,
      this.queueAgeAlarm,
      this.apiServerErrorsAlarm,
      ...(this.subscriptionDeadLetterAlarm ? [this.subscriptionDeadLetterAlarm] : []),
    ];
  }

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const minute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);
    const { api, queue, deadLetterQueue, functions } = props;

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
    const j = METRICS.jobs;
    const atLeast = (threshold: number, evaluationPeriods = 1) => ({
      threshold,
      evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.deadLetterAlarm = jobs(j.deadLettered, 'dead-lettered', fiveMinutes).createAlarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'Jobs ended FAILED (DEAD_LETTERED): poison messages, or jobs dead-lettered past their deadline (the dead-letter handler requeues the others; see its logs for the job ids)',
      ...atLeast(1),
    });
    const deadLetterBacklog = new cloudwatch.MathExpression({
      expression: 'visible + inFlight',
      usingMetrics: {
        visible: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Minimum' }),
        inFlight: deadLetterQueue.metricApproximateNumberOfMessagesNotVisible({ period: fiveMinutes, statistic: 'Minimum' }),
      },
      period: fiveMinutes,
      label: 'Dead letters waiting (minimum)',
    });
    this.deadLetterBacklogAlarm = deadLetterBacklog.createAlarm(this, 'DeadLetterBacklogAlarm', {
      alarmDescription: 'Messages have stayed in the jobs DLQ for 15 minutes: the dead-letter handler cannot settle them (see its errors and logs)',
      ...atLeast(1, 3),
    });
    this.pastDeadlineAlarm = jobs(j.pastDeadline, 'past deadline', fiveMinutes).createAlarm(this, 'PastDeadlineAlarm', {
      alarmDescription: 'The sweep failed jobs at their deadline (JOB_DEADLINE_EXCEEDED): they had stopped moving',
      ...atLeast(1),
    });
    this.sweepFindingsAlarm = jobs(j.sweepAnnounced, 'announced by the sweep', fiveMinutes).createAlarm(this, 'SweepFindingsAlarm', {
      alarmDescription: 'The sweep announced events still owed: the normal path did not publish them (look for errors around that time)',
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.sweepErrorsAlarm = jobs(j.sweepErrors, 'sweep errors', fiveMinutes).createAlarm(this, 'SweepErrorsAlarm', {
      alarmDescription: 'Most sweep runs of the last 5 minutes could not finish (store or queue errors): stuck jobs are not being settled',
      ...atLeast(3),
    });
    this.sweepFunctionErrorsAlarm = functions.sweep.metricErrors({ period: fiveMinutes, statistic: 'Sum' }).createAlarm(this, 'SweepFunctionErrorsAlarm', {
      alarmDescription: 'Most sweep invocations of the last 5 minutes failed (crash, timeout or bad settings): stuck jobs are not being settled',
      ...atLeast(3),
    });
    this.sweepIdleAlarm = functions.sweep.metricInvocations({ period: fiveMinutes, statistic: 'Sum' }).createAlarm(this, 'SweepIdleAlarm', {
      alarmDescription: 'The sweep has not run for 10 minutes (its schedule rule disabled, or its invocations refused)',
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.subscriptionDeadLetterQueue) {
      this.subscriptionDeadLetterAlarm = props.subscriptionDeadLetterQueue
        .metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Maximum' })
        .createAlarm(this, 'SubscriptionDeadLetterAlarm', {
          alarmDescription: 'Job events could not be delivered to a subscription (endpoint gone, refusing, or failing past SNS retries); they wait 14 days in the subscriptions DLQ',
          ...atLeast(1),
        });
    }
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

    const fns = [functions.submit, functions.status, ...[functions.invoke, functions.invokeStream].filter((fn): fn is lambda.IFunction => fn !== undefined), functions.worker, functions.deadLetter, functions.sweep, ...(functions.more ?? [])];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName, defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, height: 4, alarms: this.alarms }),
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
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queues',
        width: 12,
        left: [
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'jobs DLQ' }),
          ...(props.subscriptionDeadLetterQueue ? [props.subscriptionDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'subscriptions DLQ' })] : []),
        ],
      }),
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
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Jobs',
        width: 8,
        left: [jobs(j.submitted, 'submitted'), jobs(j.succeeded, 'succeeded'), jobs(j.failed, 'failed')],
        right: [jobs(j.requeued, 'requeued'), jobs(j.deadLettered, 'dead-lettered'), jobs(j.deadLettersRequeued, 'dead letters requeued'), jobs(j.cacheServed, 'served from cache')],
      }),
      new cloudwatch.GraphWidget({ title: 'Failed jobs (% of finished, 5 min)', width: 8, left: [failedRate], leftAnnotations: [{ value: failedPercent, label: 'alarm' }] }),
      new cloudwatch.GraphWidget({
        title: 'Sweep findings',
        width: 8,
        left: [jobs(j.sweepAnnounced, 'announced'), jobs(j.pastDeadline, 'failed past deadline'), jobs(j.sweepErrors, 'run errors')],
      }),
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
    // Any other per-model metric of lambda/core/metric-names.ts gets a graph of its own, so none goes unseen.
    const laidOut: string[] = [m.invocations, m.latency, m.throttles, m.errors, m.retries, m.fallbacks, m.breakerTransitions, m.inputTokens, m.outputTokens];
    const others = Object.values(m).filter((name) => !laidOut.includes(name));
    for (let i = 0; i < others.length; i += 3) this.dashboard.addWidgets(...others.slice(i, i + 3).map((name) => graph(name, perModel(name))));
  }
}
