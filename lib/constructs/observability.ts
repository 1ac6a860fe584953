import { Duration } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface ObservabilityProps {
  readonly api: apigateway.RestApi;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly functions: { readonly submit: lambda.IFunction; readonly status: lambda.IFunction; readonly worker: lambda.IFunction; readonly deadLetter: lambda.IFunction };
  /** Age of the oldest queued job that raises the queue-age alarm. @default Duration.minutes(30) */
  readonly queueAgeThreshold?: Duration;
  /** Dashboard name. @default - generated */
  readonly dashboardName?: string;
}

/**
 * The CloudWatch dashboard and alarms of the pipeline. Alarms carry no action: subscribe yours with
 * `alarm.addAlarmAction(...)` on the `public readonly` alarms.
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

    const fns = [functions.submit, functions.status, functions.worker, functions.deadLetter];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName, defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, height: 3, alarms: [this.deadLetterAlarm, this.workerErrorsAlarm, this.queueAgeAlarm, this.apiServerErrorsAlarm] }),
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
  }
}
