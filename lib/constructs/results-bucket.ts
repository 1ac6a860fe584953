import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ASYNC_PREFIX } from '../../lambda/core/async-model';
import { BATCHES_PREFIX } from '../../lambda/core/batch';

/** Key prefix of result objects; the functions' S3 permissions stop at this prefix. */
export const RESULTS_PREFIX = 'results/';

export interface ResultsBucketProps {
  /** Days before a result object expires. @default 30 */
  readonly expirationDays?: number;
  /** Days before a server access log object expires. @default 90 */
  readonly accessLogExpirationDays?: number;
  /** What `cdk destroy` does to the buckets (a non-empty bucket is never deleted). @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The bucket that holds results too large for the job record, under `results/`.
 *
 * Default settings: SSE-S3 encryption, TLS-only bucket policy, all public access blocked, bucket-owner-enforced
 * object ownership, objects expire after `expirationDays`, server access logs to a sibling bucket.
 * Versioning stays off: a result is written once under a key derived from its job id and never overwritten,
 * and keeping noncurrent versions would only outlive the expiry the config promises.
 */
export class ResultsBucket extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ResultsBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const secure = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    };
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(props.accessLogExpirationDays ?? 90) }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server access log destination of the results bucket; logging it to itself would loop and another log bucket would only move the finding.',
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...secure,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'results-bucket/',
      lifecycleRules: [
        { id: 'expire-results', prefix: RESULTS_PREFIX, expiration: Duration.days(props.expirationDays ?? 30) },
        { id: 'expire-batches', prefix: BATCHES_PREFIX, expiration: Duration.days(props.expirationDays ?? 30) },
        { id: 'expire-async-output', prefix: ASYNC_PREFIX, expiration: Duration.days(props.expirationDays ?? 30) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }

  /** ARN pattern of every result object. */
  public get resultObjectsArn(): string {
    return this.bucket.arnForObjects(`${RESULTS_PREFIX}*`);
  }

  /** Worker: write result objects. */
  public grantWriteResults(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: [this.resultObjectsArn] });
  }

  /** ARN pattern of every batch object (lines and results files). */
  public get batchObjectsArn(): string {
    return this.bucket.arnForObjects(`${BATCHES_PREFIX}*`);
  }

  /** Batches API and runner: write and read batch objects (a results URL is presigned by the API). */
  public grantBatchObjects(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject', 's3:PutObject'], resourceArns: [this.batchObjectsArn] });
  }

  /** Status: read result objects (presigned URLs carry the signer's permissions). */
  public grantReadResults(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.resultObjectsArn] });
  }

  /** Status: read async invocations' output, for the download links of GET /jobs/{jobId}. */
  public grantReadAsyncOutput(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.asyncObjectsArn] });
  }

  /** ARN pattern of every async invocation's output (a folder per job). */
  public get asyncObjectsArn(): string {
    return this.bucket.arnForObjects(`${ASYNC_PREFIX}*`);
  }

  /**
   * Worker: Bedrock writes an async invocation's output as the caller (PutObject under ASYNC_PREFIX), and the
   * worker lists the folder to report its files (ListBucket, for that prefix only).
   */
  public grantAsyncOutput(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: [this.asyncObjectsArn] });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${ASYNC_PREFIX}*`] } } }),
    );
  }
}
