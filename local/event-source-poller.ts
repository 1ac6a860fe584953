import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { displayName, type FunctionHost, type InvocationResult } from './function-host';
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

const BACKLOG_RECHECK_MS = 20;

/** Lambda starts this many concurrent batches when the mapping sets no MaximumConcurrency (it scales further on AWS). */
export const DEFAULT_POLLER_CONCURRENCY = 5;

export interface PollerOptions {
  mapping: SqsEventSourceMapping;
  function: Pick<FunctionHost, 'name' | 'invoke'> & Partial<Pick<FunctionHost, 'hasRoom'>>;
  sqs: Pick<SQSClient, 'send'>;
  region: string;
  log: Log;
  /** Long-poll wait per ReceiveMessage (s). @default 20 */
  waitTimeSeconds?: number;
}

/** What a poller did since start: the figures benchmarks break the queue's share of the time down by. */
export interface PollerStats {
  receives: number;
  /** Receives that came back empty (long polls that timed out). */
  emptyReceives: number;
  batches: number;
  records: number;
  /** Sum over records of the time from when SQS first sent them (SentTimestamp) to their delivery to the function. */
  queueWaitMs: number;
  /** Sum over batches of the time spent gathering them (first receive to hand-out) and waiting for a free slot. */
  gatherMs: number;
  slotWaitMs: number;
  /** Sum over batches of the invocation's time, as the poller saw it. */
  invokeMs: number;
  deleteMs: number;
  peakInFlight: number;
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
 * Runs an SQS event source mapping as Lambda's pollers do: one receive loop per mapping that long-polls the queue
 * whenever an invocation slot is free (so no message is held invisible waiting for one), gathers a batch (what one
 * receive returns when the mapping has no batching window; else up to BatchSize within
 * MaximumBatchingWindowInSeconds), hands it to the function and goes straight back to receiving, with at most
 * MaximumConcurrency invocations in flight. What succeeded is deleted after the invocation; failed records stay and
 * come back after the visibility timeout, so SQS's redrive policy moves them to the DLQ as on AWS. One long poll at a
 * time: several outstanding receives would all be woken by each new message and come back empty.
 */
export class EventSourcePoller {
  private readonly abort = new AbortController();
  private receiving: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly deleting = new Set<Promise<void>>();
  private slotFreed: (() => void) | undefined;
  private counters: PollerStats = emptyPollerStats();

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
    this.receiving = this.receiveLoop();
  }

  /** Stops receiving at once; resolves when in-flight invocations have ended (stop the function to end them now). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.slotFreed?.();
    await this.receiving;
    await Promise.allSettled([...this.inFlight, ...this.deleting]);
  }

  stats(): PollerStats {
    return { ...this.counters };
  }

  resetStats(): void {
    this.counters = emptyPollerStats();
  }

  /** The function could not start another invocation soon: a batch received now would only wait in its host. */
  private functionBacklogged(): boolean {
    return this.options.function.hasRoom?.() === false;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async receiveLoop(): Promise<void> {
    const { maximumConcurrency } = this.options.mapping;
    while (!this.stopped) {
      try {
        const slotWaitStarted = Date.now();
        while ((this.inFlight.size >= maximumConcurrency || this.functionBacklogged()) && !this.stopped) {
          await new Promise<void>((resolve) => {
            this.slotFreed = resolve;
            // The function's backlog drains as any of its invocations ends, not only this poller's.
            if (this.inFlight.size < maximumConcurrency) setTimeout(resolve, BACKLOG_RECHECK_MS);
          });
        }
        if (this.stopped) return;
        const slotWaitMs = Date.now() - slotWaitStarted;
        const { messages, gatherMs } = await this.gatherBatch();
        if (messages.length === 0 || this.stopped) continue;
        this.counters.slotWaitMs += slotWaitMs;
        this.counters.gatherMs += gatherMs;
        const delivery = this.deliver(messages)
          .catch((error: Error) => {
            if (!this.stopped) this.options.log(`${this.label}: ${error.message}`);
          })
          .finally(() => {
            this.inFlight.delete(delivery);
            this.slotFreed?.();
          });
        this.inFlight.add(delivery);
        this.counters.peakInFlight = Math.max(this.counters.peakInFlight, this.inFlight.size);
      } catch (error) {
        if (this.stopped) return;
        this.options.log(`${this.label}: ${(error as Error).message}; retrying in 1 s`);
        await sleep(1000, this.abort.signal);
      }
    }
  }

  private async gatherBatch(): Promise<{ messages: Message[]; gatherMs: number }> {
    const { mapping, sqs } = this.options;
    const batch: Message[] = [];
    const windowMs = mapping.maximumBatchingWindowSeconds * 1000;
    let firstAt: number | undefined;
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
      this.counters.receives++;
      const messages = received.Messages ?? [];
      if (messages.length === 0) this.counters.emptyReceives++;
      batch.push(...messages);
      if (batch.length === 0) continue;
      firstAt ??= Date.now();
      if (windowMs === 0) break;
      windowEnds ??= Date.now() + windowMs;
    }
    return { messages: batch, gatherMs: firstAt === undefined ? 0 : Date.now() - firstAt };
  }

  /** Invokes the function with one batch; resolves when the invocation has ended (its records are deleted after, apart). */
  private async deliver(messages: Message[]): Promise<void> {
    const { mapping, region } = this.options;
    const records = messages.map((m) => toSqsRecord(m, mapping.queueArn, region));
    const handedOut = Date.now();
    this.counters.batches++;
    this.counters.records += records.length;
    for (const record of records) {
      const sent = Number(record.attributes.SentTimestamp);
      if (sent > 0) this.counters.queueWaitMs += Math.max(0, handedOut - sent);
    }
    const event: SQSEvent = { Records: records };
    const outcome = await this.options.function.invoke(event);
    this.counters.invokeMs += Date.now() - handedOut;
    const toDelete = recordsToDelete(records, outcome, mapping.reportBatchItemFailures);
    const settling = this.settle(records, toDelete, outcome).finally(() => this.deleting.delete(settling));
    this.deleting.add(settling);
  }

  /** Deletes what succeeded and says what became of the batch. */
  private async settle(records: SQSRecord[], toDelete: SQSRecord[], outcome: InvocationResult): Promise<void> {
    const { mapping, sqs, log } = this.options;
    if (toDelete.length > 0) {
      const deleting = Date.now();
      try {
        const deleted = await sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: mapping.queueUrl, Entries: toDelete.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }),
        );
        for (const failure of deleted.Failed ?? []) log(`${this.label}: could not delete a record: ${failure.Message}`);
      } catch (error) {
        log(`${this.label}: could not delete ${toDelete.length} record${toDelete.length === 1 ? '' : 's'}: ${(error as Error).message}`);
      }
      this.counters.deleteMs += Date.now() - deleting;
    }
    const failed = records.length - toDelete.length;
    const summary = outcome.ok ? (failed ? `${failed} failed, left on the queue` : 'all succeeded') : `invocation failed (${outcome.error.errorType}: ${outcome.error.errorMessage.split('\n')[0]}); all left on the queue`;
    log(`${this.label}: delivered ${records.length} record${records.length === 1 ? '' : 's'} in ${outcome.durationMs}ms: ${summary}`);
  }
}

function emptyPollerStats(): PollerStats {
  return { receives: 0, emptyReceives: 0, batches: 0, records: 0, queueWaitMs: 0, gatherMs: 0, slotWaitMs: 0, invokeMs: 0, deleteMs: 0, peakInFlight: 0 };
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
