import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import type { AwsFaultRuleInput } from '../local/aws-faults';
import { displayName, type FunctionHost } from '../local/function-host';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime';

/**
 * Chaos on the local runtime: the job lifecycle's invariants (ARCHITECTURE.md, "Job lifecycle") measured from
 * outside, under each kind of fault alone and then under all of them at once. Every scenario runs on a fresh local
 * runtime (one synthesized assembly for all) and submits `jobs` jobs over HTTP to the default route, paced over
 * `submitSeconds`, while its faults act; then it waits for the pipeline to settle and counts, per scenario:
 * - submitted (a 2xx with a job id; submits are retried with an Idempotency-Key on 5xx/429, as a client would),
 *   succeeded, failed by error code;
 * - stuck: not terminal when the run ends (after waiting well past the jobs' deadline);
 * - lost: accepted, but GET /jobs/{id} answers 404;
 * - completed twice: more than one terminal write for a job (the "job succeeded" / "job failed" / "sweep failed a
 *   job past its deadline" lines the functions log, per jobId), or events with two different statuses;
 * - unannounced: terminal, but no event with that status on a queue subscribed to the events topic (after waiting
 *   past the sweep's announce grace);
 * - jobs with duplicate events: one eventId received more than once (allowed: events are at-least-once);
 * - model calls per job: the Bedrock simulator's request count over the jobs submitted.
 * Target: 0 stuck, 0 completed twice, 0 unannounced, 0 lost, every failure with a code.
 */

const MODEL_IDS = {
  haiku: 'anthropic.claude-3-haiku-20240307-v1:0',
  sonnet: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
  opus: 'us.anthropic.claude-opus-4-1-20250805-v1:0',
  novaMicro: 'amazon.nova-micro-v1:0',
} as const;
/** The default route (`generate`): Sonnet, falling back to Haiku. */
const DEFAULT_ROUTE_MODELS = [MODEL_IDS.sonnet, MODEL_IDS.haiku];

/** Output tokens every model is configured (and simulated) with: small, so a 10 s worker timeout passes config validation. */
const MAX_OUTPUT_TOKENS = 100;

/**
 * A configuration under which every fault resolves within minutes: short worker timeout (visibility 6x), short
 * crash redelivery and requeue delays, a 10 s sweep grace, a 4-minute job deadline, and a
 * plan no polling reaches.
 */
export const CHAOS_CONFIG = {
  models: {
    'claude-haiku': { modelId: MODEL_IDS.haiku, maxOutputTokens: MAX_OUTPUT_TOKENS },
    'claude-sonnet': { modelId: MODEL_IDS.sonnet, maxOutputTokens: MAX_OUTPUT_TOKENS },
    'claude-opus': { modelId: MODEL_IDS.opus, maxOutputTokens: MAX_OUTPUT_TOKENS },
    'nova-micro': { modelId: MODEL_IDS.novaMicro, contextWindow: 128_000, maxOutputTokens: MAX_OUTPUT_TOKENS },
  },
  plans: { default: { rateLimit: 5_000, burstLimit: 5_000 } },
  worker: { timeoutSeconds: 10, batchSize: 5, maxConcurrency: 4, maxReceiveCount: 4 },
  resilience: {
    requeue: { baseDelaySeconds: 1, maxDelaySeconds: 4 },
    redelivery: { baseDelaySeconds: 2, maxDelaySeconds: 8 },
    sweepGraceSeconds: 10,
    jobDeadlineSeconds: 240,
    maxModelCalls: 12,
  },
};
const SWEEP_GRACE_SECONDS = CHAOS_CONFIG.resilience.sweepGraceSeconds;
const JOB_DEADLINE_SECONDS = CHAOS_CONFIG.resilience.jobDeadlineSeconds;
/** The sweep runs this often (instead of every minute). */
const SCHEDULE_INTERVAL_MS = 2_000;

interface FaultSet {
  /** ~20% Bedrock faults on the default route's models: throttles, 500s, 503s, model timeouts. */
  bedrock?: boolean;
  /** DynamoDB refuses every terminal write (UpdateItem to SUCCEEDED/FAILED) for 20 s while jobs run. */
  blackout?: boolean;
  /** 5% of DynamoDB UpdateItem/PutItem and SQS SendMessage fail. */
  awsWrites?: boolean;
  /** 30% of SNS Publish calls fail. */
  snsPublish?: boolean;
  /** The worker's running invocations are killed every few seconds. */
  kills?: boolean;
  /** Extra `{jobId}` messages for already-submitted jobs, straight to the jobs queue. */
  duplicates?: boolean;
}

interface Scenario {
  name: string;
  description: string;
  faults: FaultSet;
}

