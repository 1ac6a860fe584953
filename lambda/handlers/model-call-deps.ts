import { setTimeout as sleep } from 'node:timers/promises';
import { BreakerStore } from '../aws/breaker-store';
import { CapacityStore } from '../aws/capacity-store';
import { bedrockClient, documentClient, s3Client } from '../aws/clients';
import { InputStore } from '../aws/input-store';
import { ModelGateway } from '../aws/model-gateway';
import { DynamoResponseCache } from '../aws/response-cache';
import type { InvocationDeps } from '../core/invocation';
import type { ResiliencePolicy, RoutingTable } from '../core/settings';
import { modelsByTenant, type TenantDirectory } from '../core/tenants';
import { modelMetrics } from './model-metrics';
import { jobLog, metrics, tracer } from './observability';

/**
 * What every function that calls models through the resilience path needs (the worker, POST /invoke and the
 * streaming function): the Bedrock gateway, breakers, quota schedules, the response cache and the model metrics,
 * one container-wide set. `flush` ends an invocation: its model metrics, one EMF object per model, and its
 * successful calls, one breaker write per model.
 */
export function modelCallDeps(settings: { table: string; policy: ResiliencePolicy; routing: RoutingTable; tenants: TenantDirectory; inputsBucket?: string }) {
  const { table, policy, routing } = settings;
  const documents = tracer.captureAWSv3Client(documentClient());
  const breakers = new BreakerStore(documents, table, policy.breaker, jobLog, { figuresBucketMs: policy.figuresBucketSeconds * 1000 });
  const modelObserver = modelMetrics(metrics);
  const deps: InvocationDeps = {
    model: new ModelGateway(
      (region) => tracer.captureAWSv3Client(bedrockClient(region, policy.sdkMaxAttempts)),
      settings.inputsBucket ? new InputStore(tracer.captureAWSv3Client(s3Client())) : undefined,
    ),
    breaker: breakers,
    capacity: new CapacityStore(documents, table, (modelId) => routing.models[modelId]?.quota, jobLog),
    cache: new DynamoResponseCache(documents, table, policy.cacheTtlSeconds),
    observer: modelObserver,
    log: jobLog,
    clock: () => new Date(),
    sleep: (ms) => sleep(ms),
    random: Math.random,
    routing,
    allowedModels: modelsByTenant(settings.tenants),
    policy,
    homeRegion: process.env.AWS_REGION ?? 'us-east-1',
  };
  return {
    deps,
    async flush(): Promise<void> {
      modelObserver.flush();
      await breakers.flush(new Date());
    },
  };
}
