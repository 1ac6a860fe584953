import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, type ContentBlock, type ConverseCommandInput, type Message, type Tool } from '@aws-sdk/client-bedrock-runtime';
import { startBedrockSimulator, type BedrockSimulator } from '../../local/bedrock-sim';
import { imageSize } from '../../local/bedrock-sim/converse-content';
import { GUARDRAIL_DIRECTIVE, GUARDRAIL_MESSAGE } from '../../local/bedrock-sim/converse';
import { pngOf } from '../support/images';

/* The simulator answers rich Converse requests as Bedrock does, through the unmodified AWS SDK client. */

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
let sim: BedrockSimulator;
let client: BedrockRuntimeClient;

beforeAll(async () => {
  sim = await startBedrockSimulator({ seed: 7 });
  client = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: sim.url, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterAll(async () => {
  client.destroy();
  await sim.stop();
});

const user = (...content: ContentBlock[]): Message => ({ role: 'user', content });
const converse = (input: Omit<ConverseCommandInput, 'modelId'>) => client.send(new ConverseCommand({ modelId: HAIKU, ...input }));
const weather: Tool = { toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'] } } } };

describe('images', () => {
  it('counts an image as (width x height) / 750 tokens, after resizing to 1568 px on the long edge', async () => {
    const text = await converse({ messages: [user({ text: 'Describe it.' })] });
    const small = await converse({ messages: [user({ text: 'Describe it.' }, { image: { format: 'png', source: { bytes: pngOf(300, 250) } } })] });
    const large = await converse({ messages: [user({ text: 'Describe it.' }, { image: { format: 'png', source: { bytes: pngOf(3136, 3136) } } })] });
    expect(small.usage!.inputTokens! - text.usage!.inputTokens!).toBe(100);
    // 3136 x 3136 is resized to 1568 x 1568: 3,278 tokens.
    expect(large.usage!.inputTokens! - text.usage!.inputTokens!).toBe(Math.ceil((1568 * 1568) / 750));
  });

  it('refuses bytes that are not an image of the format declared', async () => {
    await expect(converse({ messages: [user({ image: { format: 'jpeg', source: { bytes: pngOf(10, 10) } } })] })).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('Could not process image') });
  });

  it('reads the size from PNG, GIF, JPEG and WebP headers', () => {
    const gif = Buffer.from('474946383961' + '2c01' + 'c800', 'hex');
    const jpeg = Buffer.from('ffd8' + 'ffe00004' + '0000' + 'ffc00011' + '08' + '00c8' + '012c' + '03', 'hex');
    expect(imageSize(Buffer.from(pngOf(7, 9)), 'png')).toEqual({ width: 7, height: 9 });
    expect(imageSize(gif, 'gif')).toEqual({ width: 300, height: 200 });
    expect(imageSize(jpeg, 'jpeg')).toEqual({ width: 300, height: 200 });
    const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8X'), Buffer.from('0a000000' + '00000000' + '2b0100' + 'c70000', 'hex')]);
    expect(imageSize(webp, 'webp')).toEqual({ width: 300, height: 200 });
    expect(imageSize(gif, 'png')).toBeUndefined();
  });
});

describe('documents', () => {
  it('reads a text document as text', async () => {
    const plain = await converse({ messages: [user({ text: 'Summarize.' })] });
    const withDoc = await converse({ messages: [user({ text: 'Summarize.' }, { document: { format: 'txt', name: 'notes', source: { bytes: new TextEncoder().encode('x'.repeat(400)) } } })] });
    expect(withDoc.usage!.inputTokens!).toBeGreaterThanOrEqual(plain.usage!.inputTokens! + 100);
  });
});

describe('tools', () => {
  it('calls a tool the message names, with an input of its schema, and stops with tool_use; answers the result next turn', async () => {
    const first = await converse({ messages: [user({ text: 'What is get_weather in Paris?' })], toolConfig: { tools: [weather] } });
    expect(first.stopReason).toBe('tool_use');
    const toolUse = first.output!.message!.content!.find((b) => b.toolUse)!.toolUse!;
    expect(toolUse).toMatchObject({ name: 'get_weather', input: { city: 'sim-city', unit: 'C' } });
    expect(toolUse.toolUseId).toMatch(/^tooluse_/);

    const second = await converse({
      messages: [user({ text: 'What is get_weather in Paris?' }), first.output!.message!, user({ toolResult: { toolUseId: toolUse.toolUseId!, content: [{ json: { temperature: 21 } }] } })],
      toolConfig: { tools: [weather] },
    });
    expect(second.stopReason).toBe('end_turn');
    expect(second.output!.message!.content![0].text).toBeTruthy();
  });

  it('answers in text when toolChoice is auto and no tool is named, and calls one when it is any', async () => {
    expect((await converse({ messages: [user({ text: 'Hello.' })], toolConfig: { tools: [weather] } })).stopReason).toBe('end_turn');
    expect((await converse({ messages: [user({ text: 'Hello.' })], toolConfig: { tools: [weather], toolChoice: { any: {} } } })).stopReason).toBe('tool_use');
  });

  it('streams a tool call as a block of its own whose input comes in pieces', async () => {
    const response = await client.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user({ text: 'Use get_weather.' })], toolConfig: { tools: [weather] } }));
    let input = '';
    let start: unknown;
    let stop: string | undefined;
    for await (const event of response.stream!) {
      if (event.contentBlockStart?.start?.toolUse) start = event.contentBlockStart.start.toolUse;
      if (event.contentBlockDelta?.delta?.toolUse) input += event.contentBlockDelta.delta.toolUse.input;
      if (event.messageStop) stop = event.messageStop.stopReason;
    }
    expect(start).toMatchObject({ name: 'get_weather' });
    expect(JSON.parse(input)).toEqual({ city: 'sim-city', unit: 'C' });
    expect(stop).toBe('tool_use');
  });

  it('refuses tool blocks without a toolConfig, and a result that answers no tool use, as Bedrock does', async () => {
    const call: Message = { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'get_weather', input: {} } }] };
    await expect(converse({ messages: [user({ text: 'a' }), call, user({ toolResult: { toolUseId: 't1', content: [{ text: 'r' }] } })] })).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('toolConfig field must be defined'),
    });
    await expect(converse({ messages: [user({ text: 'a' }), call, user({ toolResult: { toolUseId: 't2', content: [{ text: 'r' }] } })], toolConfig: { tools: [weather] } })).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('does not match any toolUse'),
    });
  });
});

