import { brotliCompressSync, brotliDecompressSync, constants as zlib } from 'node:zlib';
import { isConditionFailure } from './conditional-write';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetItems } from './batch-get';
import { isExpired, type AsyncInvocationState, type Attempt, type Claimant, type Job, type JobError, type JobResult, type Reservation, type ResultLocation, type RunnableJob } from '../core/job';
import type { NormalizedJobRequest } from '../core/job-request';
import { inputKey, jobKey, SWEEP_INDEX, SWEEP_SHARDS, sweepShardOf, TENANT_INDEX } from '../core/item-keys';
import type { JobListQuery, ListCursor } from '../core/job-listing';
import type { JobStore, SweepIndex } from '../core/ports';
import type { Routing } from '../core/route-decision';

/** A result as stored: its text brotli-compressed (`textBr`) when that makes it smaller. */
type StoredResult = Omit<JobResult, 'text'> & { text?: string; textBr?: Uint8Array };

/** Stored shape: the job plus its key, with the lease flattened so conditions can compare it. */
type JobItem = Omit<Job, 'lease' | 'result'> & { pk: string; result?: StoredResult; sweepShard?: string; tenantJobs?: string; leaseOwner?: string; leaseExpiresAt?: number; leaseReceiveCount?: number };

/** Index pages a filtered listing reads at most before it answers a shorter page (with a token to go on). */
const MAX_INDEX_PAGES = 5;

/** Texts shorter than this are stored as they are: compressing them would save no write unit. */
const COMPRESS_TEXT_FROM_BYTES = 256;

/**
 * A result's text is most of a finished job's item, and the terminal write pays a write unit per KB of it: model
 * text compresses to about a third with brotli's text mode (and its built-in dictionary suits short texts).
 */
export function storedResult(result: JobResult): StoredResult {
  const { text, ...rest } = result;
  if (text === undefined || Buffer.byteLength(text, 'utf8') < COMPRESS_TEXT_FROM_BYTES) return result;
  const raw = Buffer.from(text, 'utf8');
  const compressed = brotliCompressSync(raw, {
    params: { [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_QUALITY]: 6, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length },
  });
  return compressed.length < raw.length ? { ...rest, textBr: new Uint8Array(compressed) } : result;
}

function fromStoredResult(stored: StoredResult): JobResult {
  const { textBr, ...rest } = stored;
  return textBr ? { ...rest, text: brotliDecompressSync(textBr).toString('utf8') } : rest;
}

function toJob(item: Record<string, unknown> | undefined): Job | undefined {
  if (!item) return undefined;
  const { pk: _pk, sweepShard: _shard, tenantJobs: _tenant, leaseOwner, leaseExpiresAt, leaseReceiveCount, result, ...rest } = item as JobItem;
  return {
    ...rest,
    ...(result && { result: fromStoredResult(result) }),
    ...(leaseOwner !== undefined &&
      leaseExpiresAt !== undefined && { lease: { owner: leaseOwner, expiresAt: leaseExpiresAt, ...(rest.lastMessageId && { messageId: rest.lastMessageId }), ...(leaseReceiveCount !== undefined && { receiveCount: leaseReceiveCount }) } }),
  };
}

/** `SET` clause and values that put a job in the sweep index at `sweepAt`. */
const sweepSet = (jobId: string, sweepAt: number) => ({ clause: 'sweepShard = :sweepShard, sweepAt = :sweepAt', values: { ':sweepShard': sweepShardOf(jobId), ':sweepAt': sweepAt } });

/** A lease is live while it has not expired; a claim, a sweep or an abandonment may take only a job whose lease is not. */
const LEASE_NOT_LIVE = '#status = :queued OR (#status = :running AND leaseExpiresAt < :nowMillis)';

/**
 * Every state change is a conditional write on the current state (and, while RUNNING, on the lease owner), so
 * SQS's at-least-once delivery can never make two workers finish one job.
 */
