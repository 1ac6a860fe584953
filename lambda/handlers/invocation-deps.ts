import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ENV, invokeSettingsSchema, readSettings, requestPolicyOf } from '../core/settings';
import { modelCallDeps } from './model-call-deps';

/** What POST /invoke and the streaming function call models with: one container-wide set per function. */
export function invocationDeps(env: Record<string, string | undefined>) {
  const settings = readSettings(invokeSettingsSchema, env);
  const requestPolicy = requestPolicyOf(settings);
  const calls = modelCallDeps({ table: settings[ENV.jobsTable], policy: settings[ENV.resilience], routing: settings[ENV.routes], tenants: settings[ENV.tenants], inputsBucket: requestPolicy.inputsBucket });
  const deps = { ...calls.deps, requestPolicy };
  const { flush } = calls;
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
    flush,
  };
}