describe('guardrails and service tiers', () => {
  const guardrailConfig = { guardrailIdentifier: 'abc123', guardrailVersion: '1', trace: 'enabled' as const };

  it('intervenes when the message carries the directive: the blocked message, stop reason guardrail_intervened, the trace', async () => {
    const blocked = await converse({ messages: [user({ text: `Tell me something. ${GUARDRAIL_DIRECTIVE}` })], guardrailConfig });
    expect(blocked.stopReason).toBe('guardrail_intervened');
    expect(blocked.output!.message!.content![0].text).toBe(GUARDRAIL_MESSAGE);
    expect(blocked.trace?.guardrail?.inputAssessment?.abc123).toBeDefined();
    const passed = await converse({ messages: [user({ text: 'Tell me something.' })], guardrailConfig });
    expect(passed.stopReason).toBe('end_turn');
  });

  it('refuses a malformed guardrail version, and echoes the service tier', async () => {
    await expect(converse({ messages: [user({ text: 'a' })], guardrailConfig: { guardrailIdentifier: 'abc123', guardrailVersion: 'v1' } })).rejects.toMatchObject({ name: 'ValidationException' });
    const flex = await converse({ messages: [user({ text: 'a' })], serviceTier: { type: 'flex' } });
    expect(flex.serviceTier).toEqual({ type: 'flex' });
  });
});

describe('service tiers, prompt routers and the routing classifier', () => {
  const admin = (path: string, body: unknown) => fetch(`${sim.url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  afterEach(() => fetch(`${sim.url}/_sim/reset`, { method: 'POST' }));

  it('refuses a tier the model does not take, and throttles flex with the set probability', async () => {
    await admin(`/_sim/models/${encodeURIComponent(HAIKU)}`, { serviceTiers: ['default'] });
    await expect(converse({ messages: [user({ text: 'hi' })], serviceTier: { type: 'flex' } })).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('does not support the flex service tier') });
    expect((await converse({ messages: [user({ text: 'hi' })], serviceTier: { type: 'default' } })).serviceTier).toEqual({ type: 'default' });
    await admin(`/_sim/models/${encodeURIComponent(HAIKU)}`, { serviceTiers: ['default', 'flex'], flexThrottle: 1 });
    await expect(converse({ messages: [user({ text: 'hi' })], serviceTier: { type: 'flex' } })).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect((await converse({ messages: [user({ text: 'hi' })] })).stopReason).toBe('end_turn');
  });

  it('answers through a prompt router ARN and says which model it invoked', async () => {
    const router = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1';
    const short = await client.send(new ConverseCommand({ modelId: router, messages: [user({ text: 'hi' })] }));
    expect(short.trace?.promptRouter?.invokedModelId).toBe('anthropic.claude-3-haiku-20240307-v1:0');
    const long = await client.send(new ConverseCommand({ modelId: router, messages: [user({ text: 'word '.repeat(300) })] }));
    expect(long.trace?.promptRouter?.invokedModelId).toBe('anthropic.claude-3-5-sonnet-20240620-v1:0');
  });

  it("answers Quarry's classifier prompt with a tier as JSON", async () => {
    const answer = await converse({ system: [{ text: 'You classify how demanding a request is for a language model. Answer with JSON only.' }], messages: [user({ text: '<request>\nWhat is 2 + 2?\n</request>' })] });
    expect(answer.output?.message?.content?.[0].text).toBe('{"tier":"simple"}');
  });
});
