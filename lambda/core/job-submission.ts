import type { z } from 'zod';
import { EnqueueFailedError, IdempotencyConflictError, ValidationError } from './errors';
import { expiryFor, type Job } from './job';
import { conversationIssues, jobRequestSchema, normalizeJobRequest, requestFingerprint } from './job-request';
import { idempotentReplay, newJobId } from './idempotency';
import { routeFor } from './routing';
import type { RoutingTable } from './settings';
import type { Clock, JobEnqueuer, JobLog, JobStore } from './ports';

export interface Submission {
  body: unknown;
  tenant: string;
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
}

/** 202 for a new job, 200 when an Idempotency-Key replays an earlier one. */
export interface Accepted {
  httpStatus: 200 | 202;
  job: Job;
}

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/** Validates a job request, records it QUEUED and puts it on the queue, or changes nothing. */
export async function submitJob(submission: Submission, deps: SubmissionDeps): Promise<Accepted> {
  const parsed = jobRequestSchema.safeParse(submission.body);
  if (!parsed.success) throw new ValidationError('The job request is invalid.', issuesOf(parsed.error));
  const request = parsed.data;
  const extra = conversationIssues(request);
  if (extra.length > 0) throw new ValidationError('The job request is invalid.', extra);
  if (submission.pathRoute && request.route && request.route !== submission.pathRoute) {
    throw new ValidationError(`This path submits to route "${submission.pathRoute}"; the body asks for "${request.route}".`, [{ path: 'route', message: 'conflicts with the path' }]);
  }

  const { route, modelId } = routeFor(request, deps.routing, submission.pathRoute);
  const requestHash = requestFingerprint(request, route);
  const now = deps.clock();
  const job: Job = {
    jobId: newJobId(submission.tenant, submission.idempotencyKey),
    status: 'QUEUED',
    tenant: submission.tenant,
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
  };

  const written = await deps.store.create(job, now);
  if (!written.created) {
    if (idempotentReplay(written.existing.requestHash, requestHash) === 'conflict') throw new IdempotencyConflictError(written.existing.jobId);
    deps.log.info('job replayed', { jobId: job.jobId, status: written.existing.status });
    return { httpStatus: 200, job: written.existing };
  }

  try {
    await deps.queue.enqueue({ jobId: job.jobId, tenant: job.tenant });
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
