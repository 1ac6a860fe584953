import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { displayName, type FunctionHost } from './function-host';
import type { Log } from './topology';

/** An AWS::Lambda::EventSourceMapping on an SQS queue, as the template configures it. */
export interface SqsEventSourceMapping {
  logicalId: string;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  /** ScalingConfig.MaximumConcurrency: most concurrent invocations. */
  maximumConcurrency: number;
  enabled: boolean;
}

/** Lambda starts this many concurrent batches when the mapping sets no MaximumConcurrency (it scales further on AWS). */
export const DEFAULT_POLLER_CONCURRENCY = 5;

export interface PollerOptions {
  mapping: SqsEventSourceMapping;
  function: FunctionHost;
  sqs: SQSClient;
  region: string;
  log: Log;
  /** Long-poll wait per ReceiveMessage (s). @default 20 */
  waitTimeSeconds?: number;
}

export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = (message.Attributes ?? {}) as unknown as SQSRecord['attributes'];
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      stringValue: value.StringValue,
      binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : undefined,
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      dataType: value.DataType ?? 'String',
    };
  }
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  } as SQSRecord;
}

/**
 * Decides which records of a delivered batch to delete, as Lambda's SQS event source does: all of them on success;
 * with ReportBatchItemFailures, all but the reported ones (an unknown or empty identifier fails the whole batch);
 * none when the invocation failed or timed out.
 */
export function recordsToDelete(records: SQSRecord[], outcome: { ok: boolean; value?: unknown }, reportBatchItemFailures: boolean): SQSRecord[] {
  if (!outcome.ok) return [];
  if (!reportBatchItemFailures) return records;
  const response = outcome.value as { batchItemFailures?: Array<{ itemIdentifier?: unknown }> } | null | undefined;
  const failures = response?.batchItemFailures;
  if (failures === undefined || failures === null) return records;
  if (!Array.isArray(failures)) return [];
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = failure?.itemIdentifier;
    if (typeof id !== 'string' || !id || !records.some((r) => r.messageId === id)) return [];
    failed.add(id);
  }
  return records.filter((r) => !failed.has(r.messageId));
}

/**
 * Runs an SQS event source mapping: long-polls the queue, gathers batches (BatchSize within
 * MaximumBatchingWindowInSeconds), invokes the function with an SQSEvent with at most MaximumConcurrency
 * invocations in flight, and deletes what succeeded. Failed records stay and come back after the visibility
 * timeout, so SQS's redrive policy moves them to the DLQ as on AWS.
 */
export class EventSourcePoller {
  private readonly abort = new AbortController();
  private lanes: Promise<void>[] = [];

  private readonly label: string;

  constructor(private readonly options: PollerOptions) {
    const queueName = options.mapping.queueUrl.split('/').pop() ?? options.mapping.logicalId;
    this.label = `poller ${displayName(queueName)} -> ${displayName(options.function.name)}`;
  }

  start(): void {
    const { mapping } = this.options;
    if (!mapping.enabled) {
      this.options.log(`${this.label}: disabled in the template; not polling`);
      return;
    }
    this.lanes = Array.from({ length: mapping.maximumConcurrency }, () => this.lane());
  }

  /** Stops receiving at once; resolves when in-flight invocations have ended (stop the function to end them now). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.lanes);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  // One lane holds at most one invocation, so the number of lanes is the mapping's maximum concurrency.
  private async lane(): Promise<void> {
    while (!this.stopped) {
      try {
        const batch = await this.gatherBatch();
        if (batch.length > 0 && !this.stopped) await this.deliver(batch);
      } catch (error) {
        if (this.stopped) return;
        this.options.log(`${this.label}: ${(error as Error).message}; retrying in 1 s`);
        await sleep(1000, this.abort.signal);
      }
    }
  }

  private async gatherBatch(): Promise<Message[]> {
    const { mapping, sqs } = this.options;
    const batch: Message[] = [];
    const windowMs = mapping.maximumBatchingWindowSeconds * 1000;
    let windowEnds: number | undefined;
    while (!this.stopped && batch.length < mapping.batchSize) {
      const remainingWindow = windowEnds === undefined ? undefined : windowEnds - Date.now();
      if (remainingWindow !== undefined && remainingWindow <= 0) break;
      const wait = remainingWindow === undefined ? (this.options.waitTimeSeconds ?? 20) : Math.min(20, Math.ceil(remainingWindow / 1000));
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: mapping.queueUrl,
          MaxNumberOfMessages: Math.min(10, mapping.batchSize - batch.length),
          WaitTimeSeconds: wait,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: this.abort.signal },
      );
      batch.push(...(received.Messages ?? []));
      if (batch.length === 0) continue;
      if (windowMs === 0) break;
      windowEnds ??= Date.now() + windowMs;
    }
    return batch;
  }

  private async deliver(messages: Message[]): Promise<void> {
    const { mapping, sqs, region, log } = this.options;
    const fn = this.options.function;
    const records = messages.map((m) => toSqsRecord(m, mapping.queueArn, region));
    const event: SQSEvent = { Records: records };
    const outcome = await fn.invoke(event);
    const toDelete = recordsToDelete(records, outcome, mapping.reportBatchItemFailures);
    if (toDelete.length > 0) {
      const deleted = await sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: mapping.queueUrl, Entries: toDelete.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }),
      );
      for (const failure of deleted.Failed ?? []) log(`${this.label}: could not delete a record: ${failure.Message}`);
    }
    const failed = records.length - toDelete.length;
    const summary = outcome.ok ? (failed ? `${failed} failed, left on the queue` : 'all succeeded') : `invocation failed (${outcome.error.errorType}: ${outcome.error.errorMessage.split('\n')[0]}); all left on the queue`;
    log(`${this.label}: delivered ${records.length} record${records.length === 1 ? '' : 's'} in ${outcome.durationMs}ms: ${summary}`);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
