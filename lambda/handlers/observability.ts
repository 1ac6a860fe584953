import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { METRIC_NAMESPACE, METRIC_SERVICE } from '../core/metric-names';
import type { JobLog } from '../core/ports';

/** One logger, metrics and tracer per function container; service and namespace come from POWERTOOLS_* env. */
export const logger = new Logger({ serviceName: METRIC_SERVICE });
export const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: METRIC_SERVICE });

/**
 * The Powertools tracer, unless POWERTOOLS_TRACE_ENABLED is "false": then the X-Ray SDK is never loaded, which
 * keeps it out of the cold start (the bundle still holds it, unevaluated).
 */
const xray: Tracer | undefined = process.env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() === 'false' ? undefined : loadTracer();

function loadTracer(): Tracer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a static import would load the X-Ray SDK in every container
  const { Tracer: PowertoolsTracer } = require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
  return new PowertoolsTracer({ serviceName: METRIC_SERVICE });
}

/** What the handlers use of the tracer: their AWS SDK clients, instrumented when tracing is on. */
export const tracer: Pick<Tracer, 'captureAWSv3Client'> = xray ?? { captureAWSv3Client: (client) => client };

export const jobLog: JobLog = {
  info: (message, fields) => logger.info(message, fields),
  warn: (message, fields) => logger.warn(message, fields),
  error: (message, fields) => logger.error(message, fields),
};

/** Wraps a handler once with the Powertools middlewares every Quarry function uses (the tracer's only when tracing is on). */
export function instrumented<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  const wrapped = middy(handler);
  if (xray) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- as for the tracer itself
    const { captureLambdaHandler } = require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
    wrapped.use(captureLambdaHandler(xray, { captureResponse: false }));
  }
  return wrapped.use(injectLambdaContext(logger)).use(logMetrics(metrics));
}
