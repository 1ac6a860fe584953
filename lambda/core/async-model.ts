import { createHash } from 'node:crypto';
import type { RoutingTable } from './settings';

/*
 * What a model with `invocation: "async"` is in this deployment (its settings, its output folder, its poll
 * intervals), pure: the submit checks it, the worker runs it (lambda/core/async-invocation.ts).
 */

/** Key prefix of async invocations' output in the results bucket (Bedrock writes one folder per invocation in it). */
export const ASYNC_PREFIX = 'async/';

export interface AsyncModelSettings {
  /** Seconds from submission within which the invocation must have completed. */
  deadlineSeconds: number;
  /** Seconds to the first GetAsyncInvoke; each later wait is 1.5 times longer, up to `maxPollSeconds`. */
  firstPollSeconds: number;
  maxPollSeconds: number;
}

/** Defaults of `models.<key>.async`: Nova Reel takes about 90 s for a 6 s video and up to ~17 min for 2 minutes. */
export const ASYNC_DEFAULTS: AsyncModelSettings = { deadlineSeconds: 86_400, firstPollSeconds: 10, maxPollSeconds: 120 };

/** Whether a model is served by StartAsyncInvoke in this deployment. */
export function isAsyncModel(routing: Pick<RoutingTable, 'models'>, modelId: string): boolean {
  return routing.models[modelId]?.invocation === 'async';
}

export function asyncSettingsOf(routing: Pick<RoutingTable, 'models'>, modelId: string): AsyncModelSettings {
  return { ...ASYNC_DEFAULTS, ...routing.models[modelId]?.async };
}

/** The invocation's clientRequestToken: the same for every delivery of the job, in Bedrock's alphabet. */
export function asyncRequestToken(jobId: string): string {
  return createHash('sha256').update(`quarry-async:${jobId}`).digest('hex');
}

/** Where the job's invocation writes: a folder of its own under ASYNC_PREFIX. */
export function asyncOutputUri(bucket: string, jobId: string): string {
  return `s3://${bucket}/${ASYNC_PREFIX}${jobId}/`;
}

/** Seconds before poll number `poll` (1 = the first after the start), growing 1.5x from the first to the most. */
export function asyncPollDelaySeconds(poll: number, settings: Pick<AsyncModelSettings, 'firstPollSeconds' | 'maxPollSeconds'>): number {
  return Math.max(1, Math.min(settings.maxPollSeconds, Math.round(settings.firstPollSeconds * 1.5 ** Math.max(0, poll - 1))));
}
