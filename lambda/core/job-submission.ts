import { EnqueueFailedError, IdempotencyConflictError, ModelNotInPlanError, RouteNotInPlanError, ValidationError } from './errors';
import { expiryFor, type Job, type RunnableJob } from './job';
import { CLOSED_POLICY, normalizeJobRequest, parseJobRequest, requestFingerprint, type JobRequest } from './job-request';
import type { RequestPolicy } from './converse-fields';
import { requestTravelsInMessage } from './delivery';
import type { Tenant } from './tenants';
import { idempotentReplay, newJobId } from './idempotency';
import { routeFor, routeModels, type RouteChoice } from './routing';
import { asyncSettingsOf, isAsyncModel } from './async-model';
import type { RoutingTable } from './settings';
import type { Clock, JobEnqueuer, JobLog, JobStore } from './ports';

export interface Submission {
  body: unknown;
  tenant: Tenant;
  /** The route a static path (e.g. /api/classify) presets. */
  pathRoute?: string;
  idempotencyKey?: string;
}

export interface SubmissionDeps {
  store: JobStore;
  queue: JobEnqueuer;
  routing: RoutingTable;
  jobTtlDays: number;
  clock: Clock;
  log: JobLog;
  /** Where attachments may be and which guardrails a request may name. @default CLOSED_POLICY (neither) */
  requestPolicy?: RequestPolicy;
}

/** 202 for a new job, 200 when an Idempotency-Key replays an earlier one. */
export interface Accepted {
  httpStatus: 200 | 202;
  job: Job;
}


/**
 * Validates a job request, then puts it on the queue and records it QUEUED, in that order, or changes nothing the
 * client can see. The message goes first: a job that exists always has a message that will move it (so no job is
 * ever left without one, whatever fails or crashes between the two writes), and a message whose job was never
 * recorded is dropped by the worker once the submit that sent it can no longer be running
 * (lambda/core/job-lifecycle.ts, afterRefusedClaim). The request travels in the message when it is small, and is
 * then stored nowhere else; a larger one is written as an item of its own before the message is sent.
 */
export async function submitJob(submission: Submission, deps: SubmissionDeps): Promise<Accepted> {
  const { request, route, modelId, modelNamed } = acceptRequest(submission, deps.routing, deps.requestPolicy);
  const requestHash = requestFingerprint(request, route);
  const now = deps.clock();
  const job: RunnableJob = {
    jobId: newJobId(submission.tenant.name, submission.idempotencyKey),
    status: 'QUEUED',
    tenant: submission.tenant.name,
    route,
    modelId,
    ...(modelNamed && { modelNamed }),
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    request: normalizeJobRequest(request),
    requestHash,
    ...(submission.idempotencyKey !== undefined && { idempotencyKey: submission.idempotencyKey }),
    ...(request.metadata !== undefined && { metadata: request.metadata }),
    // An async model's job runs as long as Bedrock takes (a video: minutes), not the deployment's job deadline.
    ...(isAsyncModel(deps.routing, modelId) && { deadlineSeconds: asyncSettingsOf(deps.routing, modelId).deadlineSeconds }),
    attempts: [],
    expiresAt: expiryFor(now, deps.jobTtlDays),
  };

  // A retry with an Idempotency-Key usually finds its job: answer without sending a second message.
  if (submission.idempotencyKey !== undefined) {
    const existing = await deps.store.get(job.jobId, now, 'eventual');
    if (existing) return replayed(existing, requestHash, deps);
  }

  await enqueue(job, deps);
  const written = await deps.store.create(job, now).catch((error: Error) => {
    // The message is out; its worker drops it when it finds no job (the client is told nothing was kept).
    deps.log.error('job record write failed after its message was sent', { jobId: job.jobId, error: error.name });
    throw new EnqueueFailedError();
  });
  // Two submits with one key raced: this one's message is a duplicate of the job (same request: harmless, claims
  // are conditional) or carries another request (its worker drops it: claims check the request's fingerprint).
  if (!written.created) return replayed(written.existing, requestHash, deps);
  deps.log.info('job queued', { jobId: job.jobId, route, modelId, tenant: job.tenant });
  return { httpStatus: 202, job };
}

/**
 * A request body as every path takes it (jobs, synchronous invocations): valid, on a route and a model the tenant's
 * plan allows, asking for no more output than the model gives. Throws the 4xx that names what is wrong.
 */