export const SCENARIOS: Scenario[] = [
  { name: 'bedrock-faults', description: '~20% Bedrock faults (throttle 6%, 500 5%, 503 5%, model timeout 5%) on Sonnet and Haiku', faults: { bedrock: true } },
  { name: 'terminal-write-blackout', description: 'DynamoDB UpdateItem to ":succeeded"/":failed" answers 503 for 20 s while jobs run', faults: { blackout: true } },
  { name: 'aws-write-failures', description: '5% of DynamoDB UpdateItem/PutItem and SQS SendMessage answer 500', faults: { awsWrites: true } },
  { name: 'sns-publish-failures', description: '30% of SNS Publish answer 500', faults: { snsPublish: true } },
  { name: 'worker-kills', description: 'the worker\'s running invocations killed every 4 s while jobs run', faults: { kills: true } },
  { name: 'duplicate-deliveries', description: 'one extra {jobId} message per job on average, for random submitted jobs (queued, running or finished)', faults: { duplicates: true } },
  {
    name: 'combined',
    description: 'all of the above at once',
    faults: { bedrock: true, blackout: true, awsWrites: true, snsPublish: true, kills: true, duplicates: true },
  },
];

const BEDROCK_FAULTS = { throttle: 0.06, internal: 0.05, unavailable: 0.05, timeout: 0.05 };
/** The blackout starts once this share of the jobs has been announced (so jobs are running), or at the last submit. */
const BLACKOUT_AFTER_ANNOUNCED = 0.05;
const BLACKOUT_MS = 20_000;
const KILL_EVERY_MS = 4_000;
/** Kills and duplicate sends go on this long after the last submit. */
const AFTER_SUBMIT_WINDOW_MS = 30_000;

/** Messages the functions log when they make a job terminal (one per terminal write). */
const TERMINAL_WRITE_LINES = new Set(['job succeeded', 'job failed', 'sweep failed a job past its deadline']);
/** Lines counted per scenario to show what the safety nets did. */
const ACTIVITY_LINES: Record<string, string> = {
  'sweep re-enqueued a job that no message would have moved on': 'sweepRequeued',
  'sweep announced a finished job whose event was owed': 'sweepAnnounced',
  'sweep failed a job past its deadline': 'sweepFailedPastDeadline',
  'dead-lettered job put back on the queue': 'deadLetterRequeued',
  'delivery deferred: job held by another worker': 'deferredHeld',
  'lease lost before the result was recorded': 'leaseLost',
  'job left to SQS redelivery': 'leftToRedelivery',
  'delivery failed': 'deliveriesFailed',
};

/**
 * A job should be terminal by its deadline at the latest (ARCHITECTURE.md); the sweep may take its grace period and
 * a few runs past it. Later than this counts as finished late.
 */
const LATE_TOLERANCE_SECONDS = SWEEP_GRACE_SECONDS + 10;

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export interface ChaosOptions {
  /** Jobs per scenario. */
  jobs: number;
  /** Submits are spread over this many seconds. */
  submitSeconds: number;
  /** Scenario names to run (all when empty). */
  only?: string[];
  /** Seeds the AWS fault layer's draws. */
  seed?: number;
  log?: (line: string) => void;
}

interface LogEntry {
  at: string;
  fn: string;
  level?: string;
  message: string;
  fields: Record<string, unknown>;
}

interface ReceivedEvent {
  eventId: string;
  status: string;
  type: string;
  errorCode?: string;
  receivedAt: number;
}

interface JobView {
  status: string;
  createdAt?: string;
  updatedAt?: string;
  error?: { code: string; message?: string };
  attempts?: Array<{ modelId: string; outcome: string; errorCode?: string }>;
}

