import { createHash } from 'node:crypto';
import type { Job } from './job';
import { canonicalJson } from './job-request';

/**
 * The response-cache key of a request: the tenant, the route, the model the job asked for (the route's, or its
 * `modelId` override) and the request itself, so an answer is never served to another tenant, nor to a request
 * that asked for another model.
 */
export function responseCacheKey(job: Pick<Job, 'tenant' | 'route' | 'modelId' | 'request'>): string {
  return createHash('sha256').update(canonicalJson({ tenant: job.tenant, route: job.route, modelId: job.modelId, request: job.request })).digest('hex');
}
