import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

/*
 * One client per service per container, created on first use. Endpoints come from the SDK's own
 * configuration (AWS_ENDPOINT_URL_<SERVICE>), which is how the local runtime points them at emulators.
 */

/**
 * Every AWS call gives up on a connection that does not open within 3 s or a request that takes longer than
 * `requestTimeout`, so a hung socket costs one SDK retry, not the function's whole timeout. (Bedrock calls are
 * bounded instead by the abort signal each call carries, sized to the invocation's remaining time.)
 */
const timeouts = (requestTimeout: number) => ({ requestHandler: { connectionTimeout: 3_000, requestTimeout, throwOnRequestTimeout: true } });

let documents: DynamoDBDocumentClient | undefined;
let queue: SQSClient | undefined;
let topic: SNSClient | undefined;
let objects: S3Client | undefined;

export function documentClient(): DynamoDBDocumentClient {
  documents ??= DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 3, ...timeouts(5_000) }), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return documents;
}

export function sqsClient(): SQSClient {
  // The queue URL travels in the request; the endpoint stays the configured one (regional, or an emulator's).
  queue ??= new SQSClient({ maxAttempts: 3, useQueueUrlAsEndpoint: false, ...timeouts(5_000) });
  return queue;
}

export function snsClient(): SNSClient {
  topic ??= new SNSClient({ maxAttempts: 3, ...timeouts(5_000) });
  return topic;
}

export function s3Client(): S3Client {
  // Path-style only where an endpoint override is configured (emulators have no bucket DNS names).
  objects ??= new S3Client({ maxAttempts: 3, ...timeouts(15_000), forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL) });
  return objects;
}

/**
 * A Bedrock Runtime client for one region. SDK retries are small and explicit (one retry of a transient error):
 * the pipeline's own policy backs off between calls and falls back, and requeueing does the long waiting.
 */
export function bedrockClient(region?: string, maxAttempts = 2): BedrockRuntimeClient {
  return new BedrockRuntimeClient({ ...(region && { region }), maxAttempts, retryMode: 'standard' });
}

/** A Bedrock Runtime client for the short calls of async invocations (StartAsyncInvoke, GetAsyncInvoke): bounded like every other AWS call. */
export function bedrockAsyncClient(region?: string): BedrockRuntimeClient {
  return new BedrockRuntimeClient({ ...(region && { region }), maxAttempts: 3, retryMode: 'standard', ...timeouts(10_000) });
}
