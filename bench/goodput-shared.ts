import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { rateFactorAt, type RateState } from '../lambda/core/admission';
import { bucketKey } from '../lambda/core/item-keys';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime';
import { configFor, MODEL, sim } from './goodput';

/**
 * Goodput when the quota is shared: jobs arrive steadily faster than the model's quota while, mid-run, another
 * application takes `1 - share` of it (the simulator's quota drops; Quarry's configured quota does not change) and
 * later gives it back. Three phases: `full`, `shared`, `restored`. Measured from outside, from the simulator's stats
 * sampled every second: calls Bedrock admitted per phase against the phase's quota (the ideal), calls throttled,
 * and how long after the quota came back the admitted rate reached 90% of the full quota again.
 */

export interface SharedQuotaOptions {
  rpm: number;
  tpm: number;
  /** Share of the quota left to Quarry while the other application runs. */
  share: number;
  /** Job arrivals per second, as a multiple of the full quota's rate (above 1 keeps a backlog in every phase). */
  load: number;
  maxTokens: number;
  modelLatencyMs: number;
  fullSeconds: number;
  sharedSeconds: number;
  restoredSeconds: number;
}

/** The simulator's quota counts calls over a sliding minute: after a drop, the calls of the minute before still count. */
const WINDOW_MS = 60_000;
/** Recovery: the admitted rate over this long first reaches 90% of the full quota. */
const RECOVERY_WINDOW_MS = 20_000;

interface Sample {
  at: number;
  requests: number;
  ok: number;
  throttled: number;
  rateFactor?: number;
}

export interface PhaseRow {
  phase: string;
  fromSeconds: number;
  toSeconds: number;
  quotaRpm: number;
  calls: number;
  admitted: number;
  throttled: number;
  throttledShare: number;
  /** Admitted calls per minute / the phase's quota. */
  rateOfIdeal: number;
}

function between(samples: Sample[], from: number, to: number): { calls: number; admitted: number; throttled: number } {
  const at = (t: number) => samples.reduce((last, s) => (s.at <= t ? s : last), samples[0]);
  const a = at(from);
  const b = at(to);
  return { calls: b.requests - a.requests, admitted: b.ok - a.ok, throttled: b.throttled - a.throttled };
}

function phaseRow(samples: Sample[], phase: string, start: number, from: number, to: number, quotaRpm: number): PhaseRow {
  const { calls, admitted, throttled } = between(samples, from, to);
  return {
    phase,
    fromSeconds: Math.round((from - start) / 1000),
    toSeconds: Math.round((to - start) / 1000),
    quotaRpm,
    calls,
    admitted,
    throttled,
    throttledShare: calls ? throttled / calls : 0,
    rateOfIdeal: admitted / ((quotaRpm * (to - from)) / 60_000),
  };
}

