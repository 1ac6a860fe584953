import { isConditionFailure } from './conditional-write';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isExpired, type Attempt, type Job, type JobError, type JobResult, type Reservation, type ResultLocation } from '../core/job';

/** Stored shape: the job plus its key, with the lease flattened so conditions can compare it. */
type JobItem = Omit<Job, 'lease'> & { pk: string; leaseOwner?: string; leaseExpiresAt?: number };

const keyOf = (jobId: string) => ({ pk: `JOB#${jobId}` });

function toJob(item: Record<string, unknown> | undefined): Job | undefined {
  if (!item) return undefined;
  const { pk: _pk, leaseOwner, leaseExpiresAt, ...rest } = item as JobItem;
  return { ...rest, ...(leaseOwner !== undefined && leaseExpiresAt !== undefined && { lease: { owner: leaseOwner, expiresAt: leaseExpiresAt } }) };
}


/**
 * Every state change is a conditional write on the current state (and, while RUNNING, on the lease owner), so
 * SQS's at-least-once delivery can never make two workers finish one job.
 */
export class JobRepository {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Writes a new QUEUED job; if a live job already holds the id, returns it instead. */
  async create(job: Job, now: Date): Promise<{ created: true } | { created: false; existing: Job }> {
    const { lease: _lease, ...fields } = job;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keyOf(job.jobId), ...fields },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :nowSeconds',
          ExpressionAttributeValues: { ':nowSeconds': Math.floor(now.getTime() / 1000) },
        }),
      );
      return { created: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.get(job.jobId, now);
      // Expired between the two calls: vanishingly rare; let the client retry rather than guess.
      if (!existing) throw error;
      return { created: false, existing };
    }
  }

  async get(jobId: string, now: Date): Promise<Job | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(jobId), ConsistentRead: true }));
    const job = toJob(Item);
    return job && !isExpired(job, now) ? job : undefined;
  }

  /** Removes a job that never reached the queue, so the client's retry starts clean. */
  async discardUnqueued(jobId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keyOf(jobId),
          ConditionExpression: '#status = :queued AND size(attempts) = :zero',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':queued': 'QUEUED', ':zero': 0 },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** QUEUED -> RUNNING, or takes over a RUNNING job whose lease expired. Undefined when refused. */
  async claim(jobId: string, owner: string, leaseExpiresAt: number, now: Date): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status = :queued OR (#status = :running AND leaseExpiresAt < :nowMillis)',
      update: 'SET #status = :running, leaseOwner = :owner, leaseExpiresAt = :lease, updatedAt = :now',
      values: { ':queued': 'QUEUED', ':running': 'RUNNING', ':nowMillis': now.getTime(), ':owner': owner, ':lease': leaseExpiresAt, ':now': now.toISOString() },
    });
  }

  /** RUNNING -> QUEUED until the job is tried again: the lease is given up, the attempts recorded, the requeue counted. */
  async release(jobId: string, owner: string, attempts: Attempt[], now: Date, reservation?: Reservation): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: `SET #status = :queued, updatedAt = :now, attempts = list_append(attempts, :attempts), requeues = if_not_exists(requeues, :zero) + :one${reservation ? ', reservation = :reservation REMOVE leaseOwner, leaseExpiresAt' : ' REMOVE leaseOwner, leaseExpiresAt, reservation'}`,
      values: { ':running': 'RUNNING', ':queued': 'QUEUED', ':owner': owner, ':now': now.toISOString(), ':attempts': attempts, ':zero': 0, ':one': 1, ...(reservation && { ':reservation': reservation }) },
    });
  }

  async markSucceeded(jobId: string, owner: string, outcome: { result: JobResult; resultLocation?: ResultLocation; attempts: Attempt[] }, now: Date): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: `SET #status = :succeeded, updatedAt = :now, #result = :result, attempts = list_append(attempts, :attempts)${outcome.resultLocation ? ', resultLocation = :location' : ''} REMOVE leaseOwner, leaseExpiresAt`,
      names: { '#result': 'result' },
      values: {
        ':running': 'RUNNING',
        ':succeeded': 'SUCCEEDED',
        ':owner': owner,
        ':now': now.toISOString(),
        ':result': outcome.result,
        ':attempts': outcome.attempts,
        ...(outcome.resultLocation && { ':location': outcome.resultLocation }),
      },
    });
  }

  /** RUNNING (held by `owner`) -> FAILED. */
  async markFailed(jobId: string, owner: string, error: JobError, attempts: Attempt[], now: Date): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: 'SET #status = :failed, updatedAt = :now, #error = :error, attempts = list_append(attempts, :attempts) REMOVE leaseOwner, leaseExpiresAt',
      names: { '#error': 'error' },
      values: { ':running': 'RUNNING', ':failed': 'FAILED', ':owner': owner, ':now': now.toISOString(), ':error': error, ':attempts': attempts },
    });
  }

  /** Any non-terminal state -> FAILED, whoever holds it: for jobs whose message was dead-lettered. */
  async markAbandoned(jobId: string, error: JobError, now: Date): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status IN (:queued, :running)',
      update: 'SET #status = :failed, updatedAt = :now, #error = :error REMOVE leaseOwner, leaseExpiresAt',
      names: { '#error': 'error' },
      values: { ':queued': 'QUEUED', ':running': 'RUNNING', ':failed': 'FAILED', ':now': now.toISOString(), ':error': error },
    });
  }

  async markEventPublished(jobId: string, now: Date): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keyOf(jobId),
        ConditionExpression: 'attribute_exists(pk)',
        UpdateExpression: 'SET eventPublishedAt = if_not_exists(eventPublishedAt, :now)',
        ExpressionAttributeValues: { ':now': now.toISOString() },
      }),
    );
  }

  private async transition(
    jobId: string,
    change: { condition: string; update: string; names?: Record<string, string>; values: Record<string, unknown> },
  ): Promise<Job | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(jobId),
          ConditionExpression: `attribute_exists(pk) AND (${change.condition})`,
          UpdateExpression: change.update,
          ExpressionAttributeNames: { '#status': 'status', ...change.names },
          ExpressionAttributeValues: change.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toJob(Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}
