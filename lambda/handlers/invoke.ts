import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { BreakerStore } from '../aws/breaker-store';
import { CapacityStore } from '../aws/capacity-store';
import { bedrockClient, documentClient } from '../aws/clients';
import { ModelGateway } from '../aws/model-gateway';
import { DynamoResponseCache } from '../aws/response-cache';
import { readJsonBody } from '../core/http-body';
import { invokeNow, type InvocationDeps } from '../core/invocation';
import { modelsByTenant } from '../core/tenants';
import { ENV, invokeSettingsSchema, readSettings } from '../core/settings';
import { errorResponse, jsonResponse, tenantOf } from './http';
import { modelMetrics } from './model-metrics';
import { instrumented, jobLog, metrics, tracer } from './observability';

const settings = readSettings(invokeSettingsSchema, process.env);
const table = settings[ENV.jobsTable];
const policy = settings[ENV.resilience];
const timeoutSeconds = settings[ENV.invokeTimeoutSeconds];
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
  homeRegion: process.env.AWS_REGION ?? 'us-east-1',
};

export const handler = instrumented(async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  // The gateway gives up `timeoutSeconds` after it received the request: every decision is taken against that.
  const deadline = (event.requestContext?.requestTimeEpoch || Date.now()) + timeoutSeconds * 1000;
  const remainingMillis = () => Math.min(context.getRemainingTimeInMillis(), deadline - Date.now());
  try {
    const body = readJsonBody(event, settings[ENV.maxRequestBytes]);
    const answer = await invokeNow(
      { body, tenant: tenantOf(event, settings[ENV.tenants]), invocationId: event.requestContext?.requestId ?? randomUUID() },
      { remainingMillis, seconds: timeoutSeconds },
      deps,
    );
    return jsonResponse(200, answer);
  } catch (error) {
    return errorResponse(error);
  } finally {
    // This request's model metrics, one EMF object per model; its successful calls, one breaker write per model.
    modelObserver.flush();
    await breakers.flush(new Date());
  }
});
