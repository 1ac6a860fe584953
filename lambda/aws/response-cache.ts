import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobResult } from '../core/job';
import type { ResponseCache } from '../core/ports';
import { cacheKey } from '../core/item-keys';

/** Cached answers in the jobs table (`pk = CACHE#<key>`), expiring by TTL; expired items read as absent. */
export class DynamoResponseCache implements ResponseCache {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlSeconds: number,
  ) {}

  async get(key: string, now: Date): Promise<JobResult | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: cacheKey(key) }));
    if (!Item || (Item.expiresAt as number) * 1000 <= now.getTime()) return undefined;
    return Item.result as JobResult;
  }

  async put(key: string, result: JobResult, now: Date): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...cacheKey(key), result, cachedAt: now.toISOString(), expiresAt: Math.floor(now.getTime() / 1000) + this.ttlSeconds },
      }),
    );
  }
}
