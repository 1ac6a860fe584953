import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC_DIMENSIONS, METRIC_NAMESPACE, METRIC_SERVICE, METRICS } from '../../../lambda/core/metric-names';
import { modelMetrics } from '../../../lambda/handlers/model-metrics';

interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

/** The EMF objects written to stdout while `act` runs and the invocation ends (metrics are on, as in Lambda). */
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
    const observer = modelMetrics(functionMetrics);
    act(observer, functionMetrics);
    observer.flush();
  } finally {
    write.mockRestore();
    process.env.POWERTOOLS_METRICS_DISABLED = disabled;
  }
  return lines.map((line) => JSON.parse(line) as Emf).filter((o) => o._aws);
}

const namesOf = (emf: Emf) => emf._aws.CloudWatchMetrics[0].Metrics.map((m) => m.Name).sort();

describe('modelMetrics', () => {
  it('writes one EMF object for a model call holding all of its metrics under the {service, modelId} dimension set the dashboard reads', () => {
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

  it("holds an invocation's calls to one model in one object, each metric with every call's value", () => {
    const written = emfWrittenBy((observer) => {
      observer.observe({ type: 'call', modelId: 'haiku', region: 'us-east-1', outcome: 'failed', errorCode: 'MODEL_THROTTLED', latencyMs: 40 });
      observer.observe({ type: 'retry', modelId: 'haiku', region: 'us-east-1', delayMs: 100 });
      observer.observe({ type: 'call', modelId: 'haiku', region: 'us-east-1', outcome: 'failed', errorCode: 'MODEL_ERROR', latencyMs: 90 });
      observer.observe({ type: 'call', modelId: 'haiku', region: 'us-east-1', outcome: 'succeeded', latencyMs: 30, usage: { inputTokens: 5, outputTokens: 7 } });
    });
    expect(written).toHaveLength(1);
    expect(namesOf(written[0])).toEqual(
      [METRICS.model.errors, METRICS.model.invocations, METRICS.model.latency, METRICS.model.retries, METRICS.model.throttles, METRICS.model.inputTokens, METRICS.model.outputTokens].sort(),
    );
    expect(written[0]).toMatchObject({
      [METRICS.model.invocations]: [1, 1, 1],
      [METRICS.model.latency]: [40, 90, 30],
      [METRICS.model.throttles]: 1,
      [METRICS.model.errors]: 1,
      [METRICS.model.retries]: 1,
      [METRICS.model.outputTokens]: 7,
    });
  });

  it('writes nothing before the invocation ends, and nothing for an invocation without events', () => {
    const lines: string[] = [];
    const disabled = process.env.POWERTOOLS_METRICS_DISABLED;
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const observer = modelMetrics(new Metrics({ namespace: METRIC_NAMESPACE, serviceName: METRIC_SERVICE }));
      observer.observe({ type: 'call', modelId: 'sonnet', region: 'us-east-1', outcome: 'succeeded', latencyMs: 10 });
      expect(lines).toEqual([]);
      observer.flush();
      expect(lines).toHaveLength(1);
      observer.flush();
      expect(lines).toHaveLength(1);
    } finally {
      write.mockRestore();
      process.env.POWERTOOLS_METRICS_DISABLED = disabled;
    }
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
      [undefined, [METRICS.jobs.requeued]],
      ['sonnet', [METRICS.model.fallbacks, METRICS.model.invocations, METRICS.model.latency].sort()],
      ['haiku', [METRICS.model.invocations, METRICS.model.latency].sort()],
    ]);
    expect(written[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([[METRIC_DIMENSIONS.service]]);
  });
});
