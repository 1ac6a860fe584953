import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterThrottle, hasQuota, liftedTat, RATE_RECOVERY_STEP, scheduleFor, slotAfterAdd, unusedMs, type ModelQuota } from '../core/admission';
import { isConditionFailure } from './conditional-write';
import { bucketKey } from '../core/item-keys';
import type { CapacityGate, CapacityGrant, JobLog } from '../core/ports';

const keyOf = bucketKey;

/**
 * The admission schedules in the jobs table (`BUCKET#<region>#<modelId>`, attribute `tat`: the point from which the
 * model's timeline is free). Taking a slot is one atomic ADD, so concurrent workers never conflict; an idle timeline
 * is first lifted to "now" with a conditional SET that exactly one of them wins. If the table fails, admission fails
 * open (the call proceeds and a warning is logged).
 */
export class CapacityStore implements CapacityGate {
  /** The schedule's rate factor as this container last saw it (epoch ms): a reservation and its settlement read it once. */
  private readonly factors = new Map<string, { value: number; at: number }>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly quotaOf: (modelId: string) => ModelQuota | undefined,
    private readonly log: JobLog,
    /** How long a rate factor read is trusted (ms). @default 1000 */
    private readonly cacheMs = 1000,
  ) {}

  async reserve(target: { modelId: string; region: string }, cost: { requests: number; tokens: number }, now: Date): Promise<CapacityGrant> {
    const quota = this.quotaOf(target.modelId);
    if (!hasQuota(quota)) return { kind: 'unlimited' };
    try {
      const schedule = scheduleFor(quota, cost, await this.rateFactor(target, now));
      const at = now.getTime();
      if (await this.liftIdle(target, at, schedule)) return { kind: 'reserved', waitMs: 0 };
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          UpdateExpression: 'ADD tat :interval SET modelId = :modelId, #region = :region',
          ExpressionAttributeNames: { '#region': 'region' },
          ExpressionAttributeValues: { ':interval': schedule.intervalMs, ':modelId': target.modelId, ':region': target.region },
          ReturnValues: 'ALL_NEW',
        }),
      );
      this.factors.set(keyOf(target).pk, { value: (Attributes!.rateFactor as number | undefined) ?? 1, at });
      const slot = slotAfterAdd(Attributes!.tat as number, schedule, at);
      if (!slot.tooFar) return { kind: 'reserved', waitMs: slot.waitMs };
      await this.giveBack(target, schedule.intervalMs);
      return { kind: 'refused', waitMs: slot.waitMs - 900_000 };
    } catch (error) {
      this.log.warn('admission schedule unavailable; admitting', { modelId: target.modelId, region: target.region, error: (error as Error).name });
      return { kind: 'unlimited', degraded: true };
    }
  }

  async settle(
    target: { modelId: string; region: string },
    cost: { requests: number; tokens: number },
    outcome: { usage?: { inputTokens: number; outputTokens: number }; throttled: boolean; called: boolean },
    now: Date,
  ): Promise<void> {
    const quota = this.quotaOf(target.modelId);
    if (!hasQuota(quota)) return;
    try {
      const factor = await this.rateFactor(target, now);
      const schedule = scheduleFor(quota, cost, factor);
      // A throttled request does not count against Bedrock's quota: its whole slot comes back.
      const unused = outcome.throttled ? schedule.intervalMs : unusedMs(quota, cost, outcome.usage, schedule, outcome.called);
      if (unused > 0) await this.giveBack(target, unused);
      if (outcome.called) await this.adapt(target, factor, outcome.throttled);
    } catch (error) {
      this.log.warn('could not settle an admission slot', { modelId: target.modelId, error: (error as Error).name });
    }
  }

  private async rateFactor(target: { modelId: string; region: string }, now: Date): Promise<number> {
    const key = keyOf(target).pk;
    const seen = this.factors.get(key);
    if (seen && now.getTime() - seen.at < this.cacheMs) return seen.value;
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(target), ProjectionExpression: 'rateFactor' }));
    const value = (Item?.rateFactor as number | undefined) ?? 1;
    this.factors.set(key, { value, at: now.getTime() });
    return value;
  }

  /** An idle (or new) timeline starts again at "now": one conditional write, won by one caller at a time. */
  private async liftIdle(target: { modelId: string; region: string }, at: number, schedule: { intervalMs: number; toleranceMs: number }): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          ConditionExpression: 'attribute_not_exists(tat) OR tat < :floor',
          UpdateExpression: 'SET tat = :lifted, modelId = :modelId, #region = :region',
          ExpressionAttributeNames: { '#region': 'region' },
          ExpressionAttributeValues: { ':floor': at, ':lifted': liftedTat(at, schedule), ':modelId': target.modelId, ':region': target.region },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async giveBack(target: { modelId: string; region: string }, ms: number): Promise<void> {
    await this.client.send(new UpdateCommand({ TableName: this.tableName, Key: keyOf(target), UpdateExpression: 'ADD tat :back', ExpressionAttributeValues: { ':back': -ms } }));
  }

  /** Throttles Bedrock still sends slow the schedule at once; successes restore it a step at a time. */
  private async adapt(target: { modelId: string; region: string }, current: number, throttled: boolean): Promise<void> {
    if (!throttled && current >= 1) return;
    const next = throttled ? afterThrottle(current) : Math.min(1, current + RATE_RECOVERY_STEP);
    if (throttled) this.log.warn('Bedrock throttled an admitted call; slowing the schedule', { modelId: target.modelId, region: target.region, rateFactor: next });
    await this.client
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          ConditionExpression: 'attribute_not_exists(rateFactor) OR rateFactor = :current',
          UpdateExpression: 'SET rateFactor = :next',
          ExpressionAttributeValues: { ':current': current, ':next': next },
        }),
      )
      .then(() => this.factors.set(keyOf(target).pk, { value: next, at: Date.now() }))
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }
}
