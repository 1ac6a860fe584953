import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime';

/**
 * Goodput under a quota: a burst of jobs (at least 10x the per-minute quota) submitted at once to a model whose
 * simulated Bedrock quota is `rpm` requests and `tpm` tokens per minute. Two configurations run in the same process,
 * one after the other, each on a fresh local runtime:
 * - quarry: admission control paces calls into the quota (the model's `quota` configured), jobs wait on the queue;
 * - baseline: no admission, one SDK-retried call per delivery, SQS redelivery after the visibility timeout and the
 *   DLQ after maxReceiveCount (the usual serverless setup).
 * Jobs are counted from their SNS events (one per terminal job), so polling adds no load.
 */

export const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

export interface GoodputOptions {
  rpm: number;
  tpm: number;
  jobs: number;
  maxTokens: number;
  modelLatencyMs: number;
  /** Give up waiting for a configuration after this many times the ideal makespan. */
  patience: number;
}

export interface GoodputRow {
  configuration: 'quarry' | 'baseline';
  jobs: number;
  succeeded: number;
  failed: number;
  deadLettered: number;
  lost: number;
  duplicated: number;
  modelCalls: number;
  throttledCalls: number;
  throttledShare: number;
  makespanSeconds: number;
  idealSeconds: number;
  /** Achieved job rate / quota rate (1 = the quota used perfectly). */
  rateOfIdeal: number;
}

export function configFor(kind: GoodputRow['configuration'], o: Pick<GoodputOptions, 'rpm' | 'tpm'>): Record<string, unknown> {
  const common = {
    routes: { classify: { model: 'claude-haiku', path: '/api/classify' } },
    defaultRoute: 'classify',
    plans: { default: { rateLimit: 5_000, burstLimit: 5_000 } },
    worker: { timeoutSeconds: 10, batchSize: 10, maxConcurrency: 10, maxReceiveCount: 5, assumedOutputTokensPerSecond: 10_000 },
  };
  if (kind === 'quarry') {
    return { ...common, models: { 'claude-haiku': { modelId: MODEL, quota: { requestsPerMinute: o.rpm, tokensPerMinute: o.tpm } } } };
  }
  return {
    ...common,
    models: { 'claude-haiku': { modelId: MODEL } },
    resilience: { retry: { attemptsPerModel: 1, baseDelayMs: 0, maxDelayMs: 0 }, requeue: { mode: 'redeliver' }, sdkMaxAttempts: 3, maxModelCalls: 1000 },
  };
}

