import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  afterAdmitted,
  afterThrottle,
  hasQuota,
  liftedTat,
  placeInLine,
  rateFactorAt,
  scheduleFor,
  settlementFactor,
  slotAfterAdd,
  unusedMs,
  type ModelQuota,
  type RateState,
  type Schedule,
} from '../core/admission';
import { isConditionFailure } from './conditional-write';
import { bucketKey } from '../core/item-keys';
import type { CapacityGate, CapacityGrant, JobLog } from '../core/ports';

const keyOf = bucketKey;

type Target = { modelId: string; region: string };

/** What a container knows of a model's schedule item, and when it read it (epoch ms). */
interface View {
  tat?: number;
  /** Slot lengths at full rate, summed over every reservation: what the workers really take. */
  used?: number;
  rate?: RateState;
  version: number;
  at: number;
}

/**
 * The admission schedules in the jobs table (`BUCKET#<region>#<modelId>`): `tat`, the point from which the model's
 * timeline is free; `lineTat`, the end of the line of jobs told to come back later; `rate` (with `rateVersion`),
 * how Bedrock's throttles slowed the schedule. Taking a slot or a place in the line is one atomic ADD, so concurrent
 * workers never conflict; an idle timeline is first lifted to "now" with a conditional SET that exactly one of them
 * wins. The rate changes only on throttles and when a throttled spell ends (conditional writes on the version): a
 * call that simply succeeds writes nothing. If the table fails, admission fails open (the call proceeds and a
 * warning is logged).
 */
