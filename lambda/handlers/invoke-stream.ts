import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { readJsonBody } from '../core/http-body';
import { invokeNow } from '../core/invocation';
import { ENV } from '../core/settings';
import { answerChat } from './chat-completions';
import { answerConversation, conversationDeps } from './conversations';
import { ResponseWriter } from './event-stream';
import { tenantOf } from './http';
import { invocationDeps } from './invocation-deps';
import { instrumentedStream } from './observability';

/*
 * POST /invoke/stream (and, on the same kind of integration, POST /chat/completions and the /conversations paths:
 * lambda/handlers/chat-completions.ts, lambda/handlers/conversations.ts): server-sent events through API Gateway's
 * response streaming (Lambda `streamifyResponse`). A bad request is answered as any other path answers it (its 4xx
 * and JSON error); once accepted, the answer is `200 text/event-stream`: `start`, `fallback` (only before the first
 * `delta`), `delta`... (or a native body's `chunk`...), then `stop` or `error`.
 */

const invocation = invocationDeps(process.env);
const { settings } = invocation;
const conversations = conversationDeps(process.env, invocation);

export const handler = instrumentedStream(async (event: APIGatewayProxyEvent, responseStream, context) => {
  const writer = new ResponseWriter(responseStream);
  try {
    if (event.resource === '/chat/completions') await answerChat(event, writer, context, invocation);
    else if (event.resource?.startsWith('/conversations')) await answerConversation(event, writer, context, invocation, conversations);
    else await streamInvocation(event, writer, context);
  } catch (error) {
    writer.fail(error);
  } finally {
    await writer.end();
    await invocation.flush();
  }
});

async function streamInvocation(event: APIGatewayProxyEvent, writer: ResponseWriter, context: { getRemainingTimeInMillis(): number }): Promise<void> {
  const answer = await invokeNow(
    {
      body: readJsonBody(event, settings[ENV.maxRequestBytes]),
      tenant: tenantOf(event, settings[ENV.tenants]),
      invocationId: event.requestContext?.requestId ?? randomUUID(),
    },
    { remainingMillis: invocation.remainingMillis(event, context), seconds: invocation.timeoutSeconds, stream: writer.invocationEvents() },
    invocation.deps,
  );
  writer.event('stop', { stopReason: answer.stopReason, usage: answer.usage, modelId: answer.modelId, routing: answer.routing, latencyMs: answer.latencyMs, ...(answer.content && { content: answer.content }), ...(answer.trace && { trace: answer.trace }), ...(answer.servedFrom && { servedFrom: answer.servedFrom }) });
}