export function acceptRequest(
  input: Pick<Submission, 'body' | 'tenant' | 'pathRoute'>,
  routing: RoutingTable,
  policy: RequestPolicy = CLOSED_POLICY,
  mode: 'queued' | 'synchronous' = 'queued',
): RouteChoice & { request: JobRequest } {
  const request = parseJobRequest(input.body, { tenant: input.tenant.name, policy });
  if (input.pathRoute && request.route && request.route !== input.pathRoute) {
    throw new ValidationError(`This path submits to route "${input.pathRoute}"; the body asks for "${request.route}".`, [{ path: 'route', message: 'conflicts with the path' }]);
  }
  const choice = routeWithinPlan(routeFor(request, routing, input.pathRoute), request, input.tenant, routing);
  checkInvocationKind(request, choice.modelId, routing, mode);
  checkMaxTokens(request, choice.modelId, routing);
  return { ...choice, request };
}

/** An async model takes `modelInput` jobs only (POST /jobs or a batch); every other model, a conversation. */
function checkInvocationKind(request: JobRequest, modelId: string, table: RoutingTable, mode: 'queued' | 'synchronous'): void {
  const isAsync = isAsyncModel(table, modelId);
  const invalid = (path: string, message: string) => new ValidationError('The job request is invalid.', [{ path, message }]);
  if (isAsync && mode === 'synchronous') throw invalid('modelId', `${modelId} is invoked asynchronously (StartAsyncInvoke): submit it with POST /jobs`);
  if (isAsync && request.modelInput === undefined) throw invalid('modelInput', `required for ${modelId}, an async model: give the model's own input instead of prompt or messages`);
  if (!isAsync && request.modelInput !== undefined) throw invalid('modelInput', `only for an async model; ${modelId} takes prompt or messages`);
}

function replayed(existing: Job, requestHash: string, deps: Pick<SubmissionDeps, 'log'>): Accepted {
  if (idempotentReplay(existing.requestHash, requestHash) === 'conflict') throw new IdempotencyConflictError(existing.jobId);
  deps.log.info('job replayed', { jobId: existing.jobId, status: existing.status });
  return { httpStatus: 200, job: existing };
}

/** Sends the job's message (after writing its request apart if it is too large to travel in it), or fails with 503. */
async function enqueue(job: RunnableJob, deps: SubmissionDeps): Promise<void> {
  const travels = requestTravelsInMessage(job.request);
  try {
    if (!travels) await deps.store.putRequest(job);
    await deps.queue.enqueue({ jobId: job.jobId, tenant: job.tenant, requestHash: job.requestHash, createdAt: job.createdAt, ...(travels && { request: job.request }) });
  } catch (error) {
    deps.log.error('enqueue failed; nothing was recorded', { jobId: job.jobId, error: (error as Error).name });
    throw new EnqueueFailedError();
  }
}

/** The tenant's plan may limit routes and models: refuse what it excludes, and serve a route by a model it allows. */
export function routeWithinPlan(choice: RouteChoice, request: Pick<JobRequest, 'modelId'>, tenant: Tenant, table: RoutingTable): RouteChoice {
  if (tenant.routes && !tenant.routes.includes(choice.route)) throw new RouteNotInPlanError(choice.route, tenant.routes);
  const allowed = tenant.models;
  if (!allowed || allowed.includes(choice.modelId)) return choice;
  if (request.modelId !== undefined) throw new ModelNotInPlanError(choice.modelId, allowed, 'modelId');
  const route = table.routes[choice.route];
  const inPlan = routeModels(route).find((id) => allowed.includes(id));
  if (!inPlan) throw new ModelNotInPlanError(choice.modelId, allowed, 'route');
  return { ...choice, modelId: inPlan };
}

/** `maxTokens` above the chosen model's output limit is refused here (fallback models with a lower limit get it clamped). */
function checkMaxTokens(request: JobRequest, modelId: string, table: RoutingTable): void {
  const asked = request.inferenceConfig?.maxTokens;
  const limit = table.models[modelId]?.maxOutputTokens;
  if (asked !== undefined && limit !== undefined && asked > limit) {
    throw new ValidationError('The job request is invalid.', [{ path: 'inferenceConfig.maxTokens', message: `at most ${limit} for model ${modelId} (its output limit in this deployment)` }]);
  }
}
