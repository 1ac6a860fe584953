import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The TTL attribute: epoch seconds after which DynamoDB deletes a job or idempotency record. */
export const JOB_TTL_ATTRIBUTE = 'expiresAt';

export interface JobTableProps {
  /** What `cdk destroy` does to the table. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Refuse DeleteTable until turned off. @default true when the removal policy is RETAIN */
  readonly deletionProtection?: boolean;
}

/** Key prefixes of the item kinds that share the table; grants are limited to the kinds a function touches. */
export const ITEM_KINDS = { job: 'JOB#', cache: 'CACHE#', breaker: 'BREAKER#', bucket: 'BUCKET#' } as const;

/**
 * The jobs table, single-table: job records (`pk = JOB#<jobId>`), cached responses (`CACHE#<hash>`), admission
 * buckets (`BUCKET#<region>#<modelId>`) and circuit
 * breakers (`BREAKER#<region>#<modelId>`) share one partition key and no sort key.
 *
 * Default settings: on-demand billing, point-in-time recovery, TTL on `expiresAt`, encryption with the AWS
 * managed key (key use visible in CloudTrail, no key policy to run), retained and deletion-protected.
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
  }

  /** Submit: create a job (idempotent by id), read it back, undo a write whose enqueue failed. */
  public grantSubmitJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantOn(grantee, [ITEM_KINDS.job], 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
  }

  /** Dead-letter handler: read a job and move it through its states with conditional updates. */
  public grantTransitionJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantOn(grantee, [ITEM_KINDS.job], 'dynamodb:GetItem', 'dynamodb:UpdateItem');
  }

  /** Worker: job transitions, plus the response cache, circuit breakers and admission buckets it reads and writes. */
  public grantWorkerState(grantee: iam.IGrantable): iam.Grant {
    return this.grantOn(grantee, [ITEM_KINDS.job, ITEM_KINDS.cache, ITEM_KINDS.breaker, ITEM_KINDS.bucket], 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem');
  }

  /** Status: read one job. */
  public grantReadJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantOn(grantee, [ITEM_KINDS.job], 'dynamodb:GetItem');
  }

  /** Read circuit breaker state (GET /models). */
  public grantReadBreakers(grantee: iam.IGrantable): iam.Grant {
    return this.grantOn(grantee, [ITEM_KINDS.breaker], 'dynamodb:GetItem', 'dynamodb:BatchGetItem');
  }

  /** Item-level least privilege: the actions only on items whose key starts with one of `prefixes`. */
  private grantOn(grantee: iam.IGrantable, prefixes: string[], ...actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes.map((p) => `${p}*`) } },
    });
  }
}
