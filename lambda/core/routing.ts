import { ModelNotAllowedError, UnknownRouteError } from './errors';
import type { RoutingTable } from './settings';

export interface RouteChoice {
  route: string;
  modelId: string;
}

/**
 * Static routing: the route comes from the static path, else the body, else the default; the model is the
 * route's unless the body names one of the configured models.
 */
export function routeFor(request: { route?: string; modelId?: string }, table: RoutingTable, pathRoute?: string): RouteChoice {
  const route = pathRoute ?? request.route ?? table.defaultRoute;
  const entry = table.routes[route];
  if (!entry) throw new UnknownRouteError(route, Object.keys(table.routes));
  if (request.modelId === undefined) return { route, modelId: entry.modelId };
  const allowed = [...new Set([...Object.values(table.routes).flatMap((r) => [r.modelId, ...r.fallback]), ...Object.keys(table.models)])];
  if (!allowed.includes(request.modelId)) throw new ModelNotAllowedError(request.modelId, allowed);
  return { route, modelId: request.modelId };
}

/** The route a static path (an API Gateway resource such as /api/classify) submits to, if any. */
export function routeForPath(resourcePath: string, table: RoutingTable): string | undefined {
  return Object.entries(table.routes).find(([, r]) => r.path === resourcePath)?.[0];
}
