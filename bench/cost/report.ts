import { displayName } from '../../local/function-host';
import type { Measurement, PhaseTotals } from './measure';
import { byService, classicProfile, CLASSIC, fixedMonthly, PLATFORM_LOG_BYTES_PER_INVOCATION, priceUnit, profilesOf, total, type CostLine, type Knobs, type MonthlyLine, type UsageProfile } from './model';
import { PRICES, PRICES_CHECKED, PRICES_REGION } from './prices';

/** What `npm run cost` prices a measurement with, besides the measured stack's own settings. */
export interface Pricing {
  modelLatencyMs: number;
  batchSize: number;
  workerMemoryMb: number;
  pollsPerJob: number;
  monthlyJobs: number;
  /** $ per million jobs the report is held against. */
  targetUsdPerMillion: number;
  batchRows: number[];
  memoryColumns: number[];
}

export const DEFAULT_PRICING: Pricing = {
  modelLatencyMs: 5000,
  batchSize: 10,
  workerMemoryMb: 256,
  pollsPerJob: 0,
  monthlyJobs: 1_000_000,
  targetUsdPerMillion: 8,
  batchRows: [1, 10, 25, 100],
  memoryColumns: [128, 256, 512],
};

export interface CostReport {
  pricing: Pricing;
  knobs: Knobs;
  perJob: UsageProfile;
  perPoll: UsageProfile;
  quarry: CostLine[];
  classic: CostLine[];
  poll: CostLine[];
  grid: Array<{ batchSize: number; byMemory: Record<number, number>; classic: number }>;
  fixed: MonthlyLine[];
  /**
   * `floor`: the total with the worker's wait for the model spread over so many records that it vanishes (what no
   * batch size or memory moves: the requests, the items, the logs); `storage`: the DynamoDB storage + PITR line.
   */
  totals: { quarry: number; quarryWithPolls: number; classic: number; poll: number; xray: number; meetsTarget: boolean; floor: number; storage: number };
}

/** The functions' logging config as the template says it. */
function platformLogsSaid(m: Measurement): string {
  const logging = m.template.logging;
  return logging?.format === 'JSON' ? `JSON log format, system log level ${logging.systemLogLevel ?? 'INFO'}` : 'text log format';
}

/** Records per invocation at which the worker's wait for the model no longer shows in the total. */
const FLOOR_BATCH = 1_000_000;

export function buildReport(m: Measurement, pricing: Pricing): CostReport {
  const profiles = profilesOf(m);
  const knobs: Knobs = {
    modelLatencyMs: pricing.modelLatencyMs,
    batchSize: pricing.batchSize,
    concurrent: true,
    workerMemoryMb: pricing.workerMemoryMb,
    monthlyJobs: pricing.monthlyJobs,
    jobTtlDays: m.settings.jobTtlDays,
    resultsExpirationDays: m.settings.resultsExpirationDays,
  };
  const classicKnobs: Knobs = { ...knobs, concurrent: false, workerMemoryMb: CLASSIC.memoryMb };
  const classic = classicProfile(m.workload);
  const quarry = priceUnit(profiles.job, knobs);
  const poll = priceUnit(profiles.poll, knobs);
  const classicLines = priceUnit(classic, classicKnobs);
  const grid = pricing.batchRows.map((batchSize) => ({
    batchSize,
    byMemory: Object.fromEntries(pricing.memoryColumns.map((mb) => [mb, total(priceUnit(profiles.job, { ...knobs, batchSize, workerMemoryMb: mb }))])),
    classic: total(priceUnit(classic, { ...classicKnobs, batchSize })),
  }));
  const quarryTotal = total(quarry);
  return {
    pricing,
    knobs,
    perJob: profiles.job,
    perPoll: profiles.poll,
    quarry,
    classic: classicLines,
    poll,
    grid,
    fixed: fixedMonthly(m, knobs),
    totals: {
      quarry: quarryTotal,
      quarryWithPolls: quarryTotal + pricing.pollsPerJob * total(poll),
      classic: total(classicLines),
      poll: total(poll),
      xray: quarry.filter((l) => l.service === 'X-Ray').reduce((s, l) => s + l.usdPerMillion, 0),
      meetsTarget: quarryTotal <= pricing.targetUsdPerMillion,
      floor: total(priceUnit(profiles.job, { ...knobs, batchSize: FLOOR_BATCH })),
      storage: quarry.filter((l) => l.service === 'DynamoDB' && l.item.startsWith('storage')).reduce((s, l) => s + l.usdPerMillion, 0),
    },
  };
}

