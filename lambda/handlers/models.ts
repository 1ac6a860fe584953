import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { documentClient } from '../aws/clients';
import { BreakerStore } from '../aws/breaker-store';
import { BreakerStateUnavailableError, breakerTargetsOf, modelStatuses } from '../core/model-status';
import { METRICS } from '../core/metric-names';
import { ENV, modelsSettingsSchema, readSettings } from '../core/settings';
import { errorResponse, jsonResponse } from './http';
import { instrumented, jobLog, logger, metrics, tracer } from './observability';

const settings = readSettings(modelsSettingsSchema, process.env);
const routing = settings[ENV.routes];
const targets = breakerTargetsOf(routing, settings.AWS_REGION);
const breakers = new BreakerStore(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable], settings[ENV.resilience].breaker, jobLog, { figuresBucketMs: settings[ENV.resilience].figuresBucketSeconds * 1000 });

export const handler = instrumented(async (_event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  metrics.addMetric(METRICS.jobs.modelStatusReads, MetricUnit.Count, 1);
  const views = await breakers.describe(targets, new Date()).catch((error: Error) => {
    logger.warn('circuit breaker state unreadable', { error: error.name });
    return new BreakerStateUnavailableError();
  });
  return views instanceof BreakerStateUnavailableError ? errorResponse(views) : jsonResponse(200, modelStatuses(routing, views));
});
