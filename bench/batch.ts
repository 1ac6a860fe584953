import { startLocalRuntime, type LocalRuntime } from '../local/runtime';
import { encodeBatchCursor } from '../lambda/core/job-listing';
import { sim } from './goodput';

/*
 * `npm run bench -- batch`: one batch of `requests` small requests (10,000 by default) on the local runtime, to a
 * model whose quota is `rpm` requests a minute (configured, so admission paces the jobs, and simulated, so Bedrock
 * would throttle above it). Reports the acceptance time of the one POST /batches call, the fan-out rate (jobs
 * queued per second, from the batch's first to its last job), the makespan against the quota's ideal
 * (requests / quota rate) and the DynamoDB and SQS requests the batch made, per job.
 */

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

export interface BatchBenchOptions {
  requests: number;
  rpm: number;
  modelLatencyMs: number;
}

async function api(runtime: LocalRuntime, method: string, path: string, body?: unknown) {
  const res = await fetch(`${runtime.apiUrl}${path}`, { method, headers: { 'content-type': 'application/json', 'x-api-key': runtime.apiKey! }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

export async function batchBenchmark(o: BatchBenchOptions): Promise<Record<string, unknown>> {
  const runtime = await startLocalRuntime({
    port: 0,
    quiet: true,
    config: {
      routes: { classify: { model: 'claude-haiku' } },
      defaultRoute: 'classify',
      plans: { default: { rateLimit: 5_000, burstLimit: 5_000 } },
      models: { 'claude-haiku': { modelId: MODEL, quota: { requestsPerMinute: o.rpm, tokensPerMinute: o.rpm * 1000 } } },
      worker: { timeoutSeconds: 10, batchSize: 10, maxConcurrency: 10, assumedOutputTokensPerSecond: 10_000 },
    },
  });
  try {
    await sim(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODEL)}`, { quota: { rpm: o.rpm, tpm: o.rpm * 1000 }, latencyMs: { firstToken: o.modelLatencyMs, perToken: 0 }, outputTokens: 8 });
    runtime.faults.resetStats();
    const requests = Array.from({ length: o.requests }, (_, i) => ({ customId: `r${i}`, prompt: `Classify record ${i}: shipping delayed`, inferenceConfig: { maxTokens: 16 } }));
    const started = Date.now();
    const accepted = await api(runtime, 'POST', '/batches', { requests });
    const acceptanceMs = Date.now() - started;
    if (accepted.status !== 202) throw new Error(`POST /batches answered ${accepted.status}: ${JSON.stringify(accepted.json)}`);
    const batchId = accepted.json.batchId as string;

    let fannedOutAt: number | undefined;
    let firstStartedAt: number | undefined;
    let view: Record<string, any> = {};
    for (;;) {
      view = (await api(runtime, 'GET', `/batches/${batchId}`)).json;
      const c = view.counts ?? {};
      const notQueued = c.running + c.succeeded + c.failed + c.cancelled;
      if (firstStartedAt === undefined && notQueued > 0) firstStartedAt = Date.now();
      if (fannedOutAt === undefined && (await jobsListed(runtime, batchId, o.requests))) fannedOutAt = Date.now();
      if (view.status === 'COMPLETED' || view.status === 'CANCELLED') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const makespanMs = Date.now() - started;
    const idealMs = (o.requests / (o.rpm / 60)) * 1000;
    const calls: Record<string, number> = {};
    for (const [service, operations] of Object.entries(runtime.faults.stats().services)) {
      for (const [operation, stats] of Object.entries(operations ?? {})) calls[`${service}:${operation}`] = (stats as { requests: number }).requests;
    }
    const perJob = Object.fromEntries(Object.entries(calls).map(([op, n]) => [op, Math.round((n / o.requests) * 1000) / 1000]));
    const fanOutSeconds = ((fannedOutAt ?? Date.now()) - started) / 1000;
    const result = {
      requests: o.requests,
      rpm: o.rpm,
      acceptanceMs,
      firstJobStartedMs: firstStartedAt === undefined ? undefined : firstStartedAt - started,
      fanOutJobsPerSecond: Math.round(o.requests / fanOutSeconds),
      makespanSeconds: Math.round(makespanMs / 100) / 10,
      idealSeconds: Math.round(idealMs / 100) / 10,
      makespanOverIdeal: Math.round((makespanMs / idealMs) * 100) / 100,
      counts: view.counts,
      status: view.status,
      callsPerJob: perJob,
    };
    const dynamo = Object.entries(perJob).filter(([op]) => op.startsWith('dynamodb')).map(([op, n]) => `${op.slice(9)} ${n}`).join(', ');
    const sqs = Object.entries(perJob).filter(([op]) => op.startsWith('sqs')).map(([op, n]) => `${op.slice(4)} ${n}`).join(', ');
    return {
      ...result,
      summary: [
        `batch of ${o.requests}: accepted in ${acceptanceMs} ms (one call), first job started after ${result.firstJobStartedMs} ms, fanned out at ${result.fanOutJobsPerSecond} jobs/s`,
        `makespan ${result.makespanSeconds} s vs ${result.idealSeconds} s ideal at ${o.rpm} rpm (${result.makespanOverIdeal}x); ${view.status} ${JSON.stringify(view.counts)}`,
        `DynamoDB requests per job: ${dynamo}`,
        `SQS requests per job: ${sqs}`,
      ].join('\n'),
    };
  } finally {
    await runtime.stop();
  }
}

/** Whether every line has become a job (the batch's last line listed). */
async function jobsListed(runtime: LocalRuntime, batchId: string, total: number): Promise<boolean> {
  const token = encodeBatchCursor('default', batchId, total - 1);
  const page = await api(runtime, 'GET', `/jobs?batchId=${batchId}&limit=1&nextToken=${token}`);
  return (page.json.jobs?.length ?? 0) > 0;
}
