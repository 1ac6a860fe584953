import type { RoutingTable } from './settings';

/** One place a job may be answered: a model in a region. */
export interface Candidate {
  modelId: string;
  region: string;
  contextWindow?: number;
}

/**
 * The ordered candidates for a job: the chain its routing decided (lambda/core/route-decision.ts), else its model
 * then the route's fallback models; each model in the function's own region first, then its failover regions.
 */
export function candidatesFor(job: { route: string; modelId: string; chain?: string[] }, table: RoutingTable, homeRegion: string): Candidate[] {
  const route = table.routes[job.route];
  const models = job.chain ?? [job.modelId, ...(route?.fallback ?? []).filter((id) => id !== job.modelId)];
  return models.flatMap((modelId) => {
    const info = table.models[modelId];
    const regions = [homeRegion, ...(info?.regions ?? []).filter((r) => r !== homeRegion)];
    return regions.map((region) => ({ modelId, region, ...(info?.contextWindow !== undefined && { contextWindow: info.contextWindow }) }));
  });
}

/** After a context-window overflow only a model with a strictly larger (known) window can help. */
export function fitsLargerContext(candidate: Candidate, overflowedWindow: number | undefined): boolean {
  if (overflowedWindow === undefined) return true;
  return candidate.contextWindow !== undefined && candidate.contextWindow > overflowedWindow;
}