export interface ChaosRow {
  scenario: string;
  description: string;
  submitted: number;
  submitRetries: number;
  submitRejected: number;
  submitAnswers: Record<string, number>;
  succeeded: number;
  failed: number;
  failedByCode: Record<string, number>;
  failedWithoutCode: number;
  cancelled: number;
  stuck: number;
  stuckByStatus: Record<string, number>;
  lost: number;
  unreadable: number;
  /** Terminal more than LATE_TOLERANCE_SECONDS after the job's deadline (createdAt + jobDeadlineSeconds). */
  finishedLate: number;
  maxSecondsPastDeadline: number;
  completedTwice: number;
  conflictingEvents: number;
  unannounced: number;
  jobsWithDuplicateEvents: number;
  eventsReceived: number;
  /** "job succeeded" / "job failed" / "sweep failed ..." lines captured: about one per terminal job (a check that the log capture works). */
  terminalWriteLines: number;
  /**
   * Terminal jobs for which no function logged a terminal write (informational: a line is lost when an invocation
   * is ended by its timeout, or killed, right after the write).
   */
  terminalWithoutLogLine: number;
  /** Jobs claimed or calling a model after their terminal write (ARCHITECTURE.md: Bedrock is not called again for a finished job). */
  workAfterFinish: number;
  modelCalls: number;
  modelCallsPerJob: number;
  recordedCallsPerJob: number;
  maxRecordedCalls: number;
  bedrockFaults: number;
  awsFaultsInjected: number;
  awsFaultsByOperation: Record<string, number>;
  /** The AWS fault rules at the end: requests each matched and faults it injected. */
  awsFaultRules: Array<{ id: string; matched: number; injected: number; state: string }>;
  /** Seconds after the first submit when the terminal-write blackout began (it lasts BLACKOUT_MS). */
  blackoutStartedAfterSeconds?: number;
  kills: number;
  invocationsKilled: number;
  duplicatesSent: number;
  /** Invocations ended by their function's timeout, by function. */
  invocationTimeouts: Record<string, number>;
  activity: Record<string, number>;
  dlqDepth: number;
  sweepRule: boolean;
  settled: boolean;
  secondsToSettle: number;
  secondsTotal: number;
  targetMet: boolean;
  /** Jobs that broke (or, for duplicateEvents, merely showed) a property, by category: how many, and some with their evidence. */
  violations: Record<string, { count: number; examples: Array<Record<string, unknown>> }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

const bump = (counts: Record<string, number>, key: string, by = 1) => {
  counts[key] = (counts[key] ?? 0) + by;
};

/** Function log lines, parsed (Powertools JSON), kept per jobId. */
class FunctionLogs {
  readonly byJob = new Map<string, LogEntry[]>();
  readonly terminalWrites = new Map<string, number>();
  /** Jobs claimed ("job running") or calling a model ("model call") after their first terminal write was logged. */
  readonly workAfterFinish = new Set<string>();
  private readonly finishedAt = new Map<string, string>();
  readonly activity: Record<string, number> = {};

  onLine(fn: string, line: string): void {
    if (!line.startsWith('{')) return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('_aws' in record) return;
    const message = typeof record.message === 'string' ? record.message : '';
    const counted = ACTIVITY_LINES[message];
    if (counted) bump(this.activity, counted);
    const jobId = typeof record.jobId === 'string' ? record.jobId : undefined;
    if (!jobId) return;
    const at = typeof record.timestamp === 'string' ? record.timestamp : new Date().toISOString();
    if (TERMINAL_WRITE_LINES.has(message)) {
      this.terminalWrites.set(jobId, (this.terminalWrites.get(jobId) ?? 0) + 1);
      if (!this.finishedAt.has(jobId)) this.finishedAt.set(jobId, at);
    }
    const finished = this.finishedAt.get(jobId);
    if ((message === 'job running' || message === 'model call') && finished !== undefined && at > finished) this.workAfterFinish.add(jobId);
    const { level, timestamp, service: _s, cold_start: _c, function_name: _f, function_arn: _a, function_memory_size: _m, function_request_id: requestId, xray_trace_id: _x, sampling_rate: _r, message: _msg, jobId: _j, ...fields } = record;
    let entries = this.byJob.get(jobId);
    if (!entries) this.byJob.set(jobId, (entries = []));
    if (entries.length < 200) entries.push({ at: String(timestamp ?? at), fn, level: level as string | undefined, message, fields: { ...fields, ...(requestId ? { requestId } : {}) } });
  }
}

/** A queue of the bench's own subscribed to the events topic (raw delivery), drained in the background. */
class EventCollector {
  readonly byJob = new Map<string, ReceivedEvent[]>();
  readonly eventIdCounts = new Map<string, number>();
  total = 0;
  private stopped = false;
  private loop?: Promise<void>;
  private queueUrl = '';

  constructor(private readonly runtime: LocalRuntime) {}

  async start(name: string): Promise<void> {
    const { sqs, sns } = this.runtime.clients;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    this.queueUrl = QueueUrl!;
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn: this.runtime.resources.topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn, Attributes: { RawMessageDelivery: 'true' } }));
    this.loop = (async () => {
      while (!this.stopped) {
        const got = await this.drainOnce().catch(() => 0);
        if (got === 0) await sleep(500);
      }
    })();
  }

  /** Receives until the queue is empty; returns how many messages it got. */
  async drainOnce(): Promise<number> {
    let got = 0;
    for (;;) {
      const { Messages } = await this.runtime.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }));
      if (!Messages?.length) return got;
      got += Messages.length;
      for (const m of Messages) {
        try {
          const body = JSON.parse(m.Body ?? '') as { eventId?: string; jobId?: string; status?: string; type?: string; error?: { code?: string } };
          if (!body.jobId) continue;
          this.total++;
          const eventId = body.eventId ?? `(no eventId) ${m.MessageId}`;
          this.eventIdCounts.set(eventId, (this.eventIdCounts.get(eventId) ?? 0) + 1);
          let list = this.byJob.get(body.jobId);
          if (!list) this.byJob.set(body.jobId, (list = []));
          list.push({ eventId, status: String(body.status), type: String(body.type), ...(body.error?.code && { errorCode: body.error.code }), receivedAt: Date.now() });
        } catch {
          // not an event of ours
        }
      }
      await this.runtime.clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) })).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.drainOnce().catch(() => 0);
  }
}

