import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC_DIMENSIONS, METRIC_NAMESPACE, METRIC_SERVICE, METRICS } from '../../../lambda/core/metric-names';
import { modelMetrics } from '../../../lambda/handlers/model-metrics';

interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

/** The EMF objects written to stdout while `act` runs (metrics are on, as in Lambda). */
function emfWrittenBy(act: (observer: ReturnType<typeof modelMetrics>, functionMetrics: Metrics) => void): Emf[] {
  const disabled = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  try {
    const functionMetrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: METRIC_SERVICE });
    act(modelMetrics(functionMetrics), functionMetrics);
  } finally {
    write.mockRestore();
    process.env.POWERTOOLS_METRICS_DISABLED = disabled;
  }
  return lines.map((line) => JSON.parse(line) as Emf).filter((o) => o._aws);
}

const namesOf = (emf: Emf) => emf._aws.CloudWatchMetrics[0].Metrics.map((m) => m.Name).sort();

describe('modelMetrics', () => {
  it('writes one EMF object per model call holding all of its metrics under the {service, modelId} dimension set the dashboard reads', () => {
    const written = emfWrittenBy((observer) =>
      observer.observe({ type: 'call', modelId: 'sonnet', region: 'us-east-1', outcome: 'succeeded', latencyMs: 812, usage: { inputTokens: 120, outputTokens: 45 } }),
    );
    expect(written).toHaveLength(1);
    const [emf] = written;
    expect(emf._aws.CloudWatchMetrics).toHaveLength(1);
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe(METRIC_NAMESPACE);
    expect(emf._aws.CloudWatchMetrics[0].Dimensions.map((set) => [...set].sort())).toEqual([[METRIC_DIMENSIONS.modelId, METRIC_DIMENSIONS.service].sort()]);
    expect(namesOf(emf)).toEqual([METRICS.model.invocations, METRICS.model.latency, METRICS.model.inputTokens, METRICS.model.outputTokens].sort());
    expect(emf).toMatchObject({
      [METRIC_DIMENSIONS.service]: METRIC_SERVICE,
      [METRIC_DIMENSIONS.modelId]: 'sonnet',
      [METRICS.model.invocations]: 1,
      [METRICS.model.latency]: 812,
      [METRICS.model.inputTokens]: 120,
      [METRICS.model.outputTokens]: 45,
    });
  });

  it('puts a throttle, or another failure, in the same object as the call it belongs to', () => {
    const written = emfWrittenBy((observer) => {
      observer.observe({ type: 'call', modelId: 'haiku', region: 'us-east-1', outcome: 'failed', errorCode: 'MODEL_THROTTLED', latencyMs: 40 });
      observer.observe({ type: 'call', modelId: 'haiku', region: 'us-east-1', outcome: 'failed', errorCode: 'MODEL_ERROR', latencyMs: 90 });
    });
    expect(written.map(namesOf)).toEqual([
      [METRICS.model.invocations, METRICS.model.latency, METRICS.model.throttles].sort(),
      [METRICS.model.errors, METRICS.model.invocations, METRICS.model.latency].sort(),
    ]);
    expect(written.map((emf) => emf[METRICS.model.latency])).toEqual([40, 90]);
  });

  it('keeps each model in its own object, and the pipeline metrics out of the per-model ones', () => {
    const written = emfWrittenBy((observer, functionMetrics) => {
      observer.observe({ type: 'call', modelId: 'sonnet', region: 'us-east-1', outcome: 'succeeded', latencyMs: 10 });
      observer.observe({ type: 'fallback', fromModelId: 'sonnet', toModelId: 'haiku', reason: 'MODEL_THROTTLED' });
      observer.observe({ type: 'call', modelId: 'haiku', region: 'us-east-1', outcome: 'succeeded', latencyMs: 20 });
      observer.observe({ type: 'requeued', delaySeconds: 5 });
      functionMetrics.publishStoredMetrics();
    });
    expect(written.map((emf) => [emf[METRIC_DIMENSIONS.modelId], namesOf(emf)])).toEqual([
      ['sonnet', [METRICS.model.invocations, METRICS.model.latency].sort()],
      ['sonnet', [METRICS.model.fallbacks]],
      ['haiku', [METRICS.model.invocations, METRICS.model.latency].sort()],
      [undefined, [METRICS.jobs.requeued]],
    ]);
    expect(written[3]._aws.CloudWatchMetrics[0].Dimensions).toEqual([[METRIC_DIMENSIONS.service]]);
  });
});
