import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterThrottle, bucketLimits, decideAcquire, fullBucket, RATE_RECOVERY_STEP, unusedTokens, type BucketState, type ModelQuota } from '../core/admission';
import type { CapacityGate, CapacityGrant, JobLog } from '../core/ports';

const keyOf = (t: { modelId: string; region: string }) => ({ pk: `BUCKET#${t.region}#${t.modelId}` });
const isConditionFailure = (e: unknown) => (e as { name?: string })?.name === 'ConditionalCheckFailedException';

/**
 * The admission token buckets in the jobs table (`BUCKET#<region>#<modelId>`). Reservations are optimistic writes
 * conditioned on the bucket's version; settlements are atomic ADDs. If the table fails, admission fails open.
 */
export class CapacityStore implements CapacityGate {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly quotaOf: (modelId: string) => ModelQuota | undefined,
    private readonly log: JobLog,
    private readonly maxConditionRetries = 10,
  ) {}

  async reserve(target: { modelId: string; region: string }, cost: { requests: number; tokens: number }, now: Date): Promise<CapacityGrant> {
    const limits = bucketLimits(this.quotaOf(target.modelId));
    if (!limits) return { kind: 'unlimited' };
    try {
      for (let attempt = 0; attempt <= this.maxConditionRetries; attempt++) {
        const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(target), ConsistentRead: true }));
        const state = (Item as BucketState | undefined) ?? fullBucket(limits, now.getTime());
        const decision = decideAcquire(state, cost, now.getTime(), limits);
        if (decision.kind === 'refused') return decision;
        try {
          await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { ...keyOf(target), ...decision.next, modelId: target.modelId, region: target.region },
              ConditionExpression: Item ? '#version = :version' : 'attribute_not_exists(pk)',
              ...(Item && { ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':version': state.version } }),
            }),
          );
          return { kind: 'reserved', waitMs: decision.waitMs };
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
      this.log.warn('admission bucket too contended; admitting without a reservation', { modelId: target.modelId, region: target.region });
      return { kind: 'unlimited', degraded: true };
    } catch (error) {
      this.log.warn('admission bucket unavailable; admitting', { modelId: target.modelId, region: target.region, error: (error as Error).name });
      return { kind: 'unlimited', degraded: true };
    }
  }

  async settle(
    target: { modelId: string; region: string },
    cost: { requests: number; tokens: number },
    outcome: { usage?: { inputTokens: number; outputTokens: number }; throttled: boolean; called: boolean },
    now: Date,
  ): Promise<void> {
    if (!bucketLimits(this.quotaOf(target.modelId))) return;
    try {
      const giveBack = { requests: outcome.called && !outcome.throttled ? 0 : cost.requests, tokens: outcome.throttled ? cost.tokens : unusedTokens(cost, outcome.usage) };
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          ConditionExpression: 'attribute_exists(pk)',
          // Bumping the version makes a reservation computed from the older levels retry instead of overwriting these.
          UpdateExpression: 'ADD requests :requests, tokens :tokens, #version :one',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':requests': giveBack.requests, ':tokens': giveBack.tokens, ':one': 1 },
        }),
      );
      if (outcome.called) await this.adapt(target, outcome.throttled);
    } catch (error) {
      if (!isConditionFailure(error)) this.log.warn('could not settle an admission reservation', { modelId: target.modelId, error: (error as Error).name, at: now.toISOString() });
    }
  }

  /** Throttles Bedrock still sends shrink the rate at once; successes restore it a step at a time. */
  private async adapt(target: { modelId: string; region: string }, throttled: boolean): Promise<void> {
    const names = { '#version': 'version' };
    if (!throttled) {
      // Recovering is one conditional write, and none at all while the rate is whole.
      await this.client
        .send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: keyOf(target),
            ConditionExpression: 'rateFactor < :one',
            UpdateExpression: 'SET rateFactor = rateFactor + :step, #version = #version + :oneVersion',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':one': 1, ':step': RATE_RECOVERY_STEP, ':oneVersion': 1 },
          }),
        )
        .catch((error: unknown) => {
          if (!isConditionFailure(error)) throw error;
        });
      return;
    }
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(target), ConsistentRead: true }));
    const current = (Item?.rateFactor as number | undefined) ?? 1;
    const next = afterThrottle(current);
    this.log.warn('Bedrock throttled an admitted call; slowing the bucket', { modelId: target.modelId, region: target.region, rateFactor: next });
    await this.client
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(target),
          ConditionExpression: 'rateFactor = :current',
          UpdateExpression: 'SET rateFactor = :next, #version = #version + :oneVersion',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':current': current, ':next': next, ':oneVersion': 1 },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }
}
