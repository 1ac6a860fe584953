import { leaseExpiry } from './delivery';
import { answerFromChain, type ChainOutcome } from './chain-walk';
import { deadlineOf, deadlineSecondsOf, secondsToDeadline, sweepAtFor, tooLateToRun } from './job-lifecycle';
import { modelCalls, type Attempt, type Job, type JobResult, type Reservation, type RunnableJob } from './job';
import type { NormalizedJobRequest } from './job-request';
import { finishFailed, finishSucceeded, messageOf, persistently, requeue, settleRefusedClaim } from './job-settlement';
import type { AsyncModelInvoker, AsyncOutputLister, BatchTally, CapacityGate, CircuitBreaker, Clock, JobLog, JobRequeuer, JobStore, LargeResultStore, ModelCallObserver, ModelInvoker, ResponseCache, TerminalEventPublisher } from './ports';
import { isCacheable, responseCacheKey } from './response-cache-key';
import { requeueDelaySeconds } from './retry-policy';
import { decideRoute, settledRouting } from './route-decision';
import { runAsyncJob } from './async-invocation';
import type { ResiliencePolicy, RoutingTable } from './settings';

export interface ProcessingDeps {
  store: JobStore;
  model: ModelInvoker;
  results: LargeResultStore;
  events: TerminalEventPublisher;
  requeuer: JobRequeuer;
  breaker: Pick<CircuitBreaker, 'admit' | 'record'> & Partial<Pick<CircuitBreaker, 'figures'>>;
  capacity: CapacityGate;
  cache: ResponseCache;
  observer: ModelCallObserver;
  log: JobLog;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  routing: RoutingTable;
  policy: ResiliencePolicy;
  homeRegion: string;
  resultInlineMaxBytes: number;
  /** The model ids a tenant's plan allows (by tenant name); undefined: every configured model. */
  allowedModels?: (tenant: string) => readonly string[] | undefined;
  /** Operators may opt in to prompt and completion text in logs; off by default. */
  logText?: boolean;
  /** Counts batch jobs' starts and ends in their batches (lambda/core/batch-tally.ts). @default - no batches */
  batches?: BatchTally;
  /** Async models' invocations (lambda/core/async-invocation.ts), the bucket their output goes to, and its listing. @default - none: an async job cannot run */
  asyncModels?: AsyncModelInvoker;
  asyncOutputs?: AsyncOutputLister;
  asyncOutputBucket?: string;
}

export interface Delivery {
  jobId: string;
  tenant?: string;
  /** The SQS message id: a later receive of the same message may take over the lease an earlier one left behind. */
  messageId: string;
  /** The job's request, when the message carried it (else it is read from the job's request item). */
  request?: NormalizedJobRequest;
  /** The fingerprint of the request the message runs (a conflicting replay's message carries another). */
  requestHash?: string;
  /** When the job was submitted (ISO 8601), as the message says. */
  createdAt?: string;
  /** The async invocation's poll the message is for (lambda/core/async-invocation.ts). */
  poll?: number;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
  /** Who is working on it: unique per delivery, so a stale worker cannot finish a job taken over from it. */
  owner: string;
  /** Milliseconds the invocation may still run. */
  remainingMillis: () => number;
}

export type DeliveryOutcome =
  | { kind: 'finished'; status: Job['status'] }
  | { kind: 'skipped'; reason: 'gone' | 'already-finished' | 'held-by-another-worker' | 'lease-lost' | 'not-this-request' | 'not-yet-recorded' | 'no-request' | 'superseded' }
  | { kind: 'requeued'; delaySeconds: number };

/** How long a worker waits, once, for the record of a job submitted a moment ago. */
const RECORD_LANDING_WAIT_MS = 250;

function recordMayBeLanding(delivery: Pick<Delivery, 'createdAt'>, now: Date): boolean {
  const ageMs = now.getTime() - Date.parse(delivery.createdAt ?? '');
  return ageMs < 2_000;
}

/** Thrown to leave a job to SQS redelivery after the queue's visibility timeout (requeue mode "redeliver"). */
export class RedeliverLater extends Error {
  constructor(readonly errorCode: string) {
    super(`no model could answer (${errorCode}); left to SQS redelivery`);
    this.name = 'RedeliverLater';
  }
}

