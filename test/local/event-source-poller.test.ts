import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { EventSourcePoller, type PollerOptions, type SqsEventSourceMapping } from '../../local/event-source-poller';
import type { InvocationResult } from '../../local/function-host';

/**
 * The poller against an in-memory queue and a function whose invocations end when the test says so: what it
 * receives, when, and what it hands out, without an emulator or a worker thread.
 */

interface Receive {
  maxMessages: number;
  waitSeconds: number;
}

class FakeQueue {
  readonly messages: Message[] = [];
  readonly receives: Receive[] = [];
  readonly deletes: string[][] = [];
  receiving = 0;
  mostReceivingAtOnce = 0;
  /** Deletes wait for this before answering, when set. */
  deleteGate?: Promise<void>;
  private waiters: Array<() => void> = [];

  add(...bodies: string[]): void {
    for (const body of bodies) {
      const id = `m-${this.messages.length + this.deletes.flat().length}-${body}`;
      this.messages.push({ MessageId: id, ReceiptHandle: `rh-${id}`, Body: body, Attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) } });
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  readonly client: PollerOptions['sqs'] = {
    send: (async (command: unknown, options?: { abortSignal?: AbortSignal }) => {
      if (command instanceof ReceiveMessageCommand) {
        const { MaxNumberOfMessages = 1, WaitTimeSeconds = 0 } = command.input;
        this.receives.push({ maxMessages: MaxNumberOfMessages, waitSeconds: WaitTimeSeconds });
        this.receiving++;
        this.mostReceivingAtOnce = Math.max(this.mostReceivingAtOnce, this.receiving);
        try {
          if (this.messages.length === 0 && WaitTimeSeconds > 0) {
            await new Promise<void>((resolve, reject) => {
              const timer = setTimeout(resolve, WaitTimeSeconds * 1000);
              this.waiters.push(() => (clearTimeout(timer), resolve()));
              options?.abortSignal?.addEventListener('abort', () => (clearTimeout(timer), reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
            });
          }
          return { Messages: this.messages.splice(0, MaxNumberOfMessages) };
        } finally {
          this.receiving--;
        }
      }
      if (command instanceof DeleteMessageBatchCommand) {
        await this.deleteGate;
        this.deletes.push((command.input.Entries ?? []).map((e) => e.ReceiptHandle ?? ''));
        return { Successful: [], Failed: [] };
      }
      throw new Error(`unexpected command ${(command as object).constructor.name}`);
    }) as PollerOptions['sqs']['send'],
  };
}

/** A function whose invocations stay in flight until `finish` ends them. */
class HeldFunction {
  readonly name = 'Worker';
  readonly started: Array<{ bodies: string[]; at: number; receivesBefore: number; finish: (result?: unknown) => void }> = [];
  inFlight = 0;
  mostInFlight = 0;

  constructor(private readonly queue: FakeQueue) {}

  invoke = (event: unknown): Promise<InvocationResult> =>
    new Promise((resolve) => {
      this.inFlight++;
      this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
      const bodies = (event as SQSEvent).Records.map((r) => r.body);
      let finished = false;
      this.started.push({
        bodies,
        at: Date.now(),
        receivesBefore: this.queue.receives.length,
        finish: (value: unknown = null) => {
          if (finished) return;
          finished = true;
          this.inFlight--;
          resolve({ ok: true, value, requestId: 'r', durationMs: 1 });
        },
      });
    });
}

function mapping(overrides: Partial<SqsEventSourceMapping> = {}): SqsEventSourceMapping {
  return {
    logicalId: 'Mapping',
    queueUrl: 'http://sqs.us-east-1.localhost:1/000000000000/Work',
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:Work',
    batchSize: 10,
    maximumBatchingWindowSeconds: 0,
    reportBatchItemFailures: true,
    maximumConcurrency: 2,
    enabled: true,
    ...overrides,
  };
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

let poller: EventSourcePoller | undefined;
let held: HeldFunction | undefined;
afterEach(async () => {
  const stopping = poller?.stop();
  // stop() waits for the invocations in flight: end the ones a test left held.
  for (const s of held?.started ?? []) s.finish();
  await stopping;
  poller = undefined;
});

function startPoller(queue: FakeQueue, fn: HeldFunction, overrides: Partial<SqsEventSourceMapping> = {}): EventSourcePoller {
  held = fn;
  poller = new EventSourcePoller({ mapping: mapping(overrides), function: fn, sqs: queue.client, region: 'us-east-1', log: () => undefined, waitTimeSeconds: 20 });
  poller.start();
  return poller;
}

describe('the SQS event source poller', () => {
  it('hands out what a receive returns at once when the mapping has no batching window, without waiting for a full batch', async () => {
    const queue = new FakeQueue();
    const fn = new HeldFunction(queue);
    queue.add('a', 'b', 'c');
    startPoller(queue, fn);

    const first = await until('the first invocation', () => fn.started[0]);
    expect(first.bodies).toEqual(['a', 'b', 'c']);
    expect(first.receivesBefore).toBe(1);
  });

  it('hands a message that arrives during a long poll to the function as soon as it arrives', async () => {
    const queue = new FakeQueue();
    const fn = new HeldFunction(queue);
    startPoller(queue, fn);
    await until('a long poll', () => queue.receiving === 1);

    queue.add('late');
    // `until` gives up long before the 20 s long poll would end: the receive came back with the message.
    const first = await until('the invocation', () => fn.started[0]);
    expect(first.bodies).toEqual(['late']);
    expect(first.receivesBefore).toBe(1);
  });

  it('keeps up to MaximumConcurrency invocations in flight from one long poll at a time, and receives nothing while no slot is free', async () => {
    const queue = new FakeQueue();
    const fn = new HeldFunction(queue);
    queue.add(...Array.from({ length: 12 }, (_, i) => `m${i}`));
    startPoller(queue, fn, { batchSize: 2, maximumConcurrency: 3 });

    await until('three invocations', () => fn.started.length === 3);
    await settle();
    expect(fn.started.map((s) => s.bodies)).toEqual([['m0', 'm1'], ['m2', 'm3'], ['m4', 'm5']]);
    expect(queue.receives).toHaveLength(3);
    expect(queue.receives.every((r) => r.maxMessages === 2)).toBe(true);
    expect(queue.messages).toHaveLength(6);

    fn.started[1].finish();
    await until('the next invocation', () => fn.started.length === 4);
    await settle();
    expect(fn.started[3].bodies).toEqual(['m6', 'm7']);
    expect(queue.receives).toHaveLength(4);
    expect(fn.mostInFlight).toBe(3);
    expect(queue.mostReceivingAtOnce).toBe(1);
  });

  it('frees the invocation slot when the invocation ends, before its records are deleted', async () => {
    const queue = new FakeQueue();
    const fn = new HeldFunction(queue);
    let openDeletes!: () => void;
    queue.deleteGate = new Promise<void>((resolve) => (openDeletes = resolve));
    queue.add('one', 'two');
    startPoller(queue, fn, { batchSize: 1, maximumConcurrency: 1 });

    (await until('the first invocation', () => fn.started[0])).finish();
    const second = await until('the second invocation', () => fn.started[1]);
    expect(second.bodies).toEqual(['two']);
    expect(queue.deletes).toHaveLength(0);

    openDeletes();
    second.finish();
    await until('both deletes', () => queue.deletes.length === 2);
    expect(queue.deletes.flat()).toEqual([expect.stringContaining('one'), expect.stringContaining('two')]);
  });

  it('deletes all but the records the function reports as failed', async () => {
    const queue = new FakeQueue();
    const fn = new HeldFunction(queue);
    queue.add('ok', 'bad');
    startPoller(queue, fn);

    const batch = await until('the invocation', () => fn.started[0]);
    const bad = `m-1-bad`;
    batch.finish({ batchItemFailures: [{ itemIdentifier: bad }] });
    await until('the delete', () => queue.deletes.length === 1);
    expect(queue.deletes[0]).toEqual(['rh-m-0-ok']);
  });

  it('counts what it received and handed out', async () => {
    const queue = new FakeQueue();
    const fn = new HeldFunction(queue);
    queue.add('x', 'y', 'z');
    const running = startPoller(queue, fn, { batchSize: 2 });

    await until('two invocations', () => fn.started.length === 2);
    for (const s of fn.started) s.finish();
    await until('the deletes', () => queue.deletes.length === 2);
    expect(running.stats()).toMatchObject({ receives: expect.any(Number), batches: 2, records: 3, peakInFlight: 2 });
    expect(running.stats().queueWaitMs).toBeGreaterThanOrEqual(0);
  });
});
