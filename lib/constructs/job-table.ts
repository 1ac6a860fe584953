import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ITEM_KINDS, SWEEP_INDEX, TENANT_INDEX, type ItemKind } from '../../lambda/core/item-keys';

/** The TTL attribute: epoch seconds after which DynamoDB deletes a job or idempotency record. */
export const JOB_TTL_ATTRIBUTE = 'expiresAt';

export interface JobTableProps {
  /** What `cdk destroy` does to the table. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Refuse DeleteTable until turned off. @default true when the removal policy is RETAIN */
  readonly deletionProtection?: boolean;
}

/** A DynamoDB item action a grant may name. */
export type ItemAction = 'GetItem' | 'BatchGetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem';

/**
 * The jobs table, single-table: job records (`pk = JOB#<jobId>`), cached responses (`CACHE#<hash>`), admission
 * buckets (`BUCKET#<region>#<modelId>`) and circuit breakers (`BREAKER#<region>#<modelId>`) share one partition key
 * and no sort key (the prefixes live in lambda/core/item-keys.ts). A sparse index (`SWEEP_INDEX`) holds the jobs that
 * still owe something, keyed by `sweepShard` and `sweepAt`, for the sweep.
 *
 * Default settings: on-demand billing, point-in-time recovery, TTL on `expiresAt`, encryption with the AWS
 * managed key (key use visible in CloudTrail, no key policy to run), retained and deletion-protected.
 *
 * Grants are per item kind: one IAM statement per kind and action set, conditioned on `dynamodb:LeadingKeys`.
 */
export class JobTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: JOB_TTL_ATTRIBUTE,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
    // Keys only: the sweep reads each job it finds with a consistent GetItem before acting on it.
    this.table.addGlobalSecondaryIndex({
      indexName: SWEEP_INDEX.name,
      partitionKey: { name: SWEEP_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SWEEP_INDEX.sortKey, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    // Keys only: a listing reads its page's jobs in one BatchGetItem, so state changes never write the index.
    this.table.addGlobalSecondaryIndex({
      indexName: TENANT_INDEX.name,
      partitionKey: { name: TENANT_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TENANT_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
  }

  /** ARN of the tenants' jobs index. */
  public get tenantIndexArn(): string {
    return `${this.table.tableArn}/index/${TENANT_INDEX.name}`;
  }

  /** GET /jobs: query the tenants' index (keys only) and read the page's jobs in one batch. */
  public grantListJobs(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: [this.tenantIndexArn] }).combine(this.grantItems(grantee, 'job', 'BatchGetItem'));
  }

  /** ARN of the sweep index. */
  public get sweepIndexArn(): string {
    return `${this.table.tableArn}/index/${SWEEP_INDEX.name}`;
  }

  /** Submit: create a job (idempotent by id), read it back, remove one whose enqueue failed. */
  public grantSubmitJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'job', 'GetItem', 'PutItem', 'DeleteItem').combine(this.grantItems(grantee, 'input', 'PutItem'));
  }

  /** Dead-letter handler and sweep: read a job and move it through its states with conditional updates. */
  public grantTransitionJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'job', 'GetItem', 'UpdateItem');
  }

  /** Worker: job transitions, the response cache, and the circuit breakers and admission schedules it reads and updates. */
  public grantWorkerState(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'job', 'GetItem', 'UpdateItem')
      .combine(this.grantItems(grantee, 'input', 'GetItem'))
      .combine(this.grantModelCallState(grantee));
  }

  /** Conversations: their items, and a turn's job (submitted as POST /jobs does, and read back for its answer). */
  public grantConversations(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'conversation', 'GetItem', 'PutItem', 'UpdateItem', 'DeleteItem')
      .combine(this.grantItems(grantee, 'job', 'GetItem', 'PutItem'))
      .combine(this.grantItems(grantee, 'input', 'PutItem'));
  }

  /** What calling a model through the resilience path touches: the response cache, circuit breakers and quota schedules; no job. */
  public grantModelCallState(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'cache', 'GetItem', 'PutItem')
      .combine(this.grantItems(grantee, 'breaker', 'GetItem', 'UpdateItem'))
      .combine(this.grantItems(grantee, 'bucket', 'GetItem', 'UpdateItem'));
  }

  /** Status: read one job. */
  public grantReadJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'job', 'GetItem');
  }

  /** GET /models: read every breaker in one batch. */
  public grantReadBreakers(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'breaker', 'BatchGetItem');
  }

  /** Sweep: query the sweep index (keys only), nothing else through it. */
  public grantQuerySweepIndex(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: [this.sweepIndexArn] });
  }

  /** Functions that end jobs: count batch jobs in their batch's tally, and mark its shards done. */
  public grantBatchTally(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'tally', 'UpdateItem').combine(this.grantItems(grantee, 'batch', 'UpdateItem'));
  }

  /** Batches API: record a batch, read it and its tally, cancel it. */
  public grantBatchesApi(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'batch', 'GetItem', 'PutItem', 'UpdateItem').combine(this.grantItems(grantee, 'tally', 'BatchGetItem'));
  }

  /** Batch runner: its batches and tallies, and the batch's jobs (created, read, cancelled) with their requests. */
  public grantBatchRunner(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, 'batch', 'GetItem', 'UpdateItem')
      .combine(this.grantItems(grantee, 'tally', 'BatchGetItem', 'UpdateItem'))
      .combine(this.grantItems(grantee, 'job', 'BatchGetItem', 'GetItem', 'PutItem', 'UpdateItem'))
      .combine(this.grantItems(grantee, 'input', 'PutItem'));
  }

  /** Item-level least privilege: `actions` only on the items of one kind (`dynamodb:LeadingKeys` on its key prefix). */
  public grantItems(grantee: iam.IGrantable, kind: ItemKind, ...actions: ItemAction[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: actions.map((action) => `dynamodb:${action}`),
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${ITEM_KINDS[kind]}*`] } },
    });
  }
}
