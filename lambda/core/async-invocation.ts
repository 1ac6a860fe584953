import { asyncOutputUri, asyncPollDelaySeconds, asyncRequestToken, asyncSettingsOf, type AsyncModelSettings } from './async-model';
import { deadlineOf, deadlineSecondsOf, secondsToDeadline, sweepAtFor } from './job-lifecycle';
import type { AsyncInvocationState, AsyncOutput, Attempt, RunnableJob } from './job';
import { classifyModelError } from './model-errors';
import { finishFailed, finishSucceeded, messageOf, persistently, requeue } from './job-settlement';
import type { AsyncInvocationStatus } from './ports';
import type { Delivery, DeliveryOutcome, ProcessingDeps } from './job-processing';
import { requeueDelaySeconds } from './retry-policy';

/*
 * Jobs for models that only Bedrock's asynchronous API serves (config `invocation: "async"`: video generation).
 * The worker starts the invocation (StartAsyncInvoke, its clientRequestToken derived from the job id, so a
 * redelivery never starts a second one; the output goes under the results bucket's ASYNC_PREFIX), records it and
 * lets go of the job; then follows it with GetAsyncInvoke, one poll per delayed queue message at growing intervals
 * (no Lambda waits), until Bedrock says Completed (SUCCEEDED with `result.output`) or Failed (FAILED with its
 * message), or the job's deadline passes.
 *
 * Each poll message carries its number; the job records the number of the next poll it expects, and a claim takes
 * only that message (or the one that last held the job, whose redelivery must be able to carry on if its send
 * failed). A duplicate or superseded poll message is dropped, so one chain of messages follows each invocation.
 */

/** A job's async invocation: start it if it has not been, else look at it once. */
export async function runAsyncJob(job: RunnableJob, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  if (!deps.asyncModels) throw new Error('the worker has no async invoker: an async job cannot run here');
  return job.asyncInvocation ? pollInvocation(job, job.asyncInvocation, attempts, delivery, deps) : startInvocation(job, attempts, delivery, deps);
}

async function startInvocation(job: RunnableJob, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const { clock } = deps;
  const settings = asyncSettingsOf(deps.routing, job.modelId);
  const outputUri = asyncOutputUri(deps.asyncOutputBucket!, job.jobId);
  const started = clock();
  let invocationArn: string;
  try {
    invocationArn = await deps.asyncModels!.start({ modelId: job.modelId, modelInput: job.request.modelInput!, outputUri, clientRequestToken: asyncRequestToken(job.jobId) }, deps.homeRegion);
  } catch (error) {
    const failure = classifyModelError(error, { modelId: job.modelId, region: deps.homeRegion });
    if (failure.disposition === 'unexpected') throw error;
    attempts.push({ modelId: job.modelId, region: deps.homeRegion, outcome: 'failed', errorCode: failure.code, latencyMs: clock().getTime() - started.getTime(), startedAt: started.toISOString() });
    // Too many invocations in progress (the account's concurrency quota) passes as the running ones end.
    if (failure.disposition === 'retry' || failure.code === 'MODEL_QUOTA_EXCEEDED') return startLater(job, attempts, delivery, deps);
    return finishFailed(job, { code: failure.code, message: failure.message }, attempts, delivery, deps);
  }
  const now = clock();
  attempts.push({ modelId: job.modelId, region: deps.homeRegion, outcome: 'succeeded', latencyMs: now.getTime() - started.getTime(), startedAt: started.toISOString() });
  deps.log.info('async invocation started', { jobId: job.jobId, modelId: job.modelId, invocationArn });
  return awaitNextPoll(job, { invocationArn, startedAt: now.toISOString(), outputUri, polls: 1 }, attempts, delivery, deps, settings);
}

