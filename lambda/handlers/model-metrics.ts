import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import { METRIC_DIMENSIONS, METRICS } from '../core/metric-names';
import type { ModelCallEvent, ModelCallObserver } from '../core/ports';

/** Turns job-processing events into Powertools metrics: per model under a `modelId` dimension, the rest plain. */
export function modelMetrics(metrics: Metrics): ModelCallObserver {
  const perModel = (modelId: string, entries: [string, Unit, number][]) => {
    for (const [name, unit, value] of entries) {
      const single = metrics.singleMetric();
      single.addDimension(METRIC_DIMENSIONS.modelId, modelId);
      single.addMetric(name, unit, value);
    }
  };
  return {
    observe(event: ModelCallEvent) {
      switch (event.type) {
        case 'call': {
          const entries: [string, Unit, number][] = [
            [METRICS.model.invocations, MetricUnit.Count, 1],
            [METRICS.model.latency, MetricUnit.Milliseconds, event.latencyMs],
          ];
          if (event.errorCode === 'MODEL_THROTTLED') entries.push([METRICS.model.throttles, MetricUnit.Count, 1]);
          else if (event.outcome === 'failed') entries.push([METRICS.model.errors, MetricUnit.Count, 1]);
          if (event.usage) {
            entries.push([METRICS.model.inputTokens, MetricUnit.Count, event.usage.inputTokens], [METRICS.model.outputTokens, MetricUnit.Count, event.usage.outputTokens]);
          }
          perModel(event.modelId, entries);
          return;
        }
        case 'abandoned':
          perModel(event.modelId, [[METRICS.model.abandoned, MetricUnit.Count, 1]]);
          return;
        case 'retry':
          perModel(event.modelId, [[METRICS.model.retries, MetricUnit.Count, 1]]);
          return;
        case 'fallback':
          perModel(event.fromModelId, [[METRICS.model.fallbacks, MetricUnit.Count, 1]]);
          return;
        case 'breaker':
          perModel(event.modelId, [[METRICS.model.breakerTransitions, MetricUnit.Count, 1]]);
          return;
        case 'cache-served':
          metrics.addMetric(METRICS.jobs.cacheServed, MetricUnit.Count, 1);
          return;
        case 'requeued':
          metrics.addMetric(METRICS.jobs.requeued, MetricUnit.Count, 1);
          return;
      }
    },
  };
}
