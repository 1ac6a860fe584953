import { BatchGetCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchGetItem's limit on keys per call. */
const KEYS_PER_CALL = 100;

/**
 * The items of `keys` (eventually consistent), by their `pk`: a hundred keys a call, and the keys DynamoDB left
 * unprocessed asked for again (a few times, then it throws). Absent items are missing from the map.
 */
export async function batchGetItems(client: DynamoDBDocumentClient, tableName: string, keys: readonly { pk: string }[]): Promise<Map<string, Record<string, unknown>>> {
  const items = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < keys.length; i += KEYS_PER_CALL) {
    let pending: Record<string, unknown>[] | undefined = keys.slice(i, i + KEYS_PER_CALL);
    for (let round = 0; pending && pending.length > 0; round++) {
      if (round > 5) throw new Error('BatchGetItem kept returning unprocessed keys');
      const { Responses, UnprocessedKeys }: BatchGetCommandOutput = await client.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: pending } } }));
      for (const item of Responses?.[tableName] ?? []) items.set(item.pk as string, item);
      pending = UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return items;
}
