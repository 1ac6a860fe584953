import { routeModels } from './routing';
import { QuarryError } from './errors';
import type { BreakerTarget, BreakerView } from './ports';
import type { RoutingTable } from './settings';

/** GET /models: each configured model id, the routes that use it and its circuit breaker in every region it is called in. */
export interface ModelStatus {
  modelId: string;
  /** Routes that call this model: first, as a fallback, as a tier's or candidate, or as a content route's classifier. */
  routes: string[];
  regions: Omit<BreakerView, 'modelId'>[];
}

/** Every model id the configuration names (routes' models and fallbacks, then the model table), in that order. */
export function configuredModelIds(table: RoutingTable): string[] {
  const ids = Object.values(table.routes).flatMap(routeModels);
  return [...new Set([...ids, ...Object.keys(table.models)])];
}

/** The breakers the worker may use: each model in the home region, then in its failover regions (as the worker tries them). */
export function breakerTargetsOf(table: RoutingTable, homeRegion: string): BreakerTarget[] {
  return configuredModelIds(table).flatMap((modelId) => {
    const regions = [homeRegion, ...(table.models[modelId]?.regions ?? [])];
    return [...new Set(regions)].map((region) => ({ modelId, region }));
  });
}

export function modelStatuses(table: RoutingTable, views: BreakerView[]): { models: ModelStatus[] } {
  const models = configuredModelIds(table).map((modelId) => ({
    modelId,
    routes: Object.entries(table.routes)
      .filter(([, route]) => routeModels(route).includes(modelId) || route.classifier?.modelId === modelId)
      .map(([name]) => name),
    regions: views.filter((view) => view.modelId === modelId).map(({ modelId: _modelId, ...breaker }) => breaker),
  }));
  return { models };
}

export class BreakerStateUnavailableError extends QuarryError {
  constructor() {
    super('BREAKER_STATE_UNAVAILABLE', 'The circuit breaker state could not be read; retry the request.', 503);
  }
}
