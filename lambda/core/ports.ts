import type { Attempt, Job, JobError, JobResult, ResultLocation, Usage } from './job';
import type { NormalizedJobRequest } from './job-request';

/*
 * What the job use cases need from the outside world. The adapters in lambda/aws implement these;
 * core never imports an SDK.
 */

export interface JobStore {
  create(job: Job, now: Date): Promise<{ created: true } | { created: false; existing: Job }>;
  get(jobId: string, now: Date): Promise<Job | undefined>;
  discardUnqueued(jobId: string): Promise<void>;
  claim(jobId: string, owner: string, leaseExpiresAt: number, now: Date): Promise<Job | undefined>;
  release(jobId: string, owner: string, attempt: Attempt, now: Date): Promise<Job | undefined>;
  markSucceeded(jobId: string, owner: string, outcome: { result: JobResult; resultLocation?: ResultLocation; attempt: Attempt }, now: Date): Promise<Job | undefined>;
  markFailed(jobId: string, owner: string, error: JobError, attempt: Attempt | undefined, now: Date): Promise<Job | undefined>;
  markAbandoned(jobId: string, error: JobError, now: Date): Promise<Job | undefined>;
  markEventPublished(jobId: string, now: Date): Promise<void>;
}

export interface JobEnqueuer {
  enqueue(message: { jobId: string; tenant?: string }): Promise<void>;
}

export interface TerminalEventPublisher {
  publishTerminal(job: Job, now: Date): Promise<void>;
}

export interface ModelInvoker {
  converse(modelId: string, request: NormalizedJobRequest): Promise<{ text: string; stopReason: string; usage: Usage }>;
}

export interface LargeResultStore {
  put(jobId: string, result: JobResult): Promise<ResultLocation>;
}

/** Structured log lines; never given prompt or completion text unless the operator opted in. */
export interface JobLog {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

export type Clock = () => Date;
