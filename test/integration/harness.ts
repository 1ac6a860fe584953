import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime';

/** A default plan no test's polling reaches; tests of the limits give their own `plans`. */
const UNLIMITED_PLANS = { default: { rateLimit: 10_000, burstLimit: 5_000 } };

/** Model ids of the default configuration (lib/config.ts), as the simulator and job records show them. */
export const MODELS = {
  haiku: 'anthropic.claude-3-haiku-20240307-v1:0',
  sonnet: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
  opus: 'us.anthropic.claude-opus-4-1-20250805-v1:0',
  novaMicro: 'amazon.nova-micro-v1:0',
} as const;

/** The whole pipeline on the local runtime, driven over HTTP like a client would. */
export async function startPipeline(config: Record<string, unknown>, options: Omit<LocalRuntimeOptions, 'config'> = {}): Promise<LocalRuntime> {
  // The simulator answers as fast as it is told to, so the worker-timeout check may assume a fast model.
  const worker = { assumedOutputTokensPerSecond: 10_000, ...(config.worker as object | undefined) };
  return startLocalRuntime({ port: 0, quiet: true, ...options, config: { plans: UNLIMITED_PLANS, ...config, worker } });
}

/**
 * One API call as the default tenant (`x-api-key: runtime.apiKey`); give another `x-api-key` to act as another
 * tenant, or `'x-api-key': undefined` to send none.
 */
export async function http(runtime: LocalRuntime, method: string, path: string, body?: unknown, headers: Record<string, string | undefined> = {}) {
  const merged = { ...(runtime.apiKey && { 'x-api-key': runtime.apiKey }), ...(body !== undefined && { 'Content-Type': 'application/json' }), ...headers };
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined)),
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
   
  return { status: response.status, headers: response.headers, json: json as any, text };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Polls GET /jobs/{id} as a client would, until the job is terminal. */
export async function finished(runtime: LocalRuntime, jobId: string, timeoutMs = 30_000, everyMs = 100) {
  return until(`job ${jobId} to finish`, async () => {
    const res = await http(runtime, 'GET', `/jobs/${jobId}`);
    return TERMINAL.has(res.json?.status) ? res : undefined;
  }, timeoutMs, everyMs);
}

/** A queue of the test's own, subscribed to the events topic the way a user's system would be. */
export async function subscribeQueue(runtime: LocalRuntime, name: string) {
  const { QueueUrl } = await runtime.clients.sqs.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes } = await runtime.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await runtime.clients.sns.send(
    new SubscribeCommand({ TopicArn: runtime.resources.topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn, Attributes: { RawMessageDelivery: 'true' } }),
  );
  const received: Message[] = [];
  return {
    queueUrl: QueueUrl!,
    /** Everything delivered so far (drains the queue into `received`). */
    async drain(): Promise<Message[]> {
      for (;;) {
        const { Messages } = await runtime.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'], VisibilityTimeout: 3600 }));
        if (!Messages?.length) return received;
        received.push(...Messages);
      }
    },
    async eventsFor(jobId: string) {
      const all = await this.drain();
      return all.map((m) => ({ body: JSON.parse(m.Body!), attributes: m.MessageAttributes })).filter((e) => e.body.jobId === jobId);
    },
    /** The events received for `jobId`, once there is at least one. */
    async arrivedFor(jobId: string, timeoutMs = 30_000) {
      return until(`the event of ${jobId}`, async () => {
        const found = await this.eventsFor(jobId);
        return found.length ? found : undefined;
      }, timeoutMs);
    },
  };
}

export async function simulator(runtime: LocalRuntime, method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.bedrockUrl}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw new Error(`simulator ${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Requests the simulator has seen for a model id. */
export async function modelRequests(runtime: LocalRuntime, modelId: string): Promise<number> {
  const stats = (await simulator(runtime, 'GET', '/_sim/stats')) as { models: Record<string, { requests: number }> };
  return stats.models[modelId]?.requests ?? 0;
}

/** Waits until a queue holds no message, visible or in flight. */
export async function queueDrained(runtime: LocalRuntime, queueUrl: string) {
  await until(`queue ${queueUrl} to drain`, async () => {
    const { Attributes } = await runtime.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(Attributes?.ApproximateNumberOfMessages) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible) === 0 ? true : undefined;
  });
}

/** Messages in the stack's dead-letter queue, visible or in flight. */
export async function dlqDepth(runtime: LocalRuntime): Promise<number> {
  const { Attributes } = await runtime.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: runtime.resources.deadLetterQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible);
}
