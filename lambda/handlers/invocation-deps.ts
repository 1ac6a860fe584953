import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { BreakerStore } from '../aws/breaker-store';
import { CapacityStore } from '../aws/capacity-store';
import { bedrockClient, documentClient } from '../aws/clients';
import { ModelGateway } from '../aws/model-gateway';
import { DynamoResponseCache } from '../aws/response-cache';
import type { InvocationDeps } from '../core/invocation';
import { modelsByTenant } from '../core/tenants';
import { ENV, invokeSettingsSchema, readSettings } from '../core/settings';
import { modelMetrics } from './model-metrics';
import { jobLog, metrics, tracer } from './observability';

/** What POST /invoke and /invoke/stream call models with: one container-wide set per function. */
export function invocationDeps(env: Record<string, string | undefined>) {
  const settings = readSettings(invokeSettingsSchema, env);
  const table = settings[ENV.jobsTable];
  const policy = settings[ENV.resilience];
  const documents = tracer.captureAWSv3Client(documentClient());
  const breakers = new BreakerStore(documents, table, policy.breaker, jobLog);
  const modelObserver = modelMetrics(metrics);
  const deps: InvocationDeps = {
    model: new ModelGateway((region) => tracer.captureAWSv3Client(bedrockClient(region, policy.sdkMaxAttempts))),
    breaker: breakers,
    capacity: new CapacityStore(documents, table, (modelId) => settings[ENV.routes].models[modelId]?.quota, jobLog),
    cache: new DynamoResponseCache(documents, table, policy.cacheTtlSeconds),
    observer: modelObserver,
    log: jobLog,
    clock: () => new Date(),
    sleep: (ms) => sleep(ms),
    random: Math.random,
    routing: settings[ENV.routes],
    allowedModels: modelsByTenant(settings[ENV.tenants]),
    policy,
    homeRegion: env.AWS_REGION ?? 'us-east-1',
  };
  const timeoutSeconds = settings[ENV.invokeTimeoutSeconds];
  return {
    settings,
    deps,
    timeoutSeconds,
    /** The request's time: until the gateway gives up (`timeoutSeconds` after it received the request) or the function does. */
    remainingMillis(event: APIGatewayProxyEvent, context: { getRemainingTimeInMillis(): number }): () => number {
      const deadline = (event.requestContext?.requestTimeEpoch || Date.now()) + timeoutSeconds * 1000;
      return () => Math.min(context.getRemainingTimeInMillis(), deadline - Date.now());
    },
    /** This request's model metrics, one EMF object per model; its successful calls, one breaker write per model. */
    async flush(): Promise<void> {
      modelObserver.flush();
      await breakers.flush(new Date());
    },
  };
}