const usd = (v: number) => `$${v.toFixed(2)}`;
const num = (v: number, digits = 2) => Number(v.toFixed(digits)).toString();
const kb = (bytes: number) => (bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${Math.round(bytes)} B`);
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const shortName = (name: string) => displayName(name).replace(/Function$/, '');

function callsLine(requests: Record<string, number> | undefined): string {
  if (!requests) return '-';
  return Object.entries(requests)
    .map(([op, n]) => `${op} ${num(n)}`)
    .join(' · ');
}

/** DynamoDB calls per unit by operation and item kind, with their units: `UpdateItem JOB# 3 (10 WRU + 5 index)`. */
function dynamoLine(phase: PhaseTotals, units: number): string {
  const parts: string[] = [];
  for (const c of phase.calls.filter((c) => c.caller === 'function' && c.service === 'dynamodb')) {
    const kinds = Object.keys(c.unitsByKind ?? {}).length
      ? Object.entries(c.unitsByKind).map(([kind, u]) => ({ kind, n: c.kinds[kind], ...u }))
      : [{ kind: Object.keys(c.kinds).join('/'), n: c.requests, readUnits: c.readUnits, writeUnits: c.writeUnits, indexWriteUnits: c.indexWriteUnits }];
    for (const k of kinds) {
      const billed = [k.writeUnits && `${num(k.writeUnits / units)} WRU`, k.indexWriteUnits && `${num(k.indexWriteUnits / units)} index WRU`, k.readUnits && `${num(k.readUnits / units)} RRU`].filter(Boolean).join(' + ');
      parts.push(`${c.operation}${k.kind ? ` ${k.kind}` : ''} ${num(k.n / units)}${billed ? ` (${billed})` : ''}`);
    }
  }
  return parts.join(' · ') || '-';
}

export function formatReport(m: Measurement, r: CostReport): string {
  const out: string[] = [];
  const w = m.workload;
  const job = r.perJob;
  const local = m.jobs.calls.filter((c) => c.caller === 'runtime' && c.service === 'sqs');
  out.push(`Quarry cost per 1M jobs: ${PRICES_REGION} list prices checked ${PRICES_CHECKED} (bench/cost/prices.ts), measured ${m.measuredAt}`);
  out.push('');
  out.push('Workload');
  out.push(`  ${w.jobs} jobs through the local runtime (after ${w.warmupJobs} warm-up jobs), prompt ${w.promptBytes} B, answer ${w.resultBytes} B asked (${m.outputTokensPerJob} tokens; ${Math.round(m.results.meanTextBytes)} B on average), ${m.results.succeeded} succeeded, ${m.results.failed} not`);
  out.push(`  model latency ${r.knobs.modelLatencyMs} ms, added to the worker's measured local duration: once per invocation (the records of a batch call the model at the same time)`);
  out.push(`  worker: ${r.knobs.batchSize} records per invocation, ${r.knobs.workerMemoryMb} MB; one SNS event per job; polls priced apart (${r.pricing.pollsPerJob} per job in "with polls")`);
  if (m.machine) out.push(`  durations measured on ${m.machine.cpus} cores at a load average of ${num(m.machine.loadBefore, 1)} -> ${num(m.machine.loadAfter, 1)} (other work on the machine lengthens them)`);
  out.push(`  ${r.pricing.monthlyJobs.toLocaleString('en-US')} jobs a month (decides X-Ray's sampled share); jobs kept ${r.knobs.jobTtlDays} days (TTL)`);
  out.push('');
  out.push('Measured per job (the calls the functions made, on the wire; units from the item sizes seen)');
  out.push(`  API         ${num(job.apiRequests)} request, ${kb(job.apiResponseBytes)} answered`);
  out.push(`  DynamoDB    ${dynamoLine(m.jobs, w.jobs)}`);
  out.push(`              ${num(job.writeUnits)} WRU table + ${num(job.indexWriteUnits)} WRU index, ${num(job.readUnits)} RRU; ${kb(job.dynamoStoredBytes)} stored (${Object.entries(m.storageByKind).map(([k, v]) => `${k} ${num(v.items / w.jobs)} × ${kb(v.bytes / Math.max(1, v.items))}`).join(', ')})`);
  out.push(`  SQS         ${callsLine(job.requests.sqs)}${job.worker ? ` (${Math.round(job.worker.messageBytes)} B message)` : ''}`);
  out.push(`  SNS         ${callsLine(job.requests.sns)}`);
  out.push(`  S3          ${callsLine(job.requests.s3)}`);
  for (const f of m.jobs.functions.filter((f) => f.invocations)) {
    const perJob = f.invocations / w.jobs;
    const isWorker = f.logicalId === m.workerLogicalId;
    out.push(
      `  Lambda      ${shortName(f.name)}: ${num(perJob)} invocations at ${f.memoryMb} MB, ${isWorker ? `${num(f.durationMs / Math.max(1, f.records), 1)} ms local per record (${num(f.records / f.invocations, 1)} records per invocation here)` : `${num(f.durationMs / f.invocations, 1)} ms local each (p50 ${num(f.p50Ms, 1)})`}`,
    );
  }
  out.push(`  Logs        ${kb(job.logBytes)} of function output per job, + ${job.platformLogBytesPerInvocation} B of Lambda platform lines per invocation (${platformLogsSaid(m)})`);
  out.push(`  (the local event source mapping made ${local.map((c) => `${c.operation} ${num(c.requests / w.jobs)}`).join(', ')} per job; AWS's is modeled instead: one long-poll receive and one batch delete per batch)`);
  out.push('');

  const services = [...new Set([...r.quarry, ...r.classic].map((l) => l.service))];
  const q = Object.fromEntries(byService(r.quarry).map((s) => [s.service, s.usdPerMillion]));
  const c = Object.fromEntries(byService(r.classic).map((s) => [s.service, s.usdPerMillion]));
  out.push(`Breakdown, $ per 1M jobs          ${lpad('Quarry', 10)}  ${lpad('classic', 10)}`);
  for (const s of services) out.push(`  ${pad(s, 30)} ${lpad(q[s] !== undefined ? usd(q[s]) : '-', 10)}  ${lpad(c[s] !== undefined ? usd(c[s]) : '-', 10)}`);
  out.push(`  ${pad('Total', 30)} ${lpad(usd(r.totals.quarry), 10)}  ${lpad(usd(r.totals.classic), 10)}`);
  out.push(`  target ${usd(r.pricing.targetUsdPerMillion)} per 1M jobs (tokens excluded, polls apart): ${r.totals.meetsTarget ? 'met' : 'NOT met'} at ${r.knobs.batchSize} records per invocation and ${r.knobs.workerMemoryMb} MB; X-Ray is ${usd(r.totals.xray)} of it`);
  out.push(`  no batch size or memory goes below ${usd(r.totals.floor)} (the worker's wait for the model spread to nothing): requests, DynamoDB units, storage (${usd(r.totals.storage)}) and logs`);
  if (r.pricing.pollsPerJob) out.push(`  with ${r.pricing.pollsPerJob} polls per job: ${usd(r.totals.quarryWithPolls)}`);
  out.push('');
  out.push('Quarry, line by line             quantity per job              $ per 1M jobs');
  for (const l of r.quarry) out.push(`  ${pad(`${l.service}: ${l.item}`, 78)} ${lpad(`${num(l.quantity, 6)} ${l.unit}`, 22)} ${lpad(usd(l.usdPerMillion), 9)}`);
  out.push('');
  out.push(`A poll (GET /jobs/{id}, a finished job): ${usd(r.totals.poll)} per 1M polls`);
  for (const l of r.poll) out.push(`  ${pad(`${l.service}: ${l.item}`, 78)} ${lpad(`${num(l.quantity, 6)} ${l.unit}`, 22)} ${lpad(usd(l.usdPerMillion), 9)}`);
  out.push(`  DynamoDB per poll: ${dynamoLine(m.polls, m.polls.units)}; S3: ${callsLine(r.perPoll.requests.s3)}`);
  out.push('');
  out.push(`Classic sample: API Gateway -> SQS -> one worker (${CLASSIC.memoryMb} MB) calling InvokeModel per record one after another, one PutItem per result`);
  out.push(`  (counts from its description: 1 REST request, 1 SendMessage carrying the prompt, the same event source mapping, 1 PutItem of the result + ${CLASSIC.itemOverheadBytes} B, ${CLASSIC.localMsPerRecord} ms per record besides the model, platform log lines only, no tracing, no event)`);
  for (const l of r.classic) out.push(`  ${pad(`${l.service}: ${l.item}`, 78)} ${lpad(`${num(l.quantity, 6)} ${l.unit}`, 22)} ${lpad(usd(l.usdPerMillion), 9)}`);
  out.push('');
  out.push(`Knobs: total $ per 1M jobs (model latency ${r.knobs.modelLatencyMs} ms)`);
  out.push(`  ${pad('records per invocation', 24)}${r.pricing.memoryColumns.map((mb) => lpad(`${mb} MB`, 10)).join('')}${lpad(`classic ${CLASSIC.memoryMb} MB`, 18)}`);
  for (const row of r.grid) out.push(`  ${pad(String(row.batchSize), 24)}${r.pricing.memoryColumns.map((mb) => lpad(usd(row.byMemory[mb]), 10)).join('')}${lpad(usd(row.classic), 18)}`);
  out.push('  Records per invocation: worker.batchSize, but a batch fills only when that many jobs wait; at a low, even rate each job');
  out.push('  comes alone unless worker.maxBatchingWindowSeconds holds the batch open (adding up to that many seconds per job).');
  out.push('  Memory: the worker mostly waits on the model, which more memory does not shorten; GB-s grow with memory.');
  out.push('');
  out.push('Fixed, a month, whatever the volume');
  for (const l of r.fixed) out.push(`  ${pad(`${l.service}: ${l.item}`, 100)} ${lpad(usd(l.usdPerMonth), 9)}`);
  out.push(`  ${pad('Total', 100)} ${lpad(usd(r.fixed.reduce((s, l) => s + l.usdPerMonth, 0)), 9)}`);
  out.push('');
  out.push('Assumptions');
  out.push(`  - Lambda duration: the local duration of each invocation as measured here (a worker thread on this machine; on AWS a`);
  out.push(`    ${r.knobs.workerMemoryMb} MB function gets a fraction of a vCPU and DynamoDB answers in ~5 ms rather than ~1 ms, so the non-model part`);
  out.push(`    may be longer there), plus the model latency for the worker: once per invocation (Quarry, records concurrent),`);
  out.push(`    once per record (classic, sequential). INIT (cold start) duration is not counted: warm containers only.`);
  out.push('  - DynamoDB units from the item sizes the recorder saw: writes pay for the larger of the item before and after (1 WRU');
  out.push('    per KB), index writes as the developer guide lists them, reads 1 RRU per 4 KB strongly consistent, half eventually.');
  out.push('  - SQS and SNS: one request per 64 KB chunk of payload; SNS deliveries to SQS are free; subscribers are not counted.');
  out.push('  - The event source mapping: one long-poll ReceiveMessage and one DeleteMessageBatch per batch of up to 10 records;');
  out.push('    its empty polls (5 pollers, 20 s long polls) are a fixed monthly cost.');
  out.push(`  - Logs: the function output measured here, 26 B overhead per event, and Lambda's own lines of a successful invocation`);
  out.push(`    under the functions' logging config (${platformLogsSaid(m)}: ${profilesOf(m).job.platformLogBytesPerInvocation} B; the text format's START/END/REPORT: ${PLATFORM_LOG_BYTES_PER_INVOCATION} B).`);
  out.push('  - X-Ray: API Gateway and every function trace actively; a job is one trace from the API and one per worker');
  out.push("    invocation, sampled by the default rule (1 a second, then 5%); free tiers are left out everywhere.");
  out.push(`  - Prices: ${Object.keys(PRICES).length} list prices, each with its source, in bench/cost/prices.ts.`);
  return out.join('\n');
}