/**
 * What happens to a job when its message is delivered: claim it, walk its fallback chain (retrying each model
 * with backoff within the invocation's time, skipping models whose circuit is open), record the outcome and
 * announce it; or, when no model can answer yet, put it back on the queue with a delay.
 * Safe under duplicate and concurrent deliveries of the same job; a delivery that fails after its claim gives the
 * job back (and if even that fails, its own redelivery may take the lease over).
 */
export async function processDelivery(delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const { store, log, clock, policy } = deps;
  // The request first: a message that carries none (a large request is read from its item) and finds no item
  // cannot run the job, and must not touch it: the job's own message, which carries or stored it, still will
  // (or the sweep fails the job at its deadline).
  const request = delivery.request ?? (await store.getRequest(delivery.jobId));
  if (!request) {
    log.warn('message without its request dropped', { jobId: delivery.jobId, messageId: delivery.messageId });
    return { kind: 'skipped', reason: 'no-request' };
  }
  const claimedAt = clock();
  const expiresAt = leaseExpiry(claimedAt, delivery.remainingMillis());
  const claimant = {
    owner: delivery.owner,
    messageId: delivery.messageId,
    receiveCount: delivery.receiveCount,
    ...(delivery.requestHash !== undefined && { requestHash: delivery.requestHash }),
    ...(delivery.poll !== undefined && { poll: delivery.poll }),
  };
  const claim = () => store.claim(delivery.jobId, claimant, { expiresAt }, claimedAt);
  let claimed = await claim();
  if (!claimed) {
    let existing = await store.get(delivery.jobId, clock());
    // A message can outrun the write of its job by a few milliseconds (the submit sends it first): look once more
    // before deferring it with a new message.
    if (!existing && recordMayBeLanding(delivery, clock())) {
      await deps.sleep(RECORD_LANDING_WAIT_MS);
      claimed = await claim();
      if (!claimed) existing = await store.get(delivery.jobId, clock());
    }
    if (!claimed) return settleRefusedClaim(delivery, existing, deps);
  }
  if (claimed.batchId !== undefined && deps.batches) {
    // Only the running count is wrong for a while if this fails: the job's end is counted on the announcement's guarantee.
    await deps.batches.started(claimed).catch((error: Error) => log.warn('batch start not counted', { jobId: claimed!.jobId, error: error.name }));
  }
  log.debug?.('job running', { jobId: claimed.jobId, route: claimed.route, modelId: claimed.modelId, receiveCount: delivery.receiveCount, requeues: claimed.requeues ?? 0 });

  const attempts: Attempt[] = [];
  try {
    if (tooLateToRun(claimed, claimedAt, policy)) {
      // Held in a backlog (or by delays) past its deadline: say so now rather than answer late.
      return await finishFailed(claimed, { code: 'JOB_DEADLINE_EXCEEDED', message: `The job was not picked up within ${deadlineSecondsOf(claimed, policy)}s of submission.` }, attempts, delivery, deps);
    }
    return await runClaimed({ ...claimed, request }, attempts, delivery, deps);
  } catch (error) {
    if (!(error instanceof RedeliverLater)) {
      // Give the job back before the delivery fails, so its redelivery can claim it at once; if this write fails
      // too, the redelivery of this same message takes the lease over.
      const now = clock();
      await store.release(claimed.jobId, delivery.owner, { attempts, sweepAt: sweepAtFor(now.getTime(), policy) }, now).catch(() => undefined);
    }
    throw error;
  }
}

/**
 * Routes the job (lambda/core/route-decision.ts: decided again at each delivery, so a metric route follows the
 * figures of now), walks the chain, and settles the outcome; a terminal write records the routing.
 */
async function runClaimed(job: RunnableJob, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  if (job.request.modelInput !== undefined) return runAsyncJob(job, attempts, delivery, deps);
  const decision = await decideRoute(job, delivery, deps);
  const outcome = await answerFromChain({ ...job, chain: decision.chain }, attempts, delivery, deps);
  const routed = (answeredBy?: string): RunnableJob => ({ ...job, routing: settledRouting(decision, answeredBy, attempts) });
  if (outcome.kind === 'answered') return finishSucceeded(routed(outcome.result.modelId), outcome.result, attempts, delivery, deps);
  if (outcome.kind === 'failed') return finishFailed(routed(), outcome.error, attempts, delivery, deps);
  if (outcome.kind === 'waiting') return waitForCapacity(routed(), outcome, attempts, delivery, deps);
  const cached = await cachedAnswer(job, deps);
  if (cached) return finishSucceeded(routed(cached.modelId), cached, attempts, delivery, deps);
  return retryLater(routed(), outcome, attempts, delivery, deps);
}