interface SimStats {
  models: Record<string, { requests: number; ok: number; throttled: number; errors: Record<string, number> }>;
}

async function simulator<T>(runtime: LocalRuntime, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${runtime.bedrockUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`simulator ${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<T>;
}

async function getJob(runtime: LocalRuntime, jobId: string): Promise<{ status: number; job?: JobView }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${runtime.apiUrl}/jobs/${jobId}`, { headers: { 'x-api-key': runtime.apiKey ?? '' } });
      const text = await res.text();
      if (res.status >= 500 && attempt < 3) {
        await sleep(300);
        continue;
      }
      let job: JobView | undefined;
      try {
        job = JSON.parse(text) as JobView;
      } catch {
        job = undefined;
      }
      return { status: res.status, job: res.status === 200 ? job : undefined };
    } catch {
      if (attempt >= 3) return { status: 0 };
      await sleep(300);
    }
  }
}

function workerHost(runtime: LocalRuntime): FunctionHost | undefined {
  return [...runtime.functions.values()].find((f) => /worker/i.test(f.definition.logicalId) || /worker/i.test(f.name));
}

const BLACKOUT_RULE: AwsFaultRuleInput = {
  id: 'terminal-write-blackout',
  service: 'dynamodb',
  operations: ['UpdateItem'],
  bodyIncludes: ['":succeeded"', '":failed"'],
  error: 'unavailable',
  durationMs: BLACKOUT_MS,
};

/** The rules that act from the first submit on (the blackout starts later, see BLACKOUT_AFTER_ANNOUNCED). */
function faultRules(faults: FaultSet): AwsFaultRuleInput[] {
  const rules: AwsFaultRuleInput[] = [];
  if (faults.awsWrites) {
    rules.push({ id: 'dynamodb-writes-5pct', service: 'dynamodb', operations: ['UpdateItem', 'PutItem'], rate: 0.05, error: 'internal' });
    rules.push({ id: 'sqs-send-5pct', service: 'sqs', operations: ['SendMessage'], rate: 0.05, error: 'internal' });
  }
  if (faults.snsPublish) rules.push({ id: 'sns-publish-30pct', service: 'sns', operations: ['Publish'], rate: 0.3, error: 'internal' });
  return rules;
}

interface RunContext {
  assembly?: string;
  outdir: string;
}

