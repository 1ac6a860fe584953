import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { readJsonBody } from '../core/http-body';
import { invokeNow } from '../core/invocation';
import { chatChunks, chatCompletion, chatError, mapChatRequest, type MappedChat } from '../core/openai-chat';
import { ENV } from '../core/settings';
import type { ResponseWriter } from './event-stream';
import { errorResponse, jsonResponse, tenantOf } from './http';
import type { invocationDeps } from './invocation-deps';

type Invocation = ReturnType<typeof invocationDeps>;


/**
 * POST /chat/completions (OpenAI-compatible), on the streaming integration so that `stream: true` streams: the
 * answer as a `chat.completion`, or as `data: {chat.completion.chunk}` events ending with `data: [DONE]`. A failure
 * after the stream began is an event `data: {"error": {...}}` (which the openai client raises), without `[DONE]`.
 */
export async function answerChat(event: APIGatewayProxyEvent, writer: ResponseWriter, context: Context, invocation: Invocation): Promise<void> {
  const { settings } = invocation;
  const id = `chatcmpl-${event.requestContext?.requestId ?? context.awsRequestId}`;
  const created = Math.floor(Date.now() / 1000);
  const data = (payload: unknown) => writer.raw(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
  let mapped: MappedChat | undefined;
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
    );
    if (!streaming) return writer.json(jsonResponse(200, chatCompletion(answer, id, created)));
    data(chunks.finish(answer));
    if (mapped.chat.stream_options?.include_usage) data(chunks.usage(answer));
    data('[DONE]');
  } catch (error) {
    const response = errorResponse(mapped ? chatError(error, mapped) : error);
    if (!writer.streaming) return writer.json(response);
    data(JSON.parse(response.body));
  }
}
