import { ModelNotAllowedError, UnknownRouteError } from './errors';
import type { RouteEntry, RoutingTable } from './settings';

/** Every model a route may walk (its chain, every tier's, or every candidate), for plan checks. */
export function routeModels(route: RouteEntry): string[] {
  if (route.strategy === 'content' && route.tiers) return [...new Set(Object.values(route.tiers).flatMap((t) => [t.modelId, ...t.fallback]))];
  if (route.strategy === 'metric' && route.candidates) return route.candidates;
  return [route.modelId, ...route.fallback];
}

export interface RouteChoice {
  route: string;
  modelId: string;
  /** The request named the model on a content or metric route: routing does not choose for it. */
  modelNamed?: boolean;
}

/**
 * The route comes from the static path, else the body, else the default; the model is the route's (for a content
 * or metric route, the one its jobs are queued with until the worker routes them) unless the body names one of the
 * configured models.
 */
export function routeFor(request: { route?: string; modelId?: string }, table: RoutingTable, pathRoute?: string): RouteChoice {
  const route = pathRoute ?? request.route ?? table.defaultRoute;
  const entry = table.routes[route];
  if (!entry) throw new UnknownRouteError(route, Object.keys(table.routes));
  if (request.modelId === undefined) return { route, modelId: entry.modelId };
  const modelId = modelIdOf(request.modelId, table);
  const allowed = [...new Set([...Object.values(table.routes).flatMap(routeModels), ...Object.keys(table.models)])];
  if (!allowed.includes(modelId)) throw new ModelNotAllowedError(request.modelId, allowed);
  return { route, modelId, ...(entry.strategy !== 'static' && { modelNamed: true }) };
}

/** A model named by its key in the config (`nova-reel`) or by its id: the id. */
export function modelIdOf(named: string, table: Pick<RoutingTable, 'models'>): string {
  if (table.models[named]) return named;
  return Object.entries(table.models).find(([, model]) => model.key === named)?.[0] ?? named;
}

/** The route a static path (an API Gateway resource such as /api/classify) submits to, if any. */
export function routeForPath(resourcePath: string, table: RoutingTable): string | undefined {
  return Object.entries(table.routes).find(([, r]) => r.path === resourcePath)?.[0];
}
