import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { readJsonBody } from '../core/http-body';
import { invokeNow } from '../core/invocation';
import { chatChunks, chatCompletion, chatError, mapChatRequest, type MappedChat } from '../core/openai-chat';
import { ENV } from '../core/settings';
import { errorResponse, tenantOf } from './http';
import type { invocationDeps } from './invocation-deps';

type Invocation = ReturnType<typeof invocationDeps>;

const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
const EVENT_STREAM_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

/**
 * POST /chat/completions (OpenAI-compatible), on the streaming integration so that `stream: true` streams: the
 * answer as a `chat.completion`, or as `data: {chat.completion.chunk}` events ending with `data: [DONE]`. A failure
 * after the stream began is an event `data: {"error": {...}}` (which the openai client raises), without `[DONE]`.
 */
export async function answerChat(event: APIGatewayProxyEvent, responseStream: Writable, context: Context, invocation: Invocation): Promise<Writable> {
  const { settings } = invocation;
  const id = `chatcmpl-${event.requestContext?.requestId ?? context.awsRequestId}`;
  const created = Math.floor(Date.now() / 1000);
  let out: Writable | undefined;
  let mapped: MappedChat | undefined;
  const open = (statusCode: number, headers: Record<string, string>) => (out ??= awslambda.HttpResponseStream.from(responseStream, { statusCode, headers }));
  const data = (payload: unknown) => open(200, EVENT_STREAM_HEADERS).write(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
  try {
    mapped = mapChatRequest(readJsonBody(event, settings[ENV.maxRequestBytes]), settings[ENV.routes]);
    const streaming = mapped.chat.stream === true;
    const chunks = chatChunks(id, created);
    // The model the chunks name: the chain's first until a fallback moves on (no text was sent before then).
    let model = '';
    const answer = await invokeNow(
      { body: mapped.body, tenant: tenantOf(event, settings[ENV.tenants]), invocationId: id },
      {
        remainingMillis: invocation.remainingMillis(event, context),
        seconds: invocation.timeoutSeconds,
        ...(streaming && {
          stream: {
            start: (choice) => ((model = choice.modelId), data(chunks.role(model))),
            fallback: (change) => (model = change.to),
            text: (text) => data(chunks.text(model, text)),
            chunk: () => undefined,
          },
        }),
      },
      invocation.deps,
    ).catch((error: unknown) => Promise.reject(chatError(error, mapped!)));
    if (!streaming) {
      open(200, JSON_HEADERS).write(JSON.stringify(chatCompletion(answer, id, created)));
      return out!;
    }
    data(chunks.finish(answer));
    if (mapped.chat.stream_options?.include_usage) data(chunks.usage(answer));
    data('[DONE]');
  } catch (error) {
    const response = errorResponse(error);
    if (!out) open(response.statusCode, response.headers as Record<string, string>).write(response.body);
    else data(JSON.parse(response.body));
  }
  return out ?? responseStream;
}
