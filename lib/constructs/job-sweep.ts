import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { QuarryFunction } from './quarry-function';

/** The sweep's timeout: a run must end before the next one starts (the schedule is every minute). */
export const SWEEP_TIMEOUT = Duration.seconds(60);

export interface JobSweepProps {
  /** Function environment (names from lambda/core/settings.ts `ENV`, per `sweepSettingsSchema`). */
  readonly environment: Record<string, string>;
  /** How often the sweep runs. @default Schedule.rate(Duration.minutes(1)) */
  readonly schedule?: events.Schedule;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The sweep function and the EventBridge rule that runs it: it finds the jobs in the table's sweep index whose time
 * has passed and re-enqueues them, fails them at their deadline, or announces their owed event.
 *
 * Default settings: every minute; a failed or late run is dropped rather than retried (no EventBridge or Lambda
 * async retries, events older than a minute discarded), since the next run finds whatever this one left; runs that
 * overlap are safe (every change the sweep makes is a conditional write). The rule invokes the function directly.
 */
export class JobSweep extends Construct {
  public readonly fn: QuarryFunction;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: JobSweepProps) {
    super(scope, id);
    this.fn = new QuarryFunction(this, 'Sweep', {
      handler: 'sweep',
      description: 'Quarry sweep: settles jobs no message or worker will move on (requeue, deadline, owed event)',
      timeout: SWEEP_TIMEOUT,
      environment: props.environment,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    // A failed run is not retried (by Lambda's async retries or EventBridge's): the next run a minute later redoes it.
    this.fn.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Runs the Quarry sweep',
      schedule: props.schedule ?? events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.fn.function, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}
