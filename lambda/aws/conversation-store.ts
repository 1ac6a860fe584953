import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { QuarryError } from '../core/errors';
import type { Conversation, ConversationMessage, PendingTurn } from '../core/conversation';
import type { ConversationStore } from '../core/ports';
import { conversationKey } from '../core/item-keys';
import { isConditionFailure } from './conditional-write';

/** A conversation item is limited as every DynamoDB item (400 KB): its history stops growing there. */
class ConversationFullError extends QuarryError {
  constructor() {
    super('CONVERSATION_FULL', 'This conversation has reached its size limit (DynamoDB items hold 400 KB); start a new one.', 409);
  }
}

/** Conversations in the jobs table, one item each (`pk = CONV#<id>`), expiring by TTL. */
export class DynamoConversationStore implements ConversationStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(conversation: Conversation): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { ...conversationKey(conversation.conversationId), ...conversation }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
  }

  async get(conversationId: string, now: Date): Promise<Conversation | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: conversationKey(conversationId), ConsistentRead: true }));
    if (!Item || (Item.expiresAt as number) * 1000 <= now.getTime()) return undefined;
    const { pk: _pk, ...conversation } = Item;
    return conversation as Conversation;
  }

  async claim(conversationId: string, expectTurns: number, pending: PendingTurn, now: Date): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: conversationKey(conversationId),
        ConditionExpression: 'attribute_exists(pk) AND turns = :turns AND attribute_not_exists(pending)',
        UpdateExpression: 'SET pending = :pending, updatedAt = :now',
        ExpressionAttributeValues: { ':turns': expectTurns, ':pending': pending, ':now': now.toISOString() },
      }),
    );
  }

  async setJob(conversationId: string, turn: number, jobId: string): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: conversationKey(conversationId),
        ConditionExpression: 'pending.turn = :turn',
        UpdateExpression: 'SET pending.jobId = :jobId',
        ExpressionAttributeValues: { ':turn': turn, ':jobId': jobId },
      }),
    );
  }

  async record(conversationId: string, turn: number, messages: ConversationMessage[], now: Date): Promise<boolean> {
    try {
      return await this.conditional(
        new UpdateCommand({
          TableName: this.tableName,
          Key: conversationKey(conversationId),
          ConditionExpression: 'pending.turn = :turn',
          UpdateExpression: 'SET messages = list_append(messages, :messages), turns = :turn, updatedAt = :now REMOVE pending',
          ExpressionAttributeValues: { ':turn': turn, ':messages': messages, ':now': now.toISOString() },
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name === 'ValidationException' && /size/i.test((error as Error).message)) throw new ConversationFullError();
      throw error;
    }
  }

  async clear(conversationId: string, turn: number): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: conversationKey(conversationId),
        ConditionExpression: 'pending.turn = :turn',
        UpdateExpression: 'REMOVE pending',
        ExpressionAttributeValues: { ':turn': turn },
      }),
    );
  }

  async delete(conversationId: string, tenant: string): Promise<boolean> {
    return this.conditional(
      new DeleteCommand({ TableName: this.tableName, Key: conversationKey(conversationId), ConditionExpression: 'tenant = :tenant', ExpressionAttributeValues: { ':tenant': tenant } }),
    );
  }

  /** Sends a conditional write: true when it happened, false when its condition did not hold. */
  private async conditional(command: UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      await this.client.send(command as UpdateCommand);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
