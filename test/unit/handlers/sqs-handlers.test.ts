import { BedrockRuntimeClient, ConverseCommand, ThrottlingException } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { lambdaContext, setFunctionEnvironment } from './env';

setFunctionEnvironment();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const worker = require('../../../lambda/handlers/worker') as typeof import('../../../lambda/handlers/worker');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const deadLetter = require('../../../lambda/handlers/dead-letter') as typeof import('../../../lambda/handlers/dead-letter');

const dynamo = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const sns = mockClient(SNSClient);
const bedrock = mockClient(BedrockRuntimeClient);
beforeEach(() => [dynamo, sqs, sns, bedrock].forEach((m) => m.reset()));

const record = (messageId: string, body: string, receiveCount = '1'): SQSRecord => ({
  messageId,
  receiptHandle: `rh-${messageId}`,
  body,
  attributes: { ApproximateReceiveCount: receiveCount, SentTimestamp: '0', SenderId: 's', ApproximateFirstReceiveTimestamp: '0' },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:jobs',
  awsRegion: 'us-east-1',
});

const running = (jobId: string) => ({
  pk: `JOB#${jobId}`,
  jobId,
  status: 'RUNNING',
  tenant: 'default',
  route: 'generate',
  modelId: 'sonnet',
  createdAt: 'c',
  updatedAt: 'u',
  request: { messages: [{ role: 'user', content: [{ text: 'q' }] }] },
  requestHash: 'h',
  attempts: [],
  leaseOwner: 'o',
  leaseExpiresAt: Date.now() + 60_000,
  expiresAt: 9_999_999_999,
});

describe('the worker handler', () => {
  it('reports only the failed records of a batch, and brings a throttled job back after the retry delay', async () => {
    dynamo.on(UpdateCommand).callsFake((input) => ({ Attributes: { ...running(input.Key.pk.slice(4)), status: input.UpdateExpression.includes(':succeeded') ? 'SUCCEEDED' : 'RUNNING' } }));
    bedrock
      .on(ConverseCommand, { modelId: 'sonnet' })
      .resolvesOnce({ output: { message: { role: 'assistant', content: [{ text: 'ok' }] } }, stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, metrics: { latencyMs: 1 } })
      .rejectsOnce(new ThrottlingException({ message: 'slow down', $metadata: {} }));
    sns.on(PublishCommand).resolves({});
    const event: SQSEvent = { Records: [record('m1', '{"jobId":"a"}'), record('m2', '{"jobId":"b"}', '2')] };
    const response = await worker.handler(event, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs', ReceiptHandle: 'rh-m2', VisibilityTimeout: 20 },
    ]);
    const published = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published).toHaveLength(1);
    expect(published[0].MessageAttributes).toEqual({
      status: { DataType: 'String', StringValue: 'SUCCEEDED' },
      route: { DataType: 'String', StringValue: 'generate' },
      tenant: { DataType: 'String', StringValue: 'default' },
    });
  });

  it('fails a record whose body is not a job message, leaving the others alone', async () => {
    dynamo.on(UpdateCommand).resolves({});
    dynamo.on(GetCommand).resolves({});
    const response = await worker.handler({ Records: [record('bad', 'not json'), record('gone', '{"jobId":"missing"}')] }, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad' }] });
    expect(bedrock.calls()).toHaveLength(0);
  });
});

describe('the dead-letter handler', () => {
  it('marks the job FAILED with DEAD_LETTERED and publishes its event', async () => {
    dynamo.on(GetCommand).resolves({ Item: { ...running('d'), status: 'QUEUED' } });
    dynamo.on(UpdateCommand).callsFake((input) => ({ Attributes: input.UpdateExpression.includes(':failed') ? { ...running('d'), status: 'FAILED', error: input.ExpressionAttributeValues[':error'] } : {} }));
    sns.on(PublishCommand).resolves({});
    const response = await deadLetter.handler({ Records: [record('m', '{"jobId":"d"}', '6'), record('junk', '<xml/>')] }, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [] });
    const message = JSON.parse(sns.commandCalls(PublishCommand)[0].args[0].input.Message!);
    expect(message).toMatchObject({ type: 'job.failed', jobId: 'd', status: 'FAILED', error: { code: 'DEAD_LETTERED' } });
  });
});
