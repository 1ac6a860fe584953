import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetItems } from './batch-get';
import { TALLY_FIELDS, type Batch, type BatchCounts, type TallyField, type TallyShard } from '../core/batch';
import { batchKey, tallyKey } from '../core/item-keys';
import type { BatchStore } from '../core/ports';
import { isConditionFailure } from './conditional-write';

/** Stored shape: the batch plus its key, and the set of done shards (a number set, added to idempotently). */
type BatchItem = Omit<Batch, 'doneShards'> & { pk: string; doneShards?: Set<number> };

function toBatch(item: Record<string, unknown> | undefined, now: Date): Batch | undefined {
  if (!item) return undefined;
  const { pk: _pk, doneShards, ...batch } = item as unknown as BatchItem;
  return batch.expiresAt * 1000 <= now.getTime() ? undefined : { ...batch, doneShards: doneShards?.size ?? 0 };
}

function toShard(shard: number, item: Record<string, unknown> | undefined): TallyShard {
  const sets = Object.fromEntries(TALLY_FIELDS.map((field) => [field, [...((item?.[field] as Set<number> | undefined) ?? [])].map(Number)])) as Record<TallyField, number[]>;
  return { shard, ...sets };
}

/**
 * Batches and their tallies in the jobs table (single-table): `BATCH#<id>` and `TALLY#<id>#<shard>`. Every count is
 * a set addition (`ADD` of a number set), so an update repeated by a redelivery changes nothing.
 */
export class BatchRepository implements BatchStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(batch: Batch): Promise<{ created: true } | { created: false; existing: Batch }> {
    try {
      const { doneShards: _done, ...fields } = batch;
      await this.client.send(new PutCommand({ TableName: this.tableName, Item: { ...batchKey(batch.batchId), ...fields }, ConditionExpression: 'attribute_not_exists(pk)' }));
      return { created: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.get(batch.batchId);
      if (!existing) throw error;
      return { created: false, existing };
    }
  }

  async get(batchId: string, now = new Date()): Promise<Batch | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: batchKey(batchId), ConsistentRead: true }));
    return toBatch(Item, now);
  }

  async advanceFanOut(batchId: string, from: number, to: number, now: Date): Promise<boolean> {
    return this.update(batchId, {
      condition: '#status = :inProgress AND fannedOut = :from',
      update: 'SET fannedOut = :to, updatedAt = :now',
      values: { ':inProgress': 'IN_PROGRESS', ':from': from, ':to': to, ':now': now.toISOString() },
    }).then((item) => item !== undefined);
  }

  async requestCancel(batchId: string, now: Date): Promise<Batch | undefined> {
    const item = await this.update(batchId, { condition: '#status = :inProgress', update: 'SET #status = :cancelling, updatedAt = :now', values: { ':inProgress': 'IN_PROGRESS', ':cancelling': 'CANCELLING', ':now': now.toISOString() } });
    return toBatch(item, now);
  }

  async tally(batchId: string, shard: number, field: TallyField, seqs: number[]): Promise<TallyShard> {
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: tallyKey(batchId, shard),
        UpdateExpression: 'ADD #field :seqs',
        ExpressionAttributeNames: { '#field': field },
        ExpressionAttributeValues: { ':seqs': new Set(seqs) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toShard(shard, Attributes);
  }

  async markShardDone(batchId: string, shard: number): Promise<number> {
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: batchKey(batchId),
        ConditionExpression: 'attribute_exists(pk)',
        UpdateExpression: 'ADD doneShards :shard',
        ExpressionAttributeValues: { ':shard': new Set([shard]) },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return (Attributes?.doneShards as Set<number> | undefined)?.size ?? 0;
  }

  async shards(batchId: string, shardCount: number): Promise<TallyShard[]> {
    const keys = Array.from({ length: shardCount }, (_, shard) => tallyKey(batchId, shard));
    const found = await batchGetItems(this.client, this.tableName, keys);
    return keys.map((key, shard) => toShard(shard, found.get(key.pk)));
  }

  async finish(batchId: string, outcome: { status: 'COMPLETED' | 'CANCELLED'; counts: BatchCounts; resultsKey: string }, now: Date): Promise<Batch | undefined> {
    const item = await this.update(batchId, {
      condition: '#status IN (:inProgress, :cancelling)',
      update: 'SET #status = :status, counts = :counts, resultsKey = :key, completedAt = :now, updatedAt = :now',
      values: { ':inProgress': 'IN_PROGRESS', ':cancelling': 'CANCELLING', ':status': outcome.status, ':counts': outcome.counts, ':key': outcome.resultsKey, ':now': now.toISOString() },
    });
    return toBatch(item, now);
  }

  async markEventPublished(batchId: string, now: Date): Promise<void> {
    await this.update(batchId, { condition: 'attribute_exists(pk)', update: 'SET eventPublishedAt = if_not_exists(eventPublishedAt, :now)', values: { ':now': now.toISOString() } });
  }

  private async update(batchId: string, change: { condition: string; update: string; values: Record<string, unknown> }): Promise<Record<string, unknown> | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: batchKey(batchId),
          ConditionExpression: `attribute_exists(pk) AND (${change.condition})`,
          UpdateExpression: change.update,
          ...(change.update.includes('#status') || change.condition.includes('#status') ? { ExpressionAttributeNames: { '#status': 'status' } } : {}),
          ExpressionAttributeValues: change.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ?? {};
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}
