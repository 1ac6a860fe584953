import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { QuarryError } from '../core/errors';
import { readJsonBody } from '../core/http-body';
import { invokeNow } from '../core/invocation';
import { ENV } from '../core/settings';
import { errorResponse, tenantOf } from './http';
import { answerChat } from './chat-completions';
import { answerConversation, conversationDeps } from './conversations';
import { invocationDeps } from './invocation-deps';
import { instrumentedStream } from './observability';

/*
 * POST /invoke/stream (and, on the same kind of integration, POST /chat/completions and the /conversations paths:
 * lambda/handlers/chat-completions.ts, lambda/handlers/conversations.ts): server-sent events through API Gateway's response streaming (Lambda `streamifyResponse`; the
 * `awslambda` globals come from the Node.js runtime, and locally from the function host). A bad request is answered
 * as any other path answers it (its 4xx and JSON error); once accepted, the answer is `200 text/event-stream`:
 * `start`, `fallback` (only before the first `delta`), `delta`..., then `stop` or `error`.
 */

const invocation = invocationDeps(process.env);
const { settings } = invocation;
const conversations = conversationDeps(process.env, invocation);

const EVENT_STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

/** One server-sent event: its type and a JSON payload on one `data:` line (JSON text never holds a raw newline). */
export const sseEvent = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

export const handler = instrumentedStream(async (event: APIGatewayProxyEvent, responseStream, context) => {
  const other = event.resource === '/chat/completions' ? answerChat : event.resource?.startsWith('/conversations') ? answerConversation : undefined;
  if (other) {
    try {
      await endStream(await other(event, responseStream, context, invocation, conversations));
    } finally {
      await invocation.flush();
    }
    return;
  }
  let events: Writable | undefined;
  let produced = false;
  const send = (type: string, data: unknown) => {
    events ??= awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: EVENT_STREAM_HEADERS });
    events.write(sseEvent(type, data));
  };
  try {
    const body = readJsonBody(event, settings[ENV.maxRequestBytes]);
    const answer = await invokeNow(
      { body, tenant: tenantOf(event, settings[ENV.tenants]), invocationId: event.requestContext?.requestId ?? randomUUID() },
      {
        remainingMillis: invocation.remainingMillis(event, context),
        seconds: invocation.timeoutSeconds,
        stream: {
          start: (choice) => send('start', choice),
          fallback: (change) => send('fallback', change),
          text: (text) => ((produced = true), send('delta', { text })),
          chunk: (chunk) => ((produced = true), send('chunk', chunk)),
        },
      },
      invocation.deps,
    );
    send('stop', { stopReason: answer.stopReason, usage: answer.usage, modelId: answer.modelId, latencyMs: answer.latencyMs, ...(answer.servedFrom && { servedFrom: answer.servedFrom }) });
  } catch (error) {
    const response = errorResponse(error);
    if (!events) {
      // Not accepted: the status and JSON error every other path answers with.
      events = awslambda.HttpResponseStream.from(responseStream, { statusCode: response.statusCode, headers: response.headers as Record<string, string> });
      events.write(response.body);
    } else {
      const { code, message } = (JSON.parse(response.body) as { error: { code: string; message: string } }).error;
      const retryAfterSeconds = error instanceof QuarryError ? error.retryAfterSeconds : undefined;
      send('error', { code, message, incomplete: produced, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }) });
    }
  } finally {
    await endStream(events ?? responseStream);
    await invocation.flush();
  }
});

/** Ends a stream and waits until everything written has been handed on. */
function endStream(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished) return resolve();
    stream.once('finish', () => resolve());
    stream.once('error', () => resolve());
    stream.end();
  });
}
