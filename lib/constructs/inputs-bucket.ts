import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface InputsBucketProps {
  /** Days before an input object expires. @default 7 */
  readonly expirationDays?: number;
  /** Where its server access logs go (the results bucket's log bucket). */
  readonly accessLogsBucket: s3.IBucket;
  /** What `cdk destroy` does to the bucket (a non-empty bucket is never deleted). @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The bucket that holds what requests refer to by `s3Location` (images, documents): the only bucket Quarry reads
 * attachments from, one key prefix per tenant (`<tenant>/`), written through presigned uploads (POST /inputs) or
 * by the team's own producers.
 *
 * Default settings: SSE-S3 encryption, TLS-only bucket policy, all public access blocked, bucket-owner-enforced
 * object ownership, objects expire after `expirationDays`, server access logs to the results' log bucket.
 */
export class InputsBucket extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: InputsBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'inputs-bucket/',
      lifecycleRules: [
        { id: 'expire-inputs', expiration: Duration.days(props.expirationDays ?? 7) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }

  /** The functions that call models: read the attachments a request names (Quarry passes their bytes to Converse). */
  public grantReadInputs(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects('*')] });
  }

  /** Submit: sign upload URLs (a presigned PUT carries the signer's s3:PutObject permission). */
  public grantSignUploads(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: [this.bucket.arnForObjects('*')] });
  }
}
