import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import { METRIC_DIMENSIONS, METRIC_NAMESPACE, METRIC_SERVICE, METRICS } from '../core/metric-names';
import type { ModelCallEvent, ModelCallObserver } from '../core/ports';

type Entry = [name: string, unit: Unit, value: number];

/**
 * Turns job-processing events into Powertools metrics. The per-model metrics (a call: invocation, latency, throttle
 * or error, tokens; a retry, a fallback, ...) are held per model and written by `flush()` as ONE EMF object per model
 * under the {service, modelId} dimension set, each metric with the values of all the invocation's events (EMF
 * takes up to 100 values per metric; Powertools writes the object early when one fills). The worker flushes when
 * its invocation ends, as the middleware does the pipeline's own metrics, which go to the function's `metrics`:
 * a batch of 10 jobs writes one object per model, not one per call. The worker stops its calls before the
 * function's timeout (their deadline is the invocation's remaining time), so the flush is reached.
 */
export function modelMetrics(metrics: Metrics): ModelCallObserver & { flush(): void } {
  const byModel = new Map<string, Metrics>();
  const held = new Set<Metrics>();
  const perModel = (modelId: string, entries: Entry[]) => {
    let model = byModel.get(modelId);
    if (!model) {
      model = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: METRIC_SERVICE, defaultDimensions: { [METRIC_DIMENSIONS.modelId]: modelId } });
      byModel.set(modelId, model);
    }
    for (const [name, unit, value] of entries) model.addMetric(name, unit, value);
    held.add(model);
  };
  return {
    flush() {
      for (const model of held) model.publishStoredMetrics();
      held.clear();
    },
    observe(event: ModelCallEvent) {
      switch (event.type) {
        case 'call': {
          const entries: Entry[] = [
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
        case 'routed': {
          const entries: Entry[] = [[METRICS.model.routed, MetricUnit.Count, 1]];
          if (event.tier) entries.push([{ simple: METRICS.model.routedSimple, medium: METRICS.model.routedMedium, complex: METRICS.model.routedComplex }[event.tier], MetricUnit.Count, 1]);
          if (event.exploring) entries.push([METRICS.model.routedExploring, MetricUnit.Count, 1]);
          perModel(event.modelId, entries);
          return;
        }
        case 'tier-fallback':
          perModel(event.modelId, [[METRICS.model.tierFallbacks, MetricUnit.Count, 1]]);
          return;
        case 'classified':
          perModel(event.modelId, [[METRICS.model.classifications, MetricUnit.Count, 1], ...(event.answered ? [] : ([[METRICS.model.classifierFailures, MetricUnit.Count, 1]] as Entry[]))]);
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
