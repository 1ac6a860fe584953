import { EnqueueFailedError, IdempotencyConflictError, ModelNotInPlanError, RouteNotInPlanError, ValidationError } from './errors';
import { expiryFor, type Job, type RunnableJob } from './job';
import { normalizeJobRequest, parseJobRequest, requestFingerprint, type JobRequest } from './job-request';
import { sweepAtFor } from './job-lifecycle';
import type { Tenant } from './tenants';
import { idempotentReplay, newJobId } from './idempotency';
import { routeFor, type RouteChoice } from './routing';
import type { ResiliencePolicy, RoutingTable } from './settings';
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
  /** Sets when the sweep first looks at a job that no worker picked up (lambda/core/job-lifecycle.ts). */
  policy: Pick<ResiliencePolicy, 'sweepGraceSeconds'>;
  clock: Clock;
  log: JobLog;
}

/** 202 for a new job, 200 when an Idempotency-Key replays an earlier one. */
export interface Accepted {
  httpStatus: 200 | 202;
  job: Job;
}


/** Validates a job request, records it QUEUED and puts it on the queue, or changes nothing. */
export async function submitJob(submission: Submission, deps: SubmissionDeps): Promise<Accepted> {
  const request = parseJobRequest(submission.body);
  if (submission.pathRoute && request.route && request.route !== submission.pathRoute) {
    throw new ValidationError(`This path submits to route "${submission.pathRoute}"; the body asks for "${request.route}".`, [{ path: 'route', message: 'conflicts with the path' }]);
  }

  const { route, modelId } = routeWithinPlan(routeFor(request, deps.routing, submission.pathRoute), request, submission.tenant, deps.routing);
  checkMaxTokens(request, modelId, deps.routing);
  const requestHash = requestFingerprint(request, route);
  const now = deps.clock();
  const job: RunnableJob = {
    jobId: newJobId(submission.tenant.name, submission.idempotencyKey),
    status: 'QUEUED',
    tenant: submission.tenant.name,
    route,
    modelId,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    request: normalizeJobRequest(request),
    requestHash,
    ...(submission.idempotencyKey !== undefined && { idempotencyKey: submission.idempotencyKey }),
    ...(request.metadata !== undefined && { metadata: request.metadata }),
    attempts: [],
    expiresAt: expiryFor(now, deps.jobTtlDays),
    sweepAt: sweepAtFor(now.getTime(), deps.policy),
  };

  const written = await deps.store.create(job, now);
  if (!written.created) {
    if (idempotentReplay(written.existing.requestHash, requestHash) === 'conflict') throw new IdempotencyConflictError(written.existing.jobId);
    deps.log.info('job replayed', { jobId: job.jobId, status: written.existing.status });
    // The first submit may have stored the job and failed to enqueue it: a replay never answers for a job that will
    // not run. A second message for a job that was queued is harmless (claims are conditional).
    if (written.existing.status === 'QUEUED') await enqueueOrFail({ ...written.existing, request: job.request }, deps);
    return { httpStatus: 200, job: written.existing };
  }

  try {
    await deps.queue.enqueue({ jobId: job.jobId, tenant: job.tenant, request: job.request });
  } catch (error) {
    deps.log.error('enqueue failed; discarding the job record', { jobId: job.jobId, error: (error as Error).name });
    await deps.store.discardUnqueued(job.jobId).catch((cleanup: Error) => {
      deps.log.error('could not discard the unqueued job', { jobId: job.jobId, error: cleanup.name });
    });
    throw new EnqueueFailedError();
  }
  deps.log.info('job queued', { jobId: job.jobId, route, modelId, tenant: job.tenant });
  return { httpStatus: 202, job };
}

/** A replayed job still QUEUED: its request written again (its first submit may have stopped before), then queued. */
async function enqueueOrFail(job: RunnableJob, deps: SubmissionDeps): Promise<void> {
  try {
    await deps.store.putRequest(job);
    await deps.queue.enqueue({ jobId: job.jobId, tenant: job.tenant, request: job.request });
  } catch (error) {
    deps.log.error('enqueue of a replayed job failed', { jobId: job.jobId, error: (error as Error).name });
    throw new EnqueueFailedError();
  }
}

/** The tenant's plan may limit routes and models: refuse what it excludes, and serve a route by a model it allows. */
function routeWithinPlan(choice: RouteChoice, request: JobRequest, tenant: Tenant, table: RoutingTable): RouteChoice {
  if (tenant.routes && !tenant.routes.includes(choice.route)) throw new RouteNotInPlanError(choice.route, tenant.routes);
  const allowed = tenant.models;
  if (!allowed || allowed.includes(choice.modelId)) return choice;
  if (request.modelId !== undefined) throw new ModelNotInPlanError(choice.modelId, allowed, 'modelId');
  const route = table.routes[choice.route];
  const inPlan = [route.modelId, ...route.fallback].find((id) => allowed.includes(id));
  if (!inPlan) throw new ModelNotInPlanError(choice.modelId, allowed, 'route');
  return { route: choice.route, modelId: inPlan };
}

/** `maxTokens` above the chosen model's output limit is refused here (fallback models with a lower limit get it clamped). */
function checkMaxTokens(request: JobRequest, modelId: string, table: RoutingTable): void {
  const asked = request.inferenceConfig?.maxTokens;
  const limit = table.models[modelId]?.maxOutputTokens;
  if (asked !== undefined && limit !== undefined && asked > limit) {
    throw new ValidationError('The job request is invalid.', [{ path: 'inferenceConfig.maxTokens', message: `at most ${limit} for model ${modelId} (its output limit in this deployment)` }]);
  }
}