export class CapacityStore implements CapacityGate {
  /** The schedule item as this container last saw it: a reservation and its settlement read it at most once a `cacheMs`. */
  private readonly views = new Map<string, View>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly quotaOf: (modelId: string) => ModelQuota | undefined,
    private readonly log: JobLog,
    /** How long a read of the schedule item is trusted (ms). @default 1000 */
    private readonly cacheMs = 1000,
  ) {}

  async reserve(target: Target, cost: { requests: number; tokens: number }, now: Date): Promise<CapacityGrant> {
    const quota = this.quotaOf(target.modelId);
    if (!hasQuota(quota)) return { kind: 'unlimited' };
    try {
      const at = now.getTime();
      const view = await this.view(target, at);
      const schedule = scheduleFor(quota, cost, rateFactorAt(view.rate, at));
      const unslowed = scheduleFor(quota, cost, 1).intervalMs;
      // The timeline only moves forward (but for slots given back): one seen ahead of now a moment ago is not idle,
      // and one seen full beyond the horizon is still full, so the job goes straight to the line.
      if ((view.tat === undefined || view.tat < at) && (await this.liftIdle(target, at, schedule, unslowed))) return { kind: 'reserved', waitMs: 0 };
      if (view.tat !== undefined && slotAfterAdd(view.tat + schedule.intervalMs, schedule, at).tooFar) return await this.joinLine(target, view.tat, schedule, at);
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          UpdateExpression: 'ADD tat :interval, usedMs :unslowed SET modelId = :modelId, #region = :region',
          ExpressionAttributeNames: { '#region': 'region' },
          ExpressionAttributeValues: { ':interval': schedule.intervalMs, ':unslowed': unslowed, ':modelId': target.modelId, ':region': target.region },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const tat = Attributes!.tat as number;
      this.remember(target, Attributes!, at);
      // The timeline went idle since this container last saw it: lift it, as the first caller would have.
      if (tat < at && (await this.liftIdle(target, at, schedule, 0))) return { kind: 'reserved', waitMs: 0 };
      const slot = slotAfterAdd(tat, schedule, at);
      if (!slot.tooFar) return { kind: 'reserved', waitMs: slot.waitMs };
      await this.giveBack(target, schedule.intervalMs);
      return await this.joinLine(target, tat - schedule.intervalMs, schedule, at);
    } catch (error) {
      this.log.warn('admission schedule unavailable; admitting', { modelId: target.modelId, region: target.region, error: (error as Error).name });
      return { kind: 'unlimited', degraded: true };
    }
  }

  async settle(
    target: Target,
    cost: { requests: number; tokens: number },
    outcome: { usage?: { inputTokens: number; outputTokens: number }; throttled: boolean; called: boolean },
    now: Date,
  ): Promise<void> {
    const quota = this.quotaOf(target.modelId);
    if (!hasQuota(quota)) return;
    try {
      const at = now.getTime();
      const view = await this.view(target, at);
      // A throttled call keeps its slot: the schedule pauses past it anyway, and giving it back would shorten the pause.
      if (outcome.called && outcome.throttled) return await this.recordThrottle(target, quota, cost, view, at);
      const unused = unusedMs(quota, cost, outcome.usage, scheduleFor(quota, cost, settlementFactor(view.rate, at)), outcome.called);
      if (unused > 0) await this.giveBack(target, unused);
      if (outcome.called) await this.recordAdmitted(target, view, at);
    } catch (error) {
      this.log.warn('could not settle an admission slot', { modelId: target.modelId, error: (error as Error).name });
    }
  }

  private async view(target: Target, at: number, fresh = false): Promise<View> {
    const seen = this.views.get(keyOf(target).pk);
    if (!fresh && seen && at - seen.at < this.cacheMs) return seen;
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(target), ProjectionExpression: 'tat, usedMs, rate, rateVersion', ...(fresh && { ConsistentRead: true }) }),
    );
    return this.remember(target, Item ?? {}, at);
  }

  private remember(target: Target, item: Record<string, unknown>, at: number): View {
    const view: View = { tat: item.tat as number | undefined, used: item.usedMs as number | undefined, rate: item.rate as RateState | undefined, version: (item.rateVersion as number | undefined) ?? 0, at };
    this.views.set(keyOf(target).pk, view);
    return view;
  }

  /** An idle (or new) timeline starts again at "now": one conditional write, won by one caller at a time. */
  private async liftIdle(target: Target, at: number, schedule: Schedule, unslowed: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          ConditionExpression: 'attribute_not_exists(tat) OR tat < :floor',
          UpdateExpression: 'SET tat = :lifted, modelId = :modelId, #region = :region ADD usedMs :unslowed',
          ExpressionAttributeNames: { '#region': 'region' },
          ExpressionAttributeValues: { ':floor': at, ':lifted': liftedTat(at, schedule), ':unslowed': unslowed, ':modelId': target.modelId, ':region': target.region },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** A place in the line behind the schedule's end: the job comes back shortly before it, holding nothing. */
  private async joinLine(target: Target, scheduleEnd: number, schedule: Schedule, at: number): Promise<CapacityGrant> {
    for (let tries = 0; ; tries++) {
      const { Attributes } = await this.client.send(
        new UpdateCommand({ TableName: this.tableName, Key: keyOf(target), UpdateExpression: 'ADD lineTat :interval', ExpressionAttributeValues: { ':interval': schedule.intervalMs }, ReturnValues: 'UPDATED_NEW' }),
      );
      const seen = Attributes!.lineTat as number;
      const place = placeInLine(seen, scheduleEnd, schedule, at);
      if (!place.behind || tries > 0) return { kind: 'refused', waitMs: place.waitMs };
      // The line had emptied: shift it to restart at the schedule's end. One worker does; the others queue again behind.
      const shifted = await this.client
        .send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: keyOf(target),
            ConditionExpression: 'lineTat < :end',
            UpdateExpression: 'SET lineTat = lineTat + :shift',
            ExpressionAttributeValues: { ':end': scheduleEnd, ':shift': scheduleEnd + schedule.intervalMs - seen },
          }),
        )
        .then(
          () => true,
          (error: unknown) => {
            if (isConditionFailure(error)) return false;
            throw error;
          },
        );
      if (shifted) return { kind: 'refused', waitMs: place.waitMs };
    }
  }

  private async giveBack(target: Target, ms: number): Promise<void> {
    await this.client.send(new UpdateCommand({ TableName: this.tableName, Key: keyOf(target), UpdateExpression: 'ADD tat :back', ExpressionAttributeValues: { ':back': -ms } }));
  }

  /** Bedrock throttled an admitted call: start or extend a spell (once per throttle, whichever worker sees it first), then pause the timeline. */
  private async recordThrottle(target: Target, quota: ModelQuota, cost: { requests: number; tokens: number }, view: View, at: number): Promise<void> {
    let current = view;
    for (let tries = 0; tries < 2; tries++) {
      const next = afterThrottle(current.rate, at, current.used);
      if (next.pauseMs === 0) return;
      if (await this.writeRate(target, current, next.state, at)) {
        this.log.warn('Bedrock throttled an admitted call; pausing and slowing the schedule', { modelId: target.modelId, region: target.region, pauseMs: next.pauseMs, streak: next.state.streak });
        // The first slot after the pause starts when it ends: the tolerance of the probing schedule is added.
        const probing = scheduleFor(quota, cost, rateFactorAt(next.state, at));
        await this.client
          .send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: keyOf(target),
              ConditionExpression: 'attribute_not_exists(tat) OR tat < :until',
              UpdateExpression: 'SET tat = :until',
              ExpressionAttributeValues: { ':until': next.state.pausedUntil + probing.toleranceMs },
            }),
          )
          .catch((error: unknown) => {
            if (!isConditionFailure(error)) throw error;
          });
        return;
      }
      current = await this.view(target, at, true);
    }
  }

  /** An admitted call ends a throttled spell, if one is on: the only write a success makes. */
  private async recordAdmitted(target: Target, view: View, at: number): Promise<void> {
    const next = afterAdmitted(view.rate, at, view.used);
    if (next) await this.writeRate(target, view, next, at);
  }

  private async writeRate(target: Target, seen: View, next: RateState, at: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          ConditionExpression: seen.version === 0 ? 'attribute_not_exists(rateVersion)' : 'rateVersion = :seen',
          UpdateExpression: 'SET rate = :next, rateVersion = :version',
          ExpressionAttributeValues: { ...(seen.version !== 0 && { ':seen': seen.version }), ':next': next, ':version': seen.version + 1 },
        }),
      );
      this.views.set(keyOf(target).pk, { ...seen, rate: next, version: seen.version + 1, at });
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