async function runScenario(scenario: Scenario, options: ChaosOptions, context: RunContext): Promise<ChaosRow> {
  const log = options.log ?? console.log;
  const logs = new FunctionLogs();
  const invocationTimeouts: Record<string, number> = {};
  const runtime = await startLocalRuntime({
    port: 0,
    quiet: true,
    ...(context.assembly ? { assembly: context.assembly } : { config: CHAOS_CONFIG, outdir: context.outdir }),
    scheduleIntervalMs: SCHEDULE_INTERVAL_MS,
    faultsSeed: options.seed,
    functionLog: (fn, line) => logs.onLine(fn, line),
    log: (line) => {
      // The function host's own line (`<function>: <time> <requestId> Task timed out ...`), not the poller's echo of it.
      if (line.includes('Task timed out') && !line.startsWith('poller ')) bump(invocationTimeouts, displayName(line.slice(0, line.indexOf(':'))));
    },
  });
  context.assembly ??= context.outdir;
  const runStarted = Date.now();
  const background: Promise<unknown>[] = [];
  try {
    let sweepRule = false;
    try {
      sweepRule = (await runtime.runScheduled()).length > 0;
    } catch (error) {
      log(`chaos ${scenario.name}: runScheduled failed: ${(error as Error).message}`);
    }
    if (!sweepRule) log(`chaos ${scenario.name}: the stack has no scheduled rule (no sweep): stuck jobs are reported as found`);

    const events = new EventCollector(runtime);
    await events.start(`chaos-events-${scenario.name}`);

    await simulator(runtime, 'PUT', '/_sim/models/*', { latencyMs: { firstToken: 300, perToken: 5 }, outputTokens: 48 });
    if (scenario.faults.bedrock) {
      for (const modelId of DEFAULT_ROUTE_MODELS) await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(modelId)}`, { faults: BEDROCK_FAULTS });
    }
    const { faults } = scenario;
    const headers = { 'content-type': 'application/json', 'x-api-key': runtime.apiKey ?? '' };
    const submitStarted = Date.now();
    for (const rule of faultRules(faults)) runtime.faults.add(rule);
    const submitEndsAt = submitStarted + options.submitSeconds * 1000;
    const activeUntil = submitEndsAt + AFTER_SUBMIT_WINDOW_MS;

    const accepted: string[] = [];
    const acceptedSet = new Set<string>();
    const submitAnswers: Record<string, number> = {};
    let submitRetries = 0;
    let submitRejected = 0;
    let settledAll = false;

    // The blackout of terminal writes, once jobs are finishing.
    let blackoutStartedAfterSeconds: number | undefined;
    if (faults.blackout) {
      background.push(
        (async () => {
          while (events.total < Math.max(1, options.jobs * BLACKOUT_AFTER_ANNOUNCED) && Date.now() < submitEndsAt) await sleep(200);
          runtime.faults.add(BLACKOUT_RULE);
          blackoutStartedAfterSeconds = Math.round((Date.now() - submitStarted) / 1000);
        })(),
      );
    }

    // Worker kills while jobs run.
    let kills = 0;
    let invocationsKilled = 0;
    const worker = workerHost(runtime);
    if (faults.kills) {
      if (!worker) log(`chaos ${scenario.name}: no worker function found; no kills`);
      else {
        background.push(
          (async () => {
            while (Date.now() < activeUntil && !settledAll) {
              await sleep(KILL_EVERY_MS);
              const n = await worker.crashRunning();
              kills++;
              invocationsKilled += n;
            }
          })(),
        );
      }
    }

    // Duplicate deliveries: one per job on average, spread over the submit window and a while after it (so they find
    // jobs queued, running and finished).
    let duplicatesSent = 0;
    if (faults.duplicates) {
      const every = (activeUntil - submitStarted) / options.jobs;
      background.push(
        (async () => {
          for (let n = 0; n < options.jobs; n++) {
            await sleep(every);
            if (accepted.length === 0) continue;
            const jobId = accepted[Math.floor(Math.random() * accepted.length)];
            await runtime.clients.sqs
              .send(
                new SendMessageCommand({
                  QueueUrl: runtime.resources.jobsQueueUrl,
                  MessageBody: JSON.stringify({ jobId, tenant: 'default' }),
                  MessageAttributes: { tenant: { DataType: 'String', StringValue: 'default' } },
                }),
              )
              .then(() => duplicatesSent++)
              .catch((error: Error) => log(`chaos ${scenario.name}: duplicate send failed: ${error.message}`));
          }
        })(),
      );
    }

    // Submits, paced over submitSeconds; each retried with its Idempotency-Key on 5xx/429/network errors.
    const interval = (options.submitSeconds * 1000) / options.jobs;
    await mapLimit(
      Array.from({ length: options.jobs }, (_, i) => i),
      16,
      async (i) => {
        const due = submitStarted + i * interval;
        if (due > Date.now()) await sleep(due - Date.now());
        const key = `chaos-${scenario.name}-${runStarted}-${i}`;
        for (let attempt = 0; attempt < 6; attempt++) {
          if (attempt > 0) {
            submitRetries++;
            await sleep(250 * 2 ** attempt);
          }
          let status = 0;
          let jobId: string | undefined;
          try {
            const res = await fetch(`${runtime.apiUrl}/jobs`, { method: 'POST', headers: { ...headers, 'idempotency-key': key }, body: JSON.stringify({ prompt: `chaos ${scenario.name} job ${i}: say something` }) });
            status = res.status;
            const body = (await res.json().catch(() => undefined)) as { jobId?: string } | undefined;
            jobId = body?.jobId;
          } catch {
            // a network error: counted as status 0 and retried
          }
          bump(submitAnswers, String(status));
          if (status >= 200 && status < 300 && jobId) {
            if (!acceptedSet.has(jobId)) {
              acceptedSet.add(jobId);
              accepted.push(jobId);
            }
            return;
          }
          if (status !== 0 && status !== 429 && status < 500) break;
        }
        submitRejected++;
      },
    );
    const submitDone = Date.now();
    log(`chaos ${scenario.name}: ${accepted.length}/${options.jobs} accepted in ${((submitDone - submitStarted) / 1000).toFixed(1)} s; waiting for the pipeline to settle`);

    // Settle: until every accepted job is terminal (by its event, else by GET), or well past the jobs' deadline.
    const statusOf = new Map<string, string>();
    const settleDeadline = submitDone + (JOB_DEADLINE_SECONDS + 3 * SWEEP_GRACE_SECONDS + 60) * 1000;
    let lastProgress = 0;
    for (;;) {
      const pending = accepted.filter((id) => !TERMINAL.has(statusOf.get(id) ?? '') && !events.byJob.has(id));
      if (pending.length === 0) break;
      if (Date.now() > settleDeadline) break;
      await mapLimit(pending, 6, async (id) => {
        const { status, job } = await getJob(runtime, id);
        statusOf.set(id, job?.status ?? `HTTP ${status}`);
      });
      if (Date.now() - lastProgress > 15_000) {
        lastProgress = Date.now();
        log(`chaos ${scenario.name}: ${accepted.length - pending.length}/${accepted.length} terminal or announced after ${((Date.now() - submitStarted) / 1000).toFixed(0)} s`);
      }
      await sleep(3_000);
    }
    const allTerminalAt = Date.now();
    settledAll = true;
    // Events: give the owed ones time to arrive (the sweep announces a job whose publish failed after its grace).
    const eventDeadline = allTerminalAt + (2 * SWEEP_GRACE_SECONDS + 15) * 1000;
    for (;;) {
      await events.drainOnce().catch(() => 0);
      const unannounced = accepted.filter((id) => !events.byJob.has(id));
      if (unannounced.length === 0 || Date.now() > eventDeadline) break;
      await sleep(2_000);
    }
    await Promise.all(background);
    await sleep(5_000); // what the last duplicate deliveries do, and late duplicate events
    await events.stop();
    const settledAt = Date.now();

    // Final look at every accepted job.
    const finals = new Map<string, { status: number; job?: JobView }>();
    await mapLimit(accepted, 6, async (id) => {
      finals.set(id, await getJob(runtime, id));
    });

    const stats = await simulator<SimStats>(runtime, 'GET', '/_sim/stats');
    const simModels = Object.values(stats.models);
    const modelCalls = simModels.reduce((sum, m) => sum + m.requests, 0);
    const bedrockFaults = simModels.reduce((sum, m) => sum + m.throttled + Object.values(m.errors).reduce((a, b) => a + b, 0), 0);
    const awsStats = runtime.faults.stats();
    const awsFaultsByOperation: Record<string, number> = {};
    for (const [service, ops] of Object.entries(awsStats.services)) for (const [op, s] of Object.entries(ops ?? {})) if (s.faults) awsFaultsByOperation[`${service}.${op}`] = s.faults;

    const failedByCode: Record<string, number> = {};
    const stuckByStatus: Record<string, number> = {};
    let succeeded = 0;
    let failed = 0;
    let failedWithoutCode = 0;
    let cancelled = 0;
    let recordedCalls = 0;
    let maxRecordedCalls = 0;
    let maxSecondsPastDeadline = 0;
    const bad: Record<string, string[]> = { stuck: [], lost: [], finishedLate: [], unreadable: [], completedTwice: [], conflictingEvents: [], unannounced: [], failedWithoutCode: [], workAfterFinish: [], duplicateEvents: [], terminalWithoutLogLine: [] };
    for (const id of accepted) {
      const { status, job } = finals.get(id)!;
      const received = events.byJob.get(id) ?? [];
      if (status === 404) {
        bad.lost.push(id);
        continue;
      }
      if (!job) {
        bad.unreadable.push(id);
        continue;
      }
      const calls = (job.attempts ?? []).filter((a) => a.outcome !== 'skipped').length;
      recordedCalls += calls;
      maxRecordedCalls = Math.max(maxRecordedCalls, calls);
      if (!TERMINAL.has(job.status)) {
        bad.stuck.push(id);
        bump(stuckByStatus, job.status);
      } else {
        if (job.status === 'SUCCEEDED') succeeded++;
        if (job.status === 'CANCELLED') cancelled++;
        if (job.status === 'FAILED') {
          failed++;
          if (job.error?.code) bump(failedByCode, job.error.code);
          else {
            failedWithoutCode++;
            bad.failedWithoutCode.push(id);
          }
        }
        if (!received.some((e) => e.status === job.status)) bad.unannounced.push(id);
        if (job.createdAt && job.updatedAt) {
          const past = (Date.parse(job.updatedAt) - Date.parse(job.createdAt)) / 1000 - JOB_DEADLINE_SECONDS;
          maxSecondsPastDeadline = Math.max(maxSecondsPastDeadline, past);
          if (past > LATE_TOLERANCE_SECONDS) bad.finishedLate.push(id);
        }
      }
      const statuses = new Set(received.map((e) => e.status));
      if (statuses.size > 1) bad.conflictingEvents.push(id);
      if ((logs.terminalWrites.get(id) ?? 0) > 1 || statuses.size > 1) bad.completedTwice.push(id);
      if (received.some((e) => (events.eventIdCounts.get(e.eventId) ?? 0) > 1)) bad.duplicateEvents.push(id);
      if (logs.workAfterFinish.has(id)) bad.workAfterFinish.push(id);
      if (TERMINAL.has(job.status) && !logs.terminalWrites.has(id)) bad.terminalWithoutLogLine.push(id);
    }

    const evidence = (category: string, ids: string[], detailed = 3) =>
      ids.slice(0, 10).map((id, i) => {
        const { status, job } = finals.get(id) ?? { status: 0 };
        const entry: Record<string, unknown> = {
          jobId: id,
          httpStatus: status,
          status: job?.status,
          error: job?.error,
          terminalWrites: logs.terminalWrites.get(id) ?? 0,
          events: (events.byJob.get(id) ?? []).map((e) => ({ eventId: e.eventId, status: e.status, errorCode: e.errorCode, receivedAt: new Date(e.receivedAt).toISOString() })),
          attempts: job?.attempts?.map((a) => `${a.modelId.replace(/^.*anthropic\.|^amazon\./, '')}:${a.outcome}${a.errorCode ? `:${a.errorCode}` : ''}`),
        };
        if (i < detailed && category !== 'duplicateEvents') entry.log = (logs.byJob.get(id) ?? []).map((l) => `${l.at} [${l.fn}] ${l.level ?? ''} ${l.message} ${JSON.stringify(l.fields)}`);
        return entry;
      });
    const violations: ChaosRow['violations'] = {};
    for (const [category, ids] of Object.entries(bad)) if (ids.length) violations[category] = { count: ids.length, examples: evidence(category, ids, category === 'duplicateEvents' ? 0 : 3) };

    const jobs = accepted.length || 1;
    const row: ChaosRow = {
      scenario: scenario.name,
      description: scenario.description,
      submitted: accepted.length,
      submitRetries,
      submitRejected,
      submitAnswers,
      succeeded,
      failed,
      failedByCode,
      failedWithoutCode,
      cancelled,
      stuck: bad.stuck.length,
      stuckByStatus,
      lost: bad.lost.length,
      unreadable: bad.unreadable.length,
      finishedLate: bad.finishedLate.length,
      maxSecondsPastDeadline: Math.round(Math.max(0, maxSecondsPastDeadline)),
      completedTwice: bad.completedTwice.length,
      conflictingEvents: bad.conflictingEvents.length,
      unannounced: bad.unannounced.length,
      jobsWithDuplicateEvents: bad.duplicateEvents.length,
      eventsReceived: events.total,
      terminalWriteLines: [...logs.terminalWrites.values()].reduce((a, b) => a + b, 0),
      terminalWithoutLogLine: bad.terminalWithoutLogLine.length,
      workAfterFinish: bad.workAfterFinish.length,
      modelCalls,
      modelCallsPerJob: round(modelCalls / jobs),
      recordedCallsPerJob: round(recordedCalls / jobs),
      maxRecordedCalls,
      bedrockFaults,
      awsFaultsInjected: awsStats.totals.faults,
      awsFaultsByOperation,
      awsFaultRules: runtime.faults.rules().map((r) => ({ id: r.id, matched: r.matched, injected: r.injected, state: r.state })),
      ...(blackoutStartedAfterSeconds !== undefined && { blackoutStartedAfterSeconds }),
      kills,
      invocationsKilled,
      duplicatesSent,
      invocationTimeouts,
      activity: logs.activity,
      dlqDepth: await dlqDepth(runtime),
      sweepRule,
      settled: bad.stuck.length === 0 && bad.unreadable.length === 0,
      secondsToSettle: Math.round((allTerminalAt - submitStarted) / 1000),
      secondsTotal: Math.round((settledAt - runStarted) / 1000),
      targetMet: bad.stuck.length + bad.lost.length + bad.completedTwice.length + bad.unannounced.length + bad.unreadable.length + failedWithoutCode === 0,
      violations,
    };
    return row;
  } finally {
    await runtime.stop();
  }
}

/** Categories of `violations` that break no invariant but are worth a look. */
const INFORMATIONAL = new Set(['duplicateEvents', 'terminalWithoutLogLine']);

const round = (n: number) => Math.round(n * 100) / 100;

async function dlqDepth(runtime: LocalRuntime): Promise<number> {
  if (!runtime.resources.deadLetterQueueUrl) return 0;
  const { Attributes } = await runtime.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: runtime.resources.deadLetterQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

const COLUMNS: Array<[string, number, (r: ChaosRow) => string]> = [
  ['scenario', 24, (r) => r.scenario],
  ['submitted', 9, (r) => String(r.submitted)],
  ['ok', 5, (r) => String(r.succeeded)],
  ['failed', 6, (r) => String(r.failed)],
  ['stuck', 5, (r) => String(r.stuck)],
  ['lost', 4, (r) => String(r.lost)],
  ['late', 4, (r) => String(r.finishedLate)],
  ['twice', 5, (r) => String(r.completedTwice)],
  ['unannounced', 11, (r) => String(r.unannounced)],
  ['dup-events', 10, (r) => String(r.jobsWithDuplicateEvents)],
  ['calls/job', 9, (r) => r.modelCallsPerJob.toFixed(2)],
  ['settle s', 8, (r) => String(r.secondsToSettle)],
  ['failures by code', 0, (r) => Object.entries(r.failedByCode).map(([c, n]) => `${c} ${n}`).join(', ') + (r.failedWithoutCode ? `, no code ${r.failedWithoutCode}` : '') || '-'],
];

export function formatRow(row: ChaosRow): string {
  return COLUMNS.map(([, width, value]) => value(row).padEnd(width)).join('  ').trimEnd();
}

export function formatHeader(): string {
  return COLUMNS.map(([name, width]) => name.padEnd(width)).join('  ').trimEnd();
}

export async function chaosBenchmark(options: ChaosOptions): Promise<Record<string, unknown>> {
  const log = options.log ?? console.log;
  const scenarios = options.only?.length ? SCENARIOS.filter((s) => options.only!.includes(s.name)) : SCENARIOS;
  if (scenarios.length === 0) throw new Error(`no scenario named ${options.only?.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const outdir = mkdtempSync(join(tmpdir(), 'quarry-chaos-'));
  const context: RunContext = { outdir };
  const started = Date.now();
  const rows: ChaosRow[] = [];
  try {
    for (const scenario of scenarios) {
      log(`chaos ${scenario.name}: ${scenario.description}`);
      const row = await runScenario(scenario, options, context);
      rows.push(row);
      log(formatHeader());
      log(formatRow(row));
      for (const [category, v] of Object.entries(row.violations)) {
        if (category !== 'duplicateEvents') log(`  ${category}${INFORMATIONAL.has(category) ? ' (informational)' : ''}: ${v.count} (e.g. ${v.examples.slice(0, 3).map((e) => e.jobId).join(', ')})`);
      }
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  const total = (key: keyof ChaosRow) => rows.reduce((sum, r) => sum + (r[key] as number), 0);
  const failedByCode: Record<string, number> = {};
  for (const r of rows) for (const [code, n] of Object.entries(r.failedByCode)) bump(failedByCode, code, n);
  const totals = {
    submitted: total('submitted'),
    succeeded: total('succeeded'),
    failed: total('failed'),
    failedByCode,
    failedWithoutCode: total('failedWithoutCode'),
    stuck: total('stuck'),
    lost: total('lost'),
    unreadable: total('unreadable'),
    finishedLate: total('finishedLate'),
    completedTwice: total('completedTwice'),
    unannounced: total('unannounced'),
    workAfterFinish: total('workAfterFinish'),
    jobsWithDuplicateEvents: total('jobsWithDuplicateEvents'),
    modelCallsPerJob: round(total('modelCalls') / Math.max(1, total('submitted'))),
  };
  const targetMet = rows.every((r) => r.targetMet);
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const summary =
    `chaos: ${totals.submitted} jobs in ${rows.length} scenarios (${minutes} min): ${totals.succeeded} succeeded, ${totals.failed} failed` +
    `${Object.keys(failedByCode).length ? ` (${Object.entries(failedByCode).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}, ` +
    `stuck ${totals.stuck}, lost ${totals.lost}, finished past deadline ${totals.finishedLate}, completed twice ${totals.completedTwice}, unannounced ${totals.unannounced}, ` +
    `failed without code ${totals.failedWithoutCode}, worked on after finishing ${totals.workAfterFinish}, jobs with duplicate events ${totals.jobsWithDuplicateEvents}, ${totals.modelCallsPerJob} model calls/job; ` +
    `target (0 stuck, 0 completed twice, 0 unannounced, 0 lost, failures with a code) ${targetMet ? 'met' : 'NOT met'}`;
  log(formatHeader());
  for (const row of rows) log(formatRow(row));
  return {
    name: 'chaos',
    config: CHAOS_CONFIG,
    scheduleIntervalMs: SCHEDULE_INTERVAL_MS,
    jobsPerScenario: options.jobs,
    submitSeconds: options.submitSeconds,
    minutes: Number(minutes),
    targetMet,
    totals,
    rows,
    summary,
  };
}
