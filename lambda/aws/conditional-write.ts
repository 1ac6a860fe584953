import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** True when a DynamoDB write was refused by its condition: someone else changed the item first. */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}
