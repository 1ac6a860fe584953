import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { readJsonBody } from '../core/http-body';
import { invokeNow } from '../core/invocation';
import { ENV } from '../core/settings';
import { errorResponse, jsonResponse, tenantOf } from './http';
import { invocationDeps } from './invocation-deps';
import { instrumented } from './observability';

const invocation = invocationDeps(process.env);
const { settings } = invocation;

export const handler = instrumented(async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  try {
    const body = readJsonBody(event, settings[ENV.maxRequestBytes]);
    const answer = await invokeNow(
      { body, tenant: tenantOf(event, settings[ENV.tenants]), invocationId: event.requestContext?.requestId ?? randomUUID() },
      { remainingMillis: invocation.remainingMillis(event, context), seconds: invocation.timeoutSeconds },
      invocation.deps,
    );
    return jsonResponse(200, answer);
  } catch (error) {
    return errorResponse(error);
  } finally {
    await invocation.flush();
  }
});
