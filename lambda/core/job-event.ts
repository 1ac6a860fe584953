import { isTerminal, type Job } from './job';

export interface JobEvent {
  type: 'job.succeeded' | 'job.failed' | 'job.cancelled';
  jobId: string;
  status: Job['status'];
  route: string;
  modelId: string;
  tenant: string;
  usage?: { inputTokens: number; outputTokens: number };
  error?: { code: string; message: string };
  resultLocation?: { bucket: string; key: string };
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
      type,
      jobId: job.jobId,
      status: job.status,
      route: job.route,
      modelId: job.result?.modelId ?? job.modelId,
      tenant: job.tenant,
      ...(job.result && { usage: job.result.usage }),
      ...(job.error && { error: job.error }),
      ...(job.resultLocation && { resultLocation: { bucket: job.resultLocation.bucket, key: job.resultLocation.key } }),
      occurredAt: occurredAt.toISOString(),
    },
    attributes: { status: job.status, route: job.route, tenant: job.tenant },
  };
}
