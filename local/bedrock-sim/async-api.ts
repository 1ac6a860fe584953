import { setTimeout as sleep } from 'node:timers/promises';
import type { AsyncInvocation } from './async-invoke';
import { BedrockError, MESSAGES } from './errors';
import type { Exchange } from './exchange';
import type { SimulatorState } from './simulator';

/** The async-invoke operations' paths (Bedrock runtime's REST binding). */
export const ASYNC_INVOKE_PATH = /^\/async-invoke(?:\/(.+))?$/;

function view(invocation: AsyncInvocation) {
  return {
    ...invocation,
    submitTime: invocation.submitTime.toISOString(),
    lastModifiedTime: invocation.lastModifiedTime.toISOString(),
    ...(invocation.endTime && { endTime: invocation.endTime.toISOString() }),
  };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new BedrockError('ValidationException', 'The request body is not valid JSON.');
  }
}

/**
 * POST /async-invoke (StartAsyncInvoke), GET /async-invoke/{invocationArn} (GetAsyncInvoke), GET /async-invoke
 * (ListAsyncInvokes). A start goes through the model's availability, quota-free faults and first-token latency
 * (so a test can hold a caller inside the call), and counts as one request of the model in the stats.
 */
export async function handleAsyncInvoke(state: SimulatorState, method: string, arn: string | undefined, query: URLSearchParams, body: Buffer, exchange: Exchange): Promise<void> {
  if (method === 'POST' && arn === undefined) {
    const request = parseJson(body) as { modelId?: unknown };
    const modelId = typeof request?.modelId === 'string' ? request.modelId : '';
    state.stats.request(modelId);
    try {
      const model = state.registry.resolve(modelId);
      const settings = state.settings.effective(modelId, model.baseId);
      if (!settings.available) throw new BedrockError('AccessDeniedException', MESSAGES.accessDenied);
      if (!model.asyncOnly) throw new BedrockError('ValidationException', `The model ${modelId} does not support asynchronous invocation: use InvokeModel or Converse.`);
      const faults = state.faults.roll(modelId, settings.faults);
      if (faults.error) throw faults.error;
      if (settings.latencyMs.firstToken > 0) await sleep(settings.latencyMs.firstToken);
      const invocationArn = state.asyncInvocations.start(modelId, request, settings.async);
      state.stats.ok(modelId);
      exchange.sendJson(200, { invocationArn });
    } catch (error) {
      if (!(error instanceof BedrockError)) throw error;
      state.stats.error(modelId, error.code);
      exchange.sendError(error);
    }
    return;
  }
  try {
    if (method !== 'GET') throw new BedrockError('UnknownOperationException', `No operation matches ${method} /async-invoke`);
    if (arn !== undefined) exchange.sendJson(200, view(await state.asyncInvocations.get(decodeURIComponent(arn))));
    else {
      const page = state.asyncInvocations.list(query);
      exchange.sendJson(200, { asyncInvokeSummaries: page.asyncInvokeSummaries.map(view), ...(page.nextToken && { nextToken: page.nextToken }) });
    }
  } catch (error) {
    if (!(error instanceof BedrockError)) throw error;
    exchange.sendError(error);
  }
}
