import {
  base64Bytes,
  converseIssues,
  estimateBlockTokens,
  guardrailId,
  IMAGE_TOKENS_ESTIMATE,
  referencesInputs,
  type ConverseMessage,
} from '../../../lambda/core/converse-fields';

const policy = { inputsBucket: 'quarry-inputs', guardrailIds: ['abc123'] };
const context = { policy, tenant: 'acme' };
const stored = (uri: string): ConverseMessage => ({ role: 'user', content: [{ image: { format: 'png', source: { s3Location: { uri } } } }] });
const tools = { tools: [{ toolSpec: { name: 'lookup', inputSchema: { json: {} } } }] };

describe('converseIssues', () => {
  it("takes an attachment in the tenant's part of the inputs bucket, and nothing else", () => {
    expect(converseIssues([stored('s3://quarry-inputs/acme/a.png')], {}, context)).toEqual([]);
    expect(converseIssues([stored('s3://quarry-inputs/globex/a.png')], {}, context).map((i) => i.path)).toEqual(['messages.0.content.0.image.source.s3Location.uri']);
    expect(converseIssues([stored('s3://other-bucket/acme/a.png')], {}, context)[0].message).toContain('inputs bucket');
    expect(converseIssues([stored('s3://quarry-inputs/acme/../globex/a.png')], {}, context)).toHaveLength(1);
    expect(converseIssues([stored('s3://quarry-inputs/acme/a.png')], {}, { ...context, policy: { guardrailIds: [] } })[0].message).toContain('no inputs bucket');
  });

  it('pairs tool results with the tool calls of the message before, each answered once, with a toolConfig', () => {
    const call: ConverseMessage = { role: 'assistant', content: [{ toolUse: { toolUseId: 'a', name: 'lookup', input: {} } }, { toolUse: { toolUseId: 'b', name: 'lookup', input: {} } }] };
    const answer = (...ids: string[]): ConverseMessage => ({ role: 'user', content: ids.map((toolUseId) => ({ toolResult: { toolUseId, content: [{ text: 'r' }] } })) });
    const ask: ConverseMessage = { role: 'user', content: [{ text: 'q' }] };
    expect(converseIssues([ask, call, answer('a', 'b')], { toolConfig: tools }, context)).toEqual([]);
    expect(converseIssues([ask, call, answer('a')], { toolConfig: tools }, context)).toEqual([{ path: 'messages.2.content', message: expect.stringContaining('missing: b') }]);
    expect(converseIssues([ask, call, answer('a', 'b')], {}, context).map((i) => i.path)).toEqual(['toolConfig']);
  });

  it('accepts a configured guardrail by id or ARN, and names the field for any other', () => {
    const config = (guardrailIdentifier: string) => ({ guardrailConfig: { guardrailIdentifier, guardrailVersion: '1' } });
    const ask: ConverseMessage[] = [{ role: 'user', content: [{ text: 'q' }] }];
    expect(converseIssues(ask, config('abc123'), context)).toEqual([]);
    expect(converseIssues(ask, config('arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123'), context)).toEqual([]);
    expect(converseIssues(ask, config('zzz999'), context).map((i) => i.path)).toEqual(['guardrailConfig.guardrailIdentifier']);
    expect(guardrailId('arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123')).toBe('abc123');
  });
});

describe('token estimates and attachments', () => {
  it('counts text at four characters a token, an image at its resized cap, an inline document by its bytes', () => {
    expect(estimateBlockTokens({ text: 'x'.repeat(40) })).toBe(10);
    expect(estimateBlockTokens({ image: { format: 'png', source: { bytes: 'aGk=' } } })).toBe(IMAGE_TOKENS_ESTIMATE);
    expect(estimateBlockTokens({ document: { format: 'txt', name: 'n', source: { bytes: Buffer.from('y'.repeat(400)).toString('base64') } } })).toBe(100);
    expect(base64Bytes(Buffer.from('hello').toString('base64'))).toBe(5);
  });

  it('knows a request that names a stored attachment, even inside a tool result (it is never cached)', () => {
    expect(referencesInputs([stored('s3://quarry-inputs/acme/a.png')])).toBe(true);
    expect(referencesInputs([{ role: 'user', content: [{ toolResult: { toolUseId: 'a', content: [{ image: { format: 'png', source: { s3Location: { uri: 's3://b/k' } } } }] } }] }])).toBe(true);
    expect(referencesInputs([{ role: 'user', content: [{ text: 'q' }] }])).toBe(false);
  });
});
