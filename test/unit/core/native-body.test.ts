import { nativeChunkOutcome, nativeCost, nativeMaxTokens, nativeOutcome, providerFamily, sameFamily } from '../../../lambda/core/native-body';

it.each([
  ['anthropic.claude-3-haiku-20240307-v1:0', 'anthropic'],
  ['us.anthropic.claude-sonnet-4-20250514-v1:0', 'anthropic'],
  ['global.anthropic.claude-sonnet-4-20250514-v1:0', 'anthropic'],
  ['amazon.nova-micro-v1:0', 'amazon.nova'],
  ['eu.amazon.nova-pro-v1:0', 'amazon.nova'],
  ['amazon.titan-text-express-v1', 'amazon.titan'],
  ['meta.llama3-1-70b-instruct-v1:0', 'meta'],
  ['arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123', undefined],
])('reads the provider family of %s as %s', (modelId, family) => {
  expect(providerFamily(modelId)).toBe(family);
});

it('lets a model of unknown family fall back to itself only', () => {
  const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123';
  expect(sameFamily(arn, arn)).toBe(true);
  expect(sameFamily(arn, 'anthropic.claude-3-haiku-20240307-v1:0')).toBe(false);
  expect(sameFamily('amazon.nova-micro-v1:0', 'amazon.titan-text-express-v1')).toBe(false);
});

it("reads each family's output limit, usage and stop reason", () => {
  expect(nativeMaxTokens({ max_tokens: 100 })).toBe(100);
  expect(nativeMaxTokens({ inferenceConfig: { maxTokens: 50 } })).toBe(50);
  expect(nativeMaxTokens({ max_gen_len: 20 })).toBe(20);
  expect(nativeMaxTokens({ prompt: 'x' })).toBeUndefined();
  // {"prompt":"x..."} is 13 + 387 = 400 bytes: 100 tokens, plus the default output limit.
  expect(nativeCost({ prompt: 'x'.repeat(387) }, 1000)).toEqual({ requests: 1, tokens: 100 + 1000 });
  expect(nativeOutcome({ usage: { input_tokens: 3, output_tokens: 4 }, stop_reason: 'max_tokens' })).toEqual({ usage: { inputTokens: 3, outputTokens: 4 }, stopReason: 'max_tokens' });
  expect(nativeOutcome({ usage: { inputTokens: 5, outputTokens: 6 }, stopReason: 'end_turn' })).toEqual({ usage: { inputTokens: 5, outputTokens: 6 }, stopReason: 'end_turn' });
  expect(nativeOutcome({ prompt_token_count: 7, generation_token_count: 8, stop_reason: 'stop' })).toEqual({ usage: { inputTokens: 7, outputTokens: 8 }, stopReason: 'stop' });
  expect(nativeChunkOutcome({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 1, outputTokenCount: 2 } })).toEqual({ usage: { inputTokens: 1, outputTokens: 2 } });
  expect(nativeChunkOutcome({ type: 'message_delta', delta: { stop_reason: 'end_turn' } })).toEqual({ stopReason: 'end_turn' });
});
