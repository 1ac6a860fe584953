import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { METRIC_NAMESPACE, METRIC_SERVICE } from '../core/metric-names';
import type { JobLog } from '../core/ports';

/** One logger, metrics and tracer per function container; service and namespace come from POWERTOOLS_* env. */
export const logger = new Logger({ serviceName: METRIC_SERVICE });
export const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: METRIC_SERVICE });
export const tracer = new Tracer({ serviceName: METRIC_SERVICE });

export const jobLog: JobLog = {
  info: (message, fields) => logger.info(message, fields),
  warn: (message, fields) => logger.warn(message, fields),
  error: (message, fields) => logger.error(message, fields),
};

/** Wraps a handler once with the Powertools middlewares every Quarry function uses. */
export function instrumented<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  return middy(handler)
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}