/** Every model failed: an answer the route cached for the same tenant, model and request, if it opted in. */
async function cachedAnswer(job: RunnableJob, deps: ProcessingDeps): Promise<JobResult | undefined> {
  if (!isCacheable(job, deps.routing)) return undefined;
  const cached = await deps.cache.get(responseCacheKey(job), deps.clock()).catch((error: Error) => {
    deps.log.warn('response cache unavailable', { jobId: job.jobId, error: error.name });
    return undefined;
  });
  if (!cached) return undefined;
  deps.observer.observe({ type: 'cache-served', route: job.route });
  return { ...cached, servedFrom: 'cache' };
}

/** No model could answer now: fail at the deadline or the call budget, else back to the queue with a delay. */
async function retryLater(job: RunnableJob, outcome: Extract<ChainOutcome, { kind: 'unavailable' }>, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const { clock, log, policy } = deps;
  const now = clock();
  const calls = modelCalls(job) + modelCalls({ attempts });
  const pastDeadline = now.getTime() >= deadlineOf(job, policy);
  if (pastDeadline || calls >= policy.maxModelCalls) {
    const why = pastDeadline ? `within ${deadlineSecondsOf(job, policy)}s of submission` : `in ${calls} model calls`;
    const last = outcome.lastError ? ` (last error: ${outcome.lastError.code})` : '';
    return finishFailed(job, { code: 'ALL_MODELS_UNAVAILABLE', message: `No model of route "${job.route}" could answer ${why}${last}.` }, attempts, delivery, deps);
  }

  // Never sleep past the deadline: a job that cannot be answered in time should say so when its time is up.
  const delaySeconds = Math.min(secondsToDeadline(job, policy, now), requeueDelaySeconds(job.requeues ?? 0, policy.requeue, outcome.retryAt ? { now: now.getTime(), at: outcome.retryAt } : undefined));
  const release = { what: 'release', write: () => deps.store.release(job.jobId, delivery.owner, { attempts, sweepAt: sweepAtFor(now.getTime() + delaySeconds * 1000, policy) }, now) };
  if (policy.requeue.mode === 'redeliver') {
    if (!(await persistently(release.what, release.write, delivery.remainingMillis, deps))) return { kind: 'skipped', reason: 'lease-lost' };
    log.info('job left to SQS redelivery', { jobId: job.jobId, lastError: outcome.lastError?.code, receiveCount: delivery.receiveCount });
    throw new RedeliverLater(outcome.lastError?.code ?? 'UNAVAILABLE');
  }
  return requeue({
    record: release,
    message: messageOf(job),
    delaySeconds,
    log: { message: 'job requeued', fields: { jobId: job.jobId, lastError: outcome.lastError?.code, outOfTime: outcome.outOfTime, requeues: (job.requeues ?? 0) + 1 } },
  }, delivery, deps);
}

/** No capacity now: back to the queue until the reserved slot (or until capacity may free up), without a model call. */
async function waitForCapacity(job: RunnableJob, waiting: { waitMs: number; reservation?: Reservation }, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const now = deps.clock();
  if (now.getTime() + waiting.waitMs >= deadlineOf(job, deps.policy)) {
    return finishFailed(job, { code: 'ALL_MODELS_UNAVAILABLE', message: `No capacity on the quota of route "${job.route}" within ${deadlineSecondsOf(job, deps.policy)}s of submission.` }, attempts, delivery, deps);
  }
  const delaySeconds = Math.min(900, Math.max(1, Math.ceil(waiting.waitMs / 1000)));
  const sweepAt = sweepAtFor(now.getTime() + delaySeconds * 1000, deps.policy);
  return requeue({
    record: { what: 'release', write: () => deps.store.release(job.jobId, delivery.owner, { attempts, reservation: waiting.reservation, sweepAt }, now) },
    message: messageOf(job),
    delaySeconds,
    log: { message: 'job waiting for capacity', fields: { jobId: job.jobId, modelId: waiting.reservation?.modelId, reserved: waiting.reservation !== undefined } },
  }, delivery, deps);
}
