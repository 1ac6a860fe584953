import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { startLocalRuntime } from '../local/runtime';

/**
 * Pipeline overhead: N jobs through the whole local pipeline (HTTP -> SQS -> worker -> Bedrock simulator ->
 * DynamoDB -> SNS) against a baseline of the same N Converse calls made directly to the simulator, in one run.
 * The simulator answers with a fixed latency so the ratio shows what the pipeline adds to the model's time.
 */
export async function pipelineBenchmark(options: { jobs: number; modelLatencyMs: number }) {
  const runtime = await startLocalRuntime({ port: 0, quiet: true, config: { worker: { batchSize: 10, maxConcurrency: 10 }, plans: { default: { rateLimit: 10_000, burstLimit: 5_000 } } } });
  try {
    const modelId = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
    await fetch(`${runtime.bedrockUrl}/_sim/models/*`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: { firstToken: options.modelLatencyMs, perToken: 0 } }) });

    const client = new BedrockRuntimeClient({ endpoint: runtime.bedrockUrl, region: runtime.region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
    const baselineStart = Date.now();
    await runConcurrently(options.jobs, 10, (i) => client.send(new ConverseCommand({ modelId, messages: [{ role: 'user', content: [{ text: `job ${i}` }] }] })));
    const baselineMs = Date.now() - baselineStart;
    client.destroy();

    const apiKey = { 'x-api-key': runtime.apiKey ?? '' };
    const start = Date.now();
    const ids = await Promise.all(
      Array.from({ length: options.jobs }, async (_, i) => {
        const res = await fetch(`${runtime.apiUrl}/jobs`, { method: 'POST', headers: { ...apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `job ${i}` }) });
        return ((await res.json()) as { jobId: string }).jobId;
      }),
    );
    const pending = new Set(ids);
    let failed = 0;
    while (pending.size > 0) {
      await new Promise((r) => setTimeout(r, 100));
      for (const id of [...pending]) {
        const job = (await (await fetch(`${runtime.apiUrl}/jobs/${id}`, { headers: apiKey })).json()) as { status: string };
        if (job.status === 'SUCCEEDED' || job.status === 'FAILED') {
          pending.delete(id);
          if (job.status === 'FAILED') failed++;
        }
      }
    }
    const pipelineMs = Date.now() - start;
    return { name: 'pipeline', jobs: options.jobs, modelLatencyMs: options.modelLatencyMs, baselineMs, pipelineMs, ratio: pipelineMs / baselineMs, failed };
  } finally {
    await runtime.stop();
  }
}

async function runConcurrently(count: number, concurrency: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++);
  }));
}