async function pollInvocation(job: RunnableJob, invocation: AsyncInvocationState, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const settings = asyncSettingsOf(deps.routing, job.modelId);
  let state: AsyncInvocationStatus;
  try {
    state = await deps.asyncModels!.get(invocation.invocationArn, deps.homeRegion);
  } catch (error) {
    const failure = classifyModelError(error, { modelId: job.modelId, region: deps.homeRegion });
    if (failure.disposition === 'unexpected') throw error;
    if (failure.disposition !== 'retry') {
      return finishFailed(job, { code: failure.code, message: `GetAsyncInvoke of ${invocation.invocationArn} failed: ${failure.message}` }, attempts, delivery, deps);
    }
    deps.log.warn('async invocation not readable now; polling again later', { jobId: job.jobId, error: failure.code });
    return awaitNextPoll(job, { ...invocation, polls: invocation.polls + 1 }, attempts, delivery, deps, settings);
  }
  if (state.status === 'Completed') {
    const files = await persistently('output listing', () => deps.asyncOutputs!.list(invocation.outputUri), delivery.remainingMillis, deps);
    const output: AsyncOutput = { s3Uri: invocation.outputUri, files };
    deps.log.info('async invocation completed', { jobId: job.jobId, invocationArn: invocation.invocationArn, files: files.length, polls: invocation.polls });
    return finishSucceeded(job, { modelId: job.modelId, stopReason: 'completed', usage: { inputTokens: 0, outputTokens: 0 }, output }, attempts, delivery, deps);
  }
  if (state.status === 'Failed') {
    return finishFailed(job, { code: 'ASYNC_INVOCATION_FAILED', message: state.failureMessage || `The asynchronous invocation ${invocation.invocationArn} failed.` }, attempts, delivery, deps);
  }
  if (deps.clock().getTime() >= deadlineOf(job, deps.policy)) {
    return finishFailed(job, { code: 'JOB_DEADLINE_EXCEEDED', message: `The invocation ${invocation.invocationArn} did not complete within ${deadlineSecondsOf(job, deps.policy)}s of submission (Bedrock may still write its output to ${invocation.outputUri}).` }, attempts, delivery, deps);
  }
  return awaitNextPoll(job, { ...invocation, polls: invocation.polls + 1 }, attempts, delivery, deps, settings);
}

/**
 * Records the invocation and the poll the job now expects, lets go of the job (it stays RUNNING: Bedrock is running
 * it), then sends that poll's message (never later than the deadline). A message superseded meanwhile is dropped at
 * its claim.
 */
function awaitNextPoll(job: RunnableJob, invocation: AsyncInvocationState, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps, settings: AsyncModelSettings): Promise<DeliveryOutcome> {
  const now = deps.clock();
  const delaySeconds = Math.min(900, secondsToDeadline(job, deps.policy, now), asyncPollDelaySeconds(invocation.polls, settings));
  const sweepAt = sweepAtFor(now.getTime() + delaySeconds * 1000, deps.policy);
  return requeue({
    record: { what: 'invocation record', write: () => deps.store.awaitInvocation(job.jobId, delivery.owner, { asyncInvocation: invocation, attempts, sweepAt }, now) },
    message: { ...messageOf(job), poll: invocation.polls },
    delaySeconds,
    log: { message: 'async invocation in progress', fields: { jobId: job.jobId, invocationArn: invocation.invocationArn, nextPoll: invocation.polls } },
  }, delivery, deps);
}

/** Bedrock could not start it now (throttled, unavailable, too many in progress): back to the queue, QUEUED, with a growing delay. */
function startLater(job: RunnableJob, attempts: Attempt[], delivery: Delivery, deps: ProcessingDeps): Promise<DeliveryOutcome> {
  const now = deps.clock();
  const delaySeconds = Math.min(secondsToDeadline(job, deps.policy, now), requeueDelaySeconds(job.requeues ?? 0, deps.policy.requeue));
  return requeue({
    record: { what: 'release', write: () => deps.store.release(job.jobId, delivery.owner, { attempts, sweepAt: sweepAtFor(now.getTime() + delaySeconds * 1000, deps.policy) }, now) },
    message: messageOf(job),
    delaySeconds,
    log: { message: 'async invocation not started; requeued', fields: { jobId: job.jobId, lastError: attempts.at(-1)?.errorCode } },
  }, delivery, deps);
}
