import { derivedUuid } from './idempotency';
import { batchLineOf, isTerminal, type Job } from './job';

export interface JobEvent {
  /** Stable for the job's terminal event: a republish carries the same id, so consumers dedupe on it. */
  eventId: string;
  type: 'job.succeeded' | 'job.failed' | 'job.cancelled';
  jobId: string;
  status: Job['status'];
  route: string;
  modelId: string;
  /** The tenant's name in the config. */
  tenant: string;
  metadata?: Record<string, unknown>;
  batchId?: string;
  customId?: string;
  usage?: { inputTokens: number; outputTokens: number };
  error?: { code: string; message: string };
  resultLocation?: { bucket: string; key: string };
  /** An async model's output folder and objects (keys: read them with the results bucket's name). */
  output?: { s3Uri: string; files: { key: string; bytes: number }[] };
  occurredAt: string;
}

/** SNS message attributes; subscribers filter on these. */
export type JobEventAttributes = Record<'status' | 'route' | 'tenant', string>;

/** The one SNS message a job produces when it reaches a terminal state. */
export function jobEvent(job: Job, occurredAt: Date): { message: JobEvent; attributes: JobEventAttributes } {
  if (!isTerminal(job.status)) throw new Error(`job ${job.jobId} is ${job.status}; only terminal jobs have an event`);
  const type = job.status === 'SUCCEEDED' ? 'job.succeeded' : job.status === 'FAILED' ? 'job.failed' : 'job.cancelled';
  return {
    message: {
      eventId: eventIdOf(job.jobId, job.status),
      type,
      jobId: job.jobId,
      status: job.status,
      route: job.route,
      modelId: job.result?.modelId ?? job.modelId,
      tenant: job.tenant,
      ...(job.metadata && { metadata: job.metadata }),
      ...batchLineOf(job),
      ...(job.result && { usage: job.result.usage }),
      // Keys, not links: an event outlives any presigned URL (GET /jobs/{jobId} gives fresh ones).
      ...(job.result?.output && { output: { s3Uri: job.result.output.s3Uri, files: job.result.output.files.map(({ key, bytes }) => ({ key, bytes })) } }),
      ...(job.error && { error: job.error }),
      ...(job.resultLocation && { resultLocation: { bucket: job.resultLocation.bucket, key: job.resultLocation.key } }),
      occurredAt: occurredAt.toISOString(),
    },
    attributes: { status: job.status, route: job.route, tenant: job.tenant },
  };
}

/** Derived from the job and its terminal status: the same for every publish of that event. */
export function eventIdOf(jobId: string, status: Job['status']): string {
  return derivedUuid('job-event', jobId, status);
}
