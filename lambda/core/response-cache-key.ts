import { createHash } from 'node:crypto';
import type { Job } from './job';
import { canonicalJson, type NormalizedJobRequest } from './job-request';
import { referencesInputs } from './converse-fields';
import type { RoutingTable } from './settings';

/**
 * The response-cache key of a request: the tenant, the route, the model the job asked for (the route's, or its
 * `modelId` override) and the request itself, so an answer is never served to another tenant, nor to a request
 * that asked for another model.
 */
export function responseCacheKey(job: Pick<Job, 'tenant' | 'route' | 'modelId' | 'request'>): string {
  return createHash('sha256').update(canonicalJson({ tenant: job.tenant, route: job.route, modelId: job.modelId, request: job.request })).digest('hex');
}

/**
 * Whether the answer to a request may be cached and served again: its route opted in, and the request is all in its
 * key (an attachment in the inputs bucket may be overwritten under the same URI; a native body is not a Converse one).
 */
export function isCacheable(work: { route: string; request?: NormalizedJobRequest; native?: unknown }, routing: Pick<RoutingTable, 'routes'>): boolean {
  // An async model's job has an output folder, not an answer to serve again.
  return routing.routes[work.route]?.cacheResponses === true && work.native === undefined && work.request?.modelInput === undefined && !(work.request && referencesInputs(work.request.messages));
}
