import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { METRIC_NAMESPACE, METRIC_SERVICE } from '../core/metric-names';
import type { JobLog } from '../core/ports';
import { LeanLogFormatter } from './log-formatter';
import type { StreamifyHandler } from 'aws-lambda';

/**
 * The Powertools tracer and its middleware, unless tracing is off: POWERTOOLS_TRACE_ENABLED=false keeps the X-Ray SDK
 * unloaded, and a bundle built without tracing (QUARRY_BUNDLE_TRACING, lib/constructs/quarry-function.ts) holds none.
 */
const tracing =
  process.env.QUARRY_BUNDLE_TRACING !== 'off' && process.env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() !== 'false' ? loadTracing() : undefined;

/** One logger, metrics and tracer per function container; service and namespace come from POWERTOOLS_* env. */
export const logger = new Logger({ serviceName: METRIC_SERVICE, logFormatter: new LeanLogFormatter(tracing !== undefined) });
export const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: METRIC_SERVICE });

function loadTracing() {
  // Required here, not imported: an import would load the X-Ray SDK in every container.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { Tracer: PowertoolsTracer } = require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
  const { captureLambdaHandler } = require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const xray = new PowertoolsTracer({ serviceName: METRIC_SERVICE });
  return { tracer: xray, middleware: captureLambdaHandler(xray, { captureResponse: false }) };
}

/** What the handlers use of the tracer: their AWS SDK clients, instrumented when tracing is on. */
export const tracer: Pick<Tracer, 'captureAWSv3Client'> = tracing?.tracer ?? { captureAWSv3Client: (client) => client };

export const jobLog: JobLog = {
  debug: (message, fields) => logger.debug(message, fields),
  info: (message, fields) => logger.info(message, fields),
  warn: (message, fields) => logger.warn(message, fields),
  error: (message, fields) => logger.error(message, fields),
};

/** Wraps a handler once with the Powertools middlewares every Quarry function uses (the tracer's only when tracing is on). */
export function instrumented<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  const wrapped = middy(handler);
  if (tracing) wrapped.use(tracing.middleware);
  return wrapped.use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

/**
 * A streaming handler with what `instrumented` gives the others (the logger's Lambda context, the metrics published
 * when it ends). Middy's streaming mode would publish the metrics when the handler returns its stream, before the
 * answer (and its model calls) is done. Tracing covers the AWS clients only (their segments), not the handler.
 */
export function instrumentedStream<E>(handler: StreamifyHandler<E, void>) {
  return awslambda.streamifyResponse<E, void>(async (event, responseStream, context) => {
    logger.addContext(context);
    try {
      await handler(event, responseStream, context);
    } finally {
      metrics.publishStoredMetrics();
    }
  });
}