export async function sim(runtime: LocalRuntime, method: string, path: string, body?: unknown) {
  const res = await fetch(`${runtime.bedrockUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return res.json() as Promise<{ models?: Record<string, { requests: number; ok: number; throttled: number }> }>;
}

async function runConfiguration(kind: GoodputRow['configuration'], o: GoodputOptions, log: (line: string) => void): Promise<GoodputRow> {
  const runtime = await startLocalRuntime({ port: 0, quiet: true, config: configFor(kind, o) });
  try {
    await sim(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODEL)}`, { quota: { rpm: o.rpm, tpm: o.tpm }, latencyMs: { firstToken: o.modelLatencyMs, perToken: 0 } });
    const { sqs, sns } = runtime.clients;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `goodput-${kind}` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn: runtime.resources.topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn, Attributes: { RawMessageDelivery: 'true' } }));

    const headers = { 'content-type': 'application/json', 'x-api-key': runtime.apiKey ?? '' };
    const started = Date.now();
    const submitted = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < o.jobs) {
          const i = next++;
          const res = await fetch(`${runtime.apiUrl}/api/classify`, { method: 'POST', headers, body: JSON.stringify({ prompt: `Classify message ${i}: is it spam?`, inferenceConfig: { maxTokens: o.maxTokens } }) });
          if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
          submitted.add(((await res.json()) as { jobId: string }).jobId);
        }
      }),
    );
    log(`${kind}: ${submitted.size} jobs submitted in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const events = new Map<string, { type: string; code?: string; count: number }>();
    let lastEventAt = started;
    const idealSeconds = (o.jobs / o.rpm) * 60;
    const deadline = started + Math.max(idealSeconds * o.patience, 120) * 1000;
    let lastReport = Date.now();
    while (events.size < submitted.size && Date.now() < deadline) {
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      for (const m of Messages ?? []) {
        const body = JSON.parse(m.Body!) as { jobId: string; type: string; error?: { code: string } };
        const seen = events.get(body.jobId);
        events.set(body.jobId, { type: body.type, code: body.error?.code, count: (seen?.count ?? 0) + 1 });
        lastEventAt = Date.now();
      }
      if (Messages?.length) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        log(`${kind}: ${events.size}/${submitted.size} finished after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }

    const stats = (await sim(runtime, 'GET', '/_sim/stats')).models?.[MODEL] ?? { requests: 0, throttled: 0 };
    const values = [...events.values()];
    const makespanSeconds = (lastEventAt - started) / 1000;
    const succeeded = values.filter((e) => e.type === 'job.succeeded').length;
    return {
      configuration: kind,
      jobs: submitted.size,
      succeeded,
      failed: values.filter((e) => e.type === 'job.failed').length,
      deadLettered: values.filter((e) => e.code === 'DEAD_LETTERED').length,
      lost: submitted.size - events.size,
      duplicated: values.filter((e) => e.count > 1).length,
      modelCalls: stats.requests,
      throttledCalls: stats.throttled,
      throttledShare: stats.requests ? stats.throttled / stats.requests : 0,
      makespanSeconds,
      idealSeconds,
      rateOfIdeal: succeeded === submitted.size ? idealSeconds / makespanSeconds : (succeeded / o.jobs) * (idealSeconds / makespanSeconds),
    };
  } finally {
    await runtime.stop();
  }
}

export async function goodputBenchmark(o: GoodputOptions, log: (line: string) => void = console.log) {
  const quarry = await runConfiguration('quarry', o, log);
  log(`quarry row: ${JSON.stringify(quarry)}`);
  const baseline = await runConfiguration('baseline', o, log);
  log(`baseline row: ${JSON.stringify(baseline)}`);
  const ratio = {
    rateOfIdeal: baseline.rateOfIdeal ? quarry.rateOfIdeal / baseline.rateOfIdeal : null,
    throttledShare: quarry.throttledShare ? baseline.throttledShare / quarry.throttledShare : null,
    makespan: baseline.makespanSeconds / quarry.makespanSeconds,
  };
  const fmt = (r: GoodputRow) =>
    `${r.configuration.padEnd(8)} jobs ${r.jobs}  ok ${r.succeeded}  failed ${r.failed}  dlq ${r.deadLettered}  lost ${r.lost}  dup ${r.duplicated}  ` +
    `calls ${r.modelCalls}  throttled ${(r.throttledShare * 100).toFixed(1)}%  makespan ${r.makespanSeconds.toFixed(0)} s (ideal ${r.idealSeconds.toFixed(0)} s)  rate ${r.rateOfIdeal.toFixed(2)} of ideal`;
  log(fmt(quarry));
  log(fmt(baseline));
  const summary = `goodput: quarry ${quarry.rateOfIdeal.toFixed(2)} of ideal, ${(quarry.throttledShare * 100).toFixed(1)}% throttled, ${quarry.failed} failed, ${quarry.deadLettered} dlq, ${quarry.duplicated} dup | baseline ${baseline.rateOfIdeal.toFixed(2)} of ideal, ${(baseline.throttledShare * 100).toFixed(1)}% throttled, ${baseline.failed} failed, ${baseline.deadLettered} dlq | makespan ratio baseline/quarry ${ratio.makespan.toFixed(2)}`;
  return { name: 'goodput', options: o, rows: [quarry, baseline], ratio, summary };
}
