import { QuarryError } from '../../../lambda/core/errors';
import { acceptRequest } from '../../../lambda/core/job-submission';
import { chatError, finishReason, mapChatRequest } from '../../../lambda/core/openai-chat';
import { routingTableSchema } from '../../../lambda/core/settings';

const routing = routingTableSchema.parse({
  defaultRoute: 'generate',
  routes: { generate: { modelId: 'model-a', fallback: ['model-b'] } },
  models: { 'model-a': { key: 'big', maxOutputTokens: 1000 }, 'model-b': { key: 'small' } },
});

/** The chat request's paths of what the Quarry validation finds wrong with its mapped body. */
function pathsOf(chat: unknown): string[] {
  let mapped;
  try {
    mapped = mapChatRequest(chat, routing);
    acceptRequest({ body: mapped.body, tenant: { name: 'default' } }, routing);
  } catch (error) {
    const pointed = mapped ? chatError(error, mapped) : error;
    if (pointed instanceof QuarryError) return (pointed.details ?? []).map((d) => d.path);
    throw error;
  }
  return [];
}

it('maps system and developer messages to the system prompt, merges consecutive turns of one role, and maps the options', () => {
  const { body } = mapChatRequest(
    {
      model: 'small',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'one' },
        { role: 'user', content: [{ type: 'text', text: 'two' }] },
        { role: 'assistant', content: 'ok' },
        { role: 'developer', content: 'Answer in French.' },
        { role: 'user', content: 'three' },
      ],
      max_completion_tokens: 20,
      temperature: 0.5,
      top_p: 0.9,
      stop: 'END',
      frequency_penalty: 0.1,
    },
    routing,
  );
  expect(body).toEqual({
    modelId: 'model-b',
    system: 'Be brief.\n\nAnswer in French.',
    messages: [
      { role: 'user', content: [{ text: 'one' }, { text: 'two' }] },
      { role: 'assistant', content: [{ text: 'ok' }] },
      { role: 'user', content: [{ text: 'three' }] },
    ],
    inferenceConfig: { maxTokens: 20, temperature: 0.5, topP: 0.9, stopSequences: ['END'] },
  });
  expect(mapChatRequest({ model: 'generate', messages: [{ role: 'user', content: 'x' }] }, routing).body).toMatchObject({ route: 'generate' });
  expect(mapChatRequest({ model: 'model-a', messages: [{ role: 'user', content: 'x' }] }, routing).body).toMatchObject({ modelId: 'model-a' });
});

it("names the chat request's own fields when the mapped request is invalid", () => {
  expect(pathsOf({ model: 'generate', messages: [{ role: 'system', content: 's' }, { role: 'assistant', content: 'first' }, { role: 'user', content: 'x' }] })).toEqual(['messages.1.role', 'messages.2.role']);
  expect(pathsOf({ model: 'generate', messages: [{ role: 'user', content: 'x' }], max_tokens: 5000 })).toEqual(['max_tokens']);
  expect(pathsOf({ model: 'generate', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] })).toEqual(['stop']);
  expect(pathsOf({ model: 'generate', messages: [{ role: 'system', content: 'only' }] })).toEqual(['messages']);
  expect(pathsOf({ model: 'generate', messages: [{ role: 'tool', content: 'x' }] })).toEqual(['messages.0.role']);
  expect(pathsOf({ model: 'generate', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } })).toEqual(['response_format']);
  expect(pathsOf({ messages: [{ role: 'user', content: 'x' }] })).toEqual(['model']);
});

it.each([
  ['end_turn', 'stop'],
  ['stop_sequence', 'stop'],
  ['max_tokens', 'length'],
  ['tool_use', 'tool_calls'],
  ['guardrail_intervened', 'content_filter'],
  ['content_filtered', 'content_filter'],
])('maps stop reason %s to finish_reason %s', (stopReason, expected) => {
  expect(finishReason(stopReason)).toBe(expected);
});