async function setQuota(runtime: LocalRuntime, rpm: number, tpm: number): Promise<void> {
  await sim(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODEL)}`, { quota: { rpm, tpm } });
}

export async function sharedQuotaBenchmark(o: SharedQuotaOptions, log: (line: string) => void = console.log) {
  const runtime = await startLocalRuntime({ port: 0, quiet: true, config: configFor('quarry', o) });
  const samples: Sample[] = [];
  try {
    await sim(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODEL)}`, { quota: { rpm: o.rpm, tpm: o.tpm }, latencyMs: { firstToken: o.modelLatencyMs, perToken: 0 } });
    const documents = DynamoDBDocumentClient.from(runtime.clients.dynamodb);
    const bucket = { TableName: runtime.resources.jobsTable!, Key: bucketKey({ modelId: MODEL, region: runtime.region }) };
    const headers = { 'content-type': 'application/json', 'x-api-key': runtime.apiKey ?? '' };

    const start = Date.now();
    const sharedAt = start + o.fullSeconds * 1000;
    const restoredAt = sharedAt + o.sharedSeconds * 1000;
    const end = restoredAt + o.restoredSeconds * 1000;
    const perSecond = (o.load * o.rpm) / 60;
    let submitted = 0;
    let refused = 0;

    const sampling = (async () => {
      while (Date.now() < end + 1000) {
        const stats = (await sim(runtime, 'GET', '/_sim/stats')).models?.[MODEL] ?? { requests: 0, ok: 0, throttled: 0 };
        const item = await documents.send(new GetCommand(bucket)).then((r) => r.Item, () => undefined);
        samples.push({ at: Date.now(), requests: stats.requests, ok: stats.ok, throttled: stats.throttled, rateFactor: rateFactorAt(item?.rate as RateState | undefined, Date.now()) });
        await new Promise((r) => setTimeout(r, 1000 - ((Date.now() - start) % 1000)));
      }
    })();
    const submitting = Promise.all(
      Array.from({ length: 8 }, async () => {
        for (;;) {
          const due = start + (submitted / perSecond) * 1000;
          if (due >= end) return;
          submitted++;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
          const res = await fetch(`${runtime.apiUrl}/api/classify`, { method: 'POST', headers, body: JSON.stringify({ prompt: `Classify message ${submitted}: is it spam?`, inferenceConfig: { maxTokens: o.maxTokens } }) });
          if (res.status !== 202) refused++;
          await res.arrayBuffer();
        }
      }),
    );
    const phases = (async () => {
      await new Promise((r) => setTimeout(r, sharedAt - Date.now()));
      await setQuota(runtime, Math.round(o.rpm * o.share), Math.round(o.tpm * o.share));
      log(`quota down to ${Math.round(o.rpm * o.share)} rpm at ${o.fullSeconds} s`);
      await new Promise((r) => setTimeout(r, restoredAt - Date.now()));
      await setQuota(runtime, o.rpm, o.tpm);
      log(`quota back to ${o.rpm} rpm at ${o.fullSeconds + o.sharedSeconds} s`);
    })();
    const reporting = setInterval(() => {
      const s = samples.at(-1);
      if (s) log(`${((s.at - start) / 1000).toFixed(0)} s: ${submitted} submitted, ${s.requests} calls, ${s.ok} admitted, ${s.throttled} throttled, rate factor ${s.rateFactor?.toFixed(3) ?? '1'}`);
    }, 15_000);
    await Promise.all([submitting, phases, sampling]);
    clearInterval(reporting);

    const sharedRpm = Math.round(o.rpm * o.share);
    const rows = [
      phaseRow(samples, 'full', start, start, sharedAt, o.rpm),
      phaseRow(samples, 'shared (whole)', start, sharedAt, restoredAt, sharedRpm),
      phaseRow(samples, 'shared (after a minute)', start, Math.min(sharedAt + WINDOW_MS, restoredAt), restoredAt, sharedRpm),
      phaseRow(samples, 'restored', start, restoredAt, end, o.rpm),
    ];
    const total = between(samples, start, end);
    const needed = 0.9 * o.rpm * (RECOVERY_WINDOW_MS / 60_000);
    const recoveredAt = samples.find((s) => s.at >= restoredAt && s.at + RECOVERY_WINDOW_MS <= end && between(samples, s.at, s.at + RECOVERY_WINDOW_MS).admitted >= needed)?.at;
    const recoverySeconds = recoveredAt === undefined ? null : (recoveredAt - restoredAt) / 1000;
    const timeline = samples
      .filter((_, i) => i % 10 === 0)
      .map((s, i, all) => ({ second: Math.round((s.at - start) / 1000), admitted: s.ok - (all[i - 1]?.ok ?? 0), throttled: s.throttled - (all[i - 1]?.throttled ?? 0), rateFactor: s.rateFactor ?? 1 }));
    for (const r of rows) {
      log(`${r.phase.padEnd(24)} ${String(r.fromSeconds).padStart(4)}-${String(r.toSeconds).padEnd(4)} s  quota ${r.quotaRpm} rpm  calls ${r.calls}  admitted ${r.admitted}  throttled ${r.throttled} (${(r.throttledShare * 100).toFixed(1)}%)  rate ${r.rateOfIdeal.toFixed(2)} of ideal`);
    }
    const throttledShare = total.calls ? total.throttled / total.calls : 0;
    const summary =
      `goodput-shared: ${rows.map((r) => `${r.phase} ${r.rateOfIdeal.toFixed(2)}`).join(', ')} of ideal; ` +
      `${(throttledShare * 100).toFixed(1)}% of ${total.calls} calls throttled; recovered ${recoverySeconds === null ? 'not within the phase' : `${recoverySeconds.toFixed(0)} s`} after the quota came back; ${submitted} jobs submitted${refused ? `, ${refused} refused` : ''}`;
    return { name: 'goodput-shared', options: o, rows, calls: total.calls, throttled: total.throttled, throttledShare, recoverySeconds, timeline, summary };
  } finally {
    await runtime.stop();
  }
}