export class JobRepository implements JobStore, SweepIndex {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Writes a new QUEUED job's state, conditional: if a live job already holds the id, returns it instead. */
  async create(job: RunnableJob, now: Date): Promise<{ created: true } | { created: false; existing: Job }> {
    const { lease: _lease, request: _request, ...fields } = job;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...jobKey(job.jobId), ...fields, [TENANT_INDEX.partitionKey]: job.tenant, ...(job.sweepAt !== undefined && { sweepShard: sweepShardOf(job.jobId) }) },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :nowSeconds',
          ExpressionAttributeValues: { ':nowSeconds': Math.floor(now.getTime() / 1000) },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.get(job.jobId, now);
      // Expired between the two calls: vanishingly rare; let the client retry rather than guess.
      if (!existing) throw error;
      return { created: false, existing };
    }
    return { created: true };
  }

  async putRequest(job: RunnableJob): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: { ...inputKey(job.jobId), request: job.request, expiresAt: job.expiresAt } }));
  }

  async getRequest(jobId: string): Promise<NormalizedJobRequest | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: inputKey(jobId), ConsistentRead: true }));
    return Item?.request as NormalizedJobRequest | undefined;
  }

  /** The job; `eventual` reads cost half and may lag a write by a moment (for polls, never for decisions). */
  async get(jobId: string, now: Date, consistency: 'strong' | 'eventual' = 'strong'): Promise<Job | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: jobKey(jobId), ConsistentRead: consistency === 'strong' }));
    const job = toJob(Item);
    return job && !isExpired(job, now) ? job : undefined;
  }

  /**
   * QUEUED -> RUNNING; or takes over a RUNNING job whose lease expired, or whose lease an earlier receive of the
   * same message holds (that delivery failed and gave the message back). Only a message of the job's own request
   * (`requestHash`) may claim it. Undefined when refused.
   */
  async claim(jobId: string, claimant: Claimant & { requestHash?: string; poll?: number }, lease: { expiresAt: number }, now: Date): Promise<Job | undefined> {
    // The sweep time is left as it is: the sweep looks at a running job only if it is still running by then (and
    // then waits for its lease), so a claim moves nothing in the sweep index.
    const claimable = `${LEASE_NOT_LIVE} OR (#status = :running AND lastMessageId = :messageId AND leaseReceiveCount < :receiveCount)`;
    // An async job between polls takes only the message of the poll it expects, or the one that last held it.
    const expected = `(${claimant.poll !== undefined ? 'asyncInvocation.polls = :poll' : 'attribute_not_exists(asyncInvocation)'} OR lastMessageId = :messageId)`;
    return this.transition(jobId, {
      condition: `${claimant.requestHash !== undefined ? 'requestHash = :requestHash AND ' : ''}(${claimable}) AND ${expected}`,
      update: 'SET #status = :running, leaseOwner = :owner, leaseExpiresAt = :lease, lastMessageId = :messageId, leaseReceiveCount = :receiveCount, updatedAt = :now',
      values: {
        ':queued': 'QUEUED',
        ':running': 'RUNNING',
        ':nowMillis': now.getTime(),
        ':owner': claimant.owner,
        ':messageId': claimant.messageId,
        ':receiveCount': claimant.receiveCount,
        ':lease': lease.expiresAt,
        ':now': now.toISOString(),
        ...(claimant.requestHash !== undefined && { ':requestHash': claimant.requestHash }),
        ...(claimant.poll !== undefined && { ':poll': claimant.poll }),
      },
    });
  }

  /**
   * RUNNING (held by `owner`) -> RUNNING held by no one, while Bedrock runs the job's async invocation: the
   * invocation and the poll expected next recorded, the lease given up (expired, so the poll's message may claim it).
   */
  async awaitInvocation(jobId: string, owner: string, change: { asyncInvocation: AsyncInvocationState; attempts: Attempt[]; sweepAt: number }, now: Date): Promise<Job | undefined> {
    const sweep = sweepSet(jobId, change.sweepAt);
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: `SET updatedAt = :now, asyncInvocation = :invocation, attempts = list_append(attempts, :attempts), leaseExpiresAt = :zero, ${sweep.clause} REMOVE leaseOwner, leaseReceiveCount, reservation`,
      values: { ':running': 'RUNNING', ':owner': owner, ':now': now.toISOString(), ':invocation': change.asyncInvocation, ':attempts': change.attempts, ':zero': 0, ...sweep.values },
    });
  }

  /** RUNNING -> QUEUED until the job is tried again: the lease is given up, the attempts recorded, the requeue counted. */
  async release(jobId: string, owner: string, change: { attempts: Attempt[]; reservation?: Reservation; sweepAt: number }, now: Date): Promise<Job | undefined> {
    const sweep = sweepSet(jobId, change.sweepAt);
    const { reservation } = change;
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: `SET #status = :queued, updatedAt = :now, attempts = list_append(attempts, :attempts), requeues = if_not_exists(requeues, :zero) + :one, ${sweep.clause}${reservation ? ', reservation = :reservation' : ''} REMOVE leaseOwner, leaseExpiresAt, leaseReceiveCount${reservation ? '' : ', reservation'}`,
      values: { ':running': 'RUNNING', ':queued': 'QUEUED', ':owner': owner, ':now': now.toISOString(), ':attempts': change.attempts, ':zero': 0, ':one': 1, ...sweep.values, ...(reservation && { ':reservation': reservation }) },
    });
  }

  /**
   * RUNNING (held by `owner`) -> SUCCEEDED, out of the sweep index: the worker's queue message, acknowledged only
   * once the event is published, is what guarantees the announcement.
   */
  async markSucceeded(jobId: string, owner: string, outcome: { result: JobResult; resultLocation?: ResultLocation; attempts: Attempt[]; routing?: Routing }, now: Date): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: `SET #status = :succeeded, updatedAt = :now, #result = :result, attempts = list_append(attempts, :attempts)${outcome.resultLocation ? ', resultLocation = :location' : ''}${outcome.routing ? ', routing = :routing' : ''} REMOVE leaseOwner, leaseExpiresAt, leaseReceiveCount, reservation, sweepShard, sweepAt`,
      names: { '#result': 'result' },
      values: {
        ':running': 'RUNNING',
        ':succeeded': 'SUCCEEDED',
        ':owner': owner,
        ':now': now.toISOString(),
        ':result': storedResult(outcome.result),
        ':attempts': outcome.attempts,
        ...(outcome.resultLocation && { ':location': outcome.resultLocation }),
        ...(outcome.routing && { ':routing': outcome.routing }),
      },
    });
  }

  /** RUNNING (held by `owner`) -> FAILED, out of the sweep index (as markSucceeded). */
  async markFailed(jobId: string, owner: string, outcome: { error: JobError; attempts: Attempt[]; routing?: Routing }, now: Date): Promise<Job | undefined> {
    return this.transition(jobId, {
      condition: '#status = :running AND leaseOwner = :owner',
      update: `SET #status = :failed, updatedAt = :now, #error = :error, attempts = list_append(attempts, :attempts)${outcome.routing ? ', routing = :routing' : ''} REMOVE leaseOwner, leaseExpiresAt, leaseReceiveCount, reservation, sweepShard, sweepAt`,
      names: { '#error': 'error' },
      values: { ':running': 'RUNNING', ':failed': 'FAILED', ':owner': owner, ':now': now.toISOString(), ':error': outcome.error, ':attempts': outcome.attempts, ...(outcome.routing && { ':routing': outcome.routing }) },
    });
  }

  /** A job nobody holds (QUEUED, or RUNNING with an expired lease) -> FAILED: dead letters and the sweep's deadline. */
  async markAbandoned(jobId: string, error: JobError, sweepAt: number, now: Date): Promise<Job | undefined> {
    const sweep = sweepSet(jobId, sweepAt);
    return this.transition(jobId, {
      condition: LEASE_NOT_LIVE,
      update: `SET #status = :failed, updatedAt = :now, #error = :error, ${sweep.clause} REMOVE leaseOwner, leaseExpiresAt, leaseReceiveCount, reservation`,
      names: { '#error': 'error' },
      values: { ':queued': 'QUEUED', ':running': 'RUNNING', ':nowMillis': now.getTime(), ':failed': 'FAILED', ':now': now.toISOString(), ':error': error, ...sweep.values },
    });
  }

  /** QUEUED -> CANCELLED (DELETE /jobs/{jobId}), in the sweep index until the event is recorded (as markAbandoned). */
  async markCancelled(jobId: string, sweepAt: number, now: Date): Promise<Job | undefined> {
    const sweep = sweepSet(jobId, sweepAt);
    return this.transition(jobId, {
      condition: '#status = :queued',
      update: `SET #status = :cancelled, updatedAt = :now, ${sweep.clause} REMOVE reservation`,
      values: { ':queued': 'QUEUED', ':cancelled': 'CANCELLED', ':now': now.toISOString(), ...sweep.values },
    });
  }

  /**
   * Records that a dead-lettered job goes back to the queue: counted, and due for the sweep if that message is lost
   * too. A job whose async invocation Bedrock is running stays RUNNING (held by no one), as between polls.
   */
  async markDeadLetterRequeued(jobId: string, sweepAt: number, now: Date, options: { running?: boolean } = {}): Promise<Job | undefined> {
    const sweep = sweepSet(jobId, sweepAt);
    const state = options.running ? 'leaseExpiresAt = :zero' : '#status = :queued';
    return this.transition(jobId, {
      condition: LEASE_NOT_LIVE,
      update: `SET ${state}, updatedAt = :now, deadLetters = if_not_exists(deadLetters, :zero) + :one, ${sweep.clause} REMOVE leaseOwner, ${options.running ? '' : 'leaseExpiresAt, '}leaseReceiveCount`,
      values: { ':queued': 'QUEUED', ':running': 'RUNNING', ':nowMillis': now.getTime(), ':now': now.toISOString(), ':zero': 0, ':one': 1, ...sweep.values },
    });
  }

  /** Moves a job's next sweep, only if no one else moved the job meanwhile (`sweepAt` unchanged); `requeued` counts a sweep re-enqueue. */
  async rescheduleSweep(jobId: string, expectedSweepAt: number, nextSweepAt: number, requeued: boolean): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          ConditionExpression: 'sweepAt = :expected',
          UpdateExpression: `SET sweepAt = :next${requeued ? ', sweeps = if_not_exists(sweeps, :zero) + :one' : ''}`,
          ExpressionAttributeValues: { ':expected': expectedSweepAt, ':next': nextSweepAt, ...(requeued && { ':zero': 0, ':one': 1 }) },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The event is on SNS: nothing is owed any more, so the job leaves the sweep index. */
  async markEventPublished(jobId: string, now: Date): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: jobKey(jobId),
        ConditionExpression: 'attribute_exists(pk)',
        UpdateExpression: 'SET eventPublishedAt = if_not_exists(eventPublishedAt, :now) REMOVE sweepShard, sweepAt',
        ExpressionAttributeValues: { ':now': now.toISOString() },
      }),
    );
  }

  /**
   * A page of the tenant's jobs, newest first: the index's keys, then the jobs in one eventually consistent
   * BatchGetItem (a listing may lag a write by a moment). A status filter is applied to the jobs read, so a page may
   * need several index pages (at most `MAX_INDEX_PAGES`); `next` is where the following page starts, absent at the end.
   */
  async listForTenant(tenant: string, query: JobListQuery, now: Date): Promise<{ jobs: Job[]; next?: ListCursor }> {
    const jobs: Job[] = [];
    let startKey: Record<string, unknown> | undefined = query.after && { [TENANT_INDEX.partitionKey]: tenant, [TENANT_INDEX.sortKey]: query.after.createdAt, ...jobKey(query.after.jobId) };
    let cursor: ListCursor | undefined;
    for (let page = 0; page < MAX_INDEX_PAGES; page++) {
      const { Items = [], LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TENANT_INDEX.name,
          KeyConditionExpression: '#tenant = :tenant',
          ExpressionAttributeNames: { '#tenant': TENANT_INDEX.partitionKey },
          ExpressionAttributeValues: { ':tenant': tenant },
          ScanIndexForward: false,
          // Unfiltered, a page is exactly what is left to fill; filtered, a full page's worth of candidates.
          Limit: query.status ? query.limit : query.limit - jobs.length,
          ExclusiveStartKey: startKey,
        }),
      );
      const read = await batchGetItems(this.client, this.tableName, Items.map((item) => ({ pk: item.pk as string })));
      for (const [i, key] of Items.entries()) {
        cursor = { createdAt: key[TENANT_INDEX.sortKey] as string, jobId: String(key.pk).slice(jobKey('').pk.length) };
        const job = toJob(read.get(key.pk as string));
        if (!job || isExpired(job, now) || job.tenant !== tenant || (query.status && job.status !== query.status)) continue;
        jobs.push(job);
        if (jobs.length === query.limit) return { jobs, ...((i < Items.length - 1 || LastEvaluatedKey) && { next: cursor }) };
      }
      if (!LastEvaluatedKey) return { jobs };
      startKey = LastEvaluatedKey;
    }
    return { jobs, ...(cursor && { next: cursor }) };
  }

  async getMany(jobIds: readonly string[], now: Date): Promise<Map<string, Job>> {
    const jobs = new Map<string, Job>();
    for (const item of (await batchGetItems(this.client, this.tableName, jobIds.map(jobKey))).values()) {
      const job = toJob(item);
      if (job && !isExpired(job, now)) jobs.set(job.jobId, job);
    }
    return jobs;
  }

  /** Ids of jobs whose `sweepAt` is at or before `now`, oldest first within each shard, at most `limit` in all. */
  async dueForSweep(now: Date, limit: number): Promise<string[]> {
    const ids: string[] = [];
    for (let shard = 0; shard < SWEEP_SHARDS && ids.length < limit; shard++) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: SWEEP_INDEX.name,
            KeyConditionExpression: '#shard = :shard AND #at <= :now',
            ExpressionAttributeNames: { '#shard': SWEEP_INDEX.partitionKey, '#at': SWEEP_INDEX.sortKey },
            ExpressionAttributeValues: { ':shard': `S${shard}`, ':now': now.getTime() },
            Limit: limit - ids.length,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) ids.push(String(item.pk).slice(jobKey('').pk.length));
        startKey = page.LastEvaluatedKey;
      } while (startKey && ids.length < limit);
    }
    return ids;
  }

  private async transition(
    jobId: string,
    change: { condition: string; update: string; names?: Record<string, string>; values: Record<string, unknown> },
  ): Promise<Job | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
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
