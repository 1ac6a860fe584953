import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { documentClient } from '../aws/clients';
import { BreakerStore } from '../aws/breaker-store';
import { BreakerStateUnavailableError, breakerTargetsOf, modelStatuses } from '../core/model-status';
import { METRICS } from '../core/metric-names';
import { openApiDocument, routePathsOf } from '../core/openapi';
import { ENV, modelsSettingsSchema, readSettings } from '../core/settings';
import { errorResponse, jsonResponse, locationOf } from './http';
import { instrumented, jobLog, logger, metrics, tracer } from './observability';

const settings = readSettings(modelsSettingsSchema, process.env);
const routing = settings[ENV.routes];
const targets = breakerTargetsOf(routing, settings.AWS_REGION);
const breakers = new BreakerStore(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable], settings[ENV.resilience].breaker, jobLog, { figuresBucketMs: settings[ENV.resilience].figuresBucketSeconds * 1000 });

/** GET /openapi.json: the document of this deployment's API (its route paths, its URL), built once per container. */
let document: ReturnType<typeof openApiDocument> | undefined;
function describeApi(event: APIGatewayProxyEvent): APIGatewayProxyResult {
  document ??= openApiDocument({ routePaths: routePathsOf(routing) });
  const host = event.headers?.Host ?? event.headers?.host;
  const base = locationOf(event, '');
  const servers = host ? [{ url: `${event.headers?.['X-Forwarded-Proto'] ?? 'https'}://${host}${base}` }] : undefined;
  return jsonResponse(200, { ...document, ...(servers && { servers }) }, { 'Cache-Control': 'public, max-age=300' });
}

export const handler = instrumented(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  if (event.resource === '/openapi.json') return describeApi(event);
  metrics.addMetric(METRICS.jobs.modelStatusReads, MetricUnit.Count, 1);
  const views = await breakers.describe(targets, new Date()).catch((error: Error) => {
    logger.warn('circuit breaker state unreadable', { error: error.name });
    return new BreakerStateUnavailableError();
  });
  return views instanceof BreakerStateUnavailableError ? errorResponse(views) : jsonResponse(200, modelStatuses(routing, views));
});
