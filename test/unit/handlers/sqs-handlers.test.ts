import { BedrockRuntimeClient, ConverseCommand, ThrottlingException } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
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
  createdAt: new Date().toISOString(),
  updatedAt: 'u',
  request: { messages: [{ role: 'user', content: [{ text: 'q' }] }] },
  requestHash: 'h',
  attempts: [],
  leaseOwner: 'o',
  leaseExpiresAt: Date.now() + 60_000,
  expiresAt: 9_999_999_999,
});

describe('the worker handler', () => {
  const converseOk = { output: { message: { role: 'assistant' as const, content: [{ text: 'ok' }] } }, stopReason: 'end_turn' as const, usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, metrics: { latencyMs: 1 } };

  beforeEach(() => {
    dynamo.on(UpdateCommand).callsFake((input) => {
      const status = input.UpdateExpression.includes(':succeeded') ? 'SUCCEEDED' : input.UpdateExpression.includes(':queued, updatedAt') ? 'QUEUED' : 'RUNNING';
      return { Attributes: { ...running(input.Key.pk.slice(4)), status } };
    });
    // A job's request item (INPUT#): what the worker reads when the message does not carry the request.
    dynamo.on(GetCommand).callsFake((input) => {
      if (!String(input.Key.pk).startsWith('INPUT#')) return {};
      const text = input.Key.pk === 'INPUT#b' ? 'throttle me' : 'q';
      return { Item: { pk: input.Key.pk, request: { messages: [{ role: 'user', content: [{ text }] }] } } };
    });
    sns.on(PublishCommand).resolves({});
    sns.on(PublishCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({});
  });

  it('answers one job and requeues the other, whose models are all throttled, as a new delayed message', async () => {
    bedrock.on(ConverseCommand).callsFake((input) => {
      if (input.messages[0].content[0].text === 'throttle me') throw new ThrottlingException({ message: 'slow down', $metadata: {} });
      return converseOk;
    });
    dynamo.on(UpdateCommand, { Key: { pk: 'JOB#b' } }).callsFake((input) => ({
      Attributes: { ...running('b'), status: input.UpdateExpression.includes(':queued, updatedAt') ? 'QUEUED' : 'RUNNING' },
    }));
    const event: SQSEvent = { Records: [record('m1', '{"jobId":"a"}'), record('m2', '{"jobId":"b","tenant":"t1"}', '2')] };
    const response = await worker.handler(event, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(bedrock.commandCalls(ConverseCommand).map((c) => c.args[0].input.modelId).sort()).toEqual(['haiku', 'sonnet', 'sonnet']);
    expect(sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([expect.objectContaining({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs', DelaySeconds: 7 })]);
    // The new message carries the job on: its request (its only copy) and fingerprint, and when it was submitted.
    expect(JSON.parse(sqs.commandCalls(SendMessageCommand)[0].args[0].input.MessageBody!)).toEqual({
      jobId: 'b',
      tenant: 'default',
      requestHash: 'h',
      createdAt: expect.any(String),
      request: { messages: [{ role: 'user', content: [{ text: 'throttle me' }] }] },
    });
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
    const response = await worker.handler({ Records: [record('bad', 'not json', '2'), record('gone', '{"jobId":"missing"}')] }, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad' }] });
    expect(bedrock.calls()).toHaveLength(0);
    // It comes back after the second crash redelivery delay (60 s doubled), not after the whole visibility timeout.
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs', ReceiptHandle: 'rh-bad', VisibilityTimeout: 120 },
    ]);
  });

  it('reports a record whose requeue message could not be sent, so SQS delivers it again', async () => {
    bedrock.on(ConverseCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: {} }));
    sqs.on(SendMessageCommand).rejects(new Error('sqs down'));
    const response = await worker.handler({ Records: [record('m3', '{"jobId":"c"}')] }, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm3' }] });
  });
});

describe('the dead-letter handler', () => {
  it('puts a job still within its deadline back on the queue, without an event', async () => {
    dynamo.on(GetCommand).resolves({ Item: { ...running('d'), status: 'QUEUED' } });
    dynamo.on(UpdateCommand).callsFake((input) => ({ Attributes: { ...running('d'), status: 'QUEUED', deadLetters: 1, sweepAt: input.ExpressionAttributeValues[':sweepAt'] } }));
    sqs.on(SendMessageCommand).resolves({});
    const response = await deadLetter.handler({ Records: [record('m', '{"jobId":"d"}', '6')] }, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(sqs.commandCalls(SendMessageCommand).map((c) => JSON.parse(c.args[0].input.MessageBody!))).toEqual([expect.objectContaining({ jobId: 'd' })]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('marks a job dead-lettered too often FAILED with DEAD_LETTERED and publishes its event', async () => {
    dynamo.on(GetCommand).resolves({ Item: { ...running('d'), status: 'QUEUED', deadLetters: 2 } });
    dynamo.on(UpdateCommand).callsFake((input) => ({ Attributes: input.UpdateExpression.includes(':failed') ? { ...running('d'), status: 'FAILED', error: input.ExpressionAttributeValues[':error'] } : {} }));
    sns.on(PublishCommand).resolves({});
    const response = await deadLetter.handler({ Records: [record('m', '{"jobId":"d"}', '6'), record('junk', '<xml/>')] }, lambdaContext as never);
    expect(response).toEqual({ batchItemFailures: [] });
    const message = JSON.parse(sns.commandCalls(PublishCommand)[0].args[0].input.Message!);
    expect(message).toMatchObject({ type: 'job.failed', jobId: 'd', status: 'FAILED', error: { code: 'DEAD_LETTERED' } });
  });
});
