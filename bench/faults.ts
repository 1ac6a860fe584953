import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime';

/**
 * Fault runs on the local runtime: the same batch of jobs under each fault the simulator can inject, reporting
 * what a user would ask of the resilience layers: how many jobs succeeded, failed or were dead-lettered, how many
 * model calls were retried, how many jobs fell back to another model or were served from the cache.
 */

const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

interface Scenario {
  name: string;
  faults: Record<string, Record<string, number>>;
}

const SCENARIOS: Scenario[] = [
  { name: 'throttle 30% on the primary', faults: { [SONNET]: { throttle: 0.3 } } },
  { name: 'primary unavailable', faults: { [SONNET]: { unavailable: 1 } } },
  { name: 'internal errors 20% on both models', faults: { [SONNET]: { internal: 0.2 }, [HAIKU]: { internal: 0.2 } } },
  { name: 'every model down', faults: { [SONNET]: { unavailable: 1 }, [HAIKU]: { unavailable: 1 } } },
];

interface Job {
  status: string;
  attempts: { modelId: string; outcome: string; errorCode?: string }[];
  result?: { modelId: string; servedFrom?: string };
  error?: { code: string };
}

async function runScenario(scenario: Scenario, jobs: number): Promise<Record<string, unknown>> {
  const runtime = await startLocalRuntime({
    port: 0,
    quiet: true,
    config: {
      plans: { default: { rateLimit: 5_000, burstLimit: 5_000 } },
      worker: { timeoutSeconds: 15, batchSize: 5, maxConcurrency: 6, maxReceiveCount: 3, assumedOutputTokensPerSecond: 10_000 },
      resilience: { requeue: { baseDelaySeconds: 1, maxDelaySeconds: 4 }, maxModelCalls: 8, jobDeadlineSeconds: 120 },
    },
  });
  try {
    for (const [modelId, faults] of Object.entries(scenario.faults)) {
      await fetch(`${runtime.bedrockUrl}/_sim/models/${encodeURIComponent(modelId)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults }) });
    }
    const headers = { 'content-type': 'application/json', 'x-api-key': runtime.apiKey ?? '' };
    const ids = await Promise.all(
      Array.from({ length: jobs }, async (_, i) => {
        const res = await fetch(`${runtime.apiUrl}/jobs`, { method: 'POST', headers, body: JSON.stringify({ prompt: `fault run job ${i}` }) });
        return ((await res.json()) as { jobId: string }).jobId;
      }),
    );
    const done = new Map<string, Job>();
    const deadline = Date.now() + 180_000;
    while (done.size < ids.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1_000));
      for (const id of ids.filter((i) => !done.has(i))) {
        const job = (await (await fetch(`${runtime.apiUrl}/jobs/${id}`, { headers })).json()) as Job;
        if (job.status === 'SUCCEEDED' || job.status === 'FAILED') done.set(id, job);
      }
    }
    const all = [...done.values()];
    const calls = all.flatMap((j) => j.attempts.filter((a) => a.outcome !== 'skipped'));
    return {
      scenario: scenario.name,
      jobs,
      succeeded: all.filter((j) => j.status === 'SUCCEEDED').length,
      failed: all.filter((j) => j.status === 'FAILED').length,
      unfinished: ids.length - done.size,
      deadLettered: all.filter((j) => j.error?.code === 'DEAD_LETTERED').length,
      failureCodes: [...new Set(all.flatMap((j) => (j.error ? [j.error.code] : [])))],
      modelCalls: calls.length,
      retriedCalls: calls.filter((a) => a.outcome === 'failed').length,
      jobsRetried: all.filter((j) => j.attempts.some((a) => a.outcome === 'failed')).length,
      fellBack: all.filter((j) => j.result && j.result.modelId !== SONNET && j.result.servedFrom !== 'cache').length,
      skippedByBreaker: all.filter((j) => j.attempts.some((a) => a.errorCode === 'CIRCUIT_OPEN')).length,
      dlqDepth: await dlqDepth(runtime),
    };
  } finally {
    await runtime.stop();
  }
}

async function dlqDepth(runtime: LocalRuntime): Promise<number> {
  const { Attributes } = await runtime.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: runtime.resources.deadLetterQueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
}

export async function faultsBenchmark(jobs: number, log: (line: string) => void = console.log) {
  const rows = [];
  for (const scenario of SCENARIOS) {
    const row = await runScenario(scenario, jobs);
    log(JSON.stringify(row));
    rows.push(row);
  }
  const summary = rows.map((r) => `${r.scenario}: ${r.succeeded}/${r.jobs} ok, ${r.failed} failed, ${r.jobsRetried} retried, ${r.fellBack} fell back, dlq ${r.dlqDepth}`).join(' | ');
  return { name: 'faults', rows, summary };
}
