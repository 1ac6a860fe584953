import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  type ConverseStreamOutput,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import http from 'node:http';
import http2 from 'node:http2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startBedrockSimulator, type BedrockSimulator } from '../../local/bedrock-sim';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const SONNET_4 = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const NOVA = 'amazon.nova-micro-v1:0';
const NOVA_PRO = 'us.amazon.nova-pro-v1:0';
const LLAMA = 'meta.llama3-8b-instruct-v1:0';

let sim: BedrockSimulator;

beforeAll(async () => {
  sim = await startBedrockSimulator({ seed: 7 });
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(async () => {
  await admin('POST', '/_sim/reset');
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${sim.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const configure = (modelId: string, settings: unknown) => admin('PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);

const user = (text: string): Message[] => [{ role: 'user', content: [{ text }] }];
const decode = (bytes: Uint8Array | undefined) => JSON.parse(Buffer.from(bytes ?? new Uint8Array()).toString('utf8'));
const words = (text: string) => text.split(' ').filter(Boolean);

const anthropicBody = (text: string, maxTokens = 1000) =>
  JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: maxTokens, system: 'Be brief.', messages: [{ role: 'user', content: text }] });
const novaBody = (text: string, maxTokens?: number) =>
  JSON.stringify({ messages: [{ role: 'user', content: [{ text }] }], ...(maxTokens ? { inferenceConfig: { maxTokens } } : {}) });
const llamaBody = (text: string, maxGenLen?: number) => JSON.stringify({ prompt: text, ...(maxGenLen ? { max_gen_len: maxGenLen } : {}) });

async function captureError(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** Starts a ConverseStream with a raw client and drops the connection at the first bytes of the body. */
function abandonConverseStream(transport: 'h1' | 'h2', url: string): Promise<void> {
  const body = JSON.stringify({ messages: user('abandon me') });
  return new Promise((resolve, reject) => {
    if (transport === 'h2') {
      const session = http2.connect(new URL(url).origin);
      const stream = session.request({ ':method': 'POST', ':path': new URL(url).pathname, 'content-type': 'application/json' });
      stream.once('data', () => {
        session.destroy();
        resolve();
      });
      stream.on('error', reject);
      stream.end(body);
    } else {
      const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', reject);
      request.end(body);
    }
  });
}

const transports = [
  ['HTTP/2 (default handler)', () => ({})],
  ['HTTP/1.1 (NodeHttpHandler)', () => ({ requestHandler: new NodeHttpHandler() })],
] as const;

describe.each(transports)('Bedrock simulator over %s', (name, handlerConfig) => {
  let client: BedrockRuntimeClient;

  beforeAll(() => {
    client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: sim.url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
      ...handlerConfig(),
    });
  });
  afterAll(() => client.destroy());

  it('answers ValidationException when maxTokens exceeds the model limit, as Bedrock does', async () => {
    const error = await captureError(client.send(new ConverseCommand({ modelId: HAIKU, messages: user('hi'), inferenceConfig: { maxTokens: 4097 } })));
    expect(error.name).toBe('ValidationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain('model limit of 4096');
    const ok = await client.send(new ConverseCommand({ modelId: SONNET_4, messages: user('hi'), inferenceConfig: { maxTokens: 4097 } }));
    expect(ok.stopReason).toBe('end_turn');
  });

  const invoke = async (modelId: string, body: string) => {
    const response = await client.send(new InvokeModelCommand({ modelId, body, contentType: 'application/json', accept: 'application/json' }));
    return { response, json: decode(response.body) };
  };
  const invokeStream = async (modelId: string, body: string) => {
    const response = await client.send(new InvokeModelWithResponseStreamCommand({ modelId, body, contentType: 'application/json' }));
    const chunks: any[] = [];
    for await (const event of response.body ?? []) chunks.push(decode(event.chunk?.bytes));
    return { response, chunks };
  };
  const converse = (modelId: string, text: string, maxTokens?: number) =>
    client.send(new ConverseCommand({ modelId, messages: user(text), ...(maxTokens ? { inferenceConfig: { maxTokens } } : {}) }));
  const converseStream = async (modelId: string, text: string, maxTokens?: number) => {
    const response = await client.send(
      new ConverseStreamCommand({ modelId, messages: user(text), ...(maxTokens ? { inferenceConfig: { maxTokens } } : {}) }),
    );
    const events: ConverseStreamOutput[] = [];
    for await (const event of response.stream ?? []) events.push(event);
    return { response, events };
  };

  describe('InvokeModel with native bodies', () => {
    it('answers an Anthropic Messages body', async () => {
      const { response, json } = await invoke(HAIKU, anthropicBody('Describe granite.'));
      expect(response.$metadata.httpStatusCode).toBe(200);
      expect(response.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.contentType).toBe('application/json');
      expect(json).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-3-haiku-20240307', stop_reason: 'end_turn' });
      expect(json.id).toMatch(/^msg_bdrk_/);
      expect(json.content).toEqual([{ type: 'text', text: expect.any(String) }]);
      expect(words(json.content[0].text)).toHaveLength(48);
      // "Be brief." + "\n" + "Describe granite." = 27 chars -> ceil(27 / 4)
      expect(json.usage).toEqual({ input_tokens: 7, output_tokens: 48 });
    });

    it('answers an Amazon Nova body', async () => {
      const { json } = await invoke(NOVA, novaBody('Describe basalt.'));
      expect(json.output.message.role).toBe('assistant');
      expect(words(json.output.message.content[0].text)).toHaveLength(48);
      expect(json.stopReason).toBe('end_turn');
      expect(json.usage).toMatchObject({ inputTokens: 4, outputTokens: 48, totalTokens: 52 });
    });

    it('answers a Meta Llama body', async () => {
      const { json } = await invoke(LLAMA, llamaBody('Describe marble.'));
      expect(words(json.generation)).toHaveLength(48);
      expect(json).toMatchObject({ prompt_token_count: 4, generation_token_count: 48, stop_reason: 'stop' });
    });

    it('accepts a URL-encoded application inference profile ARN as an Anthropic model', async () => {
      const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';
      const { json } = await invoke(arn, anthropicBody('hello'));
      expect(json.type).toBe('message');
      const stats = await admin('GET', '/_sim/stats');
      expect(stats.json.models[arn]).toMatchObject({ requests: 1, ok: 1 });
    });

    it('truncates at max_tokens with each family’s stop reason', async () => {
      const anthropic = (await invoke(HAIKU, anthropicBody('long please', 5))).json;
      expect(anthropic.stop_reason).toBe('max_tokens');
      expect(anthropic.usage.output_tokens).toBe(5);
      expect(words(anthropic.content[0].text)).toHaveLength(5);
      const nova = (await invoke(NOVA, novaBody('long please', 6))).json;
      expect([nova.stopReason, nova.usage.outputTokens]).toEqual(['max_tokens', 6]);
      const llama = (await invoke(LLAMA, llamaBody('long please', 7))).json;
      expect([llama.stop_reason, llama.generation_token_count]).toEqual(['length', 7]);
    });
  });

  describe('InvokeModelWithResponseStream', () => {
    it('streams Anthropic chunks that add up to the InvokeModel text', async () => {
      const whole = (await invoke(HAIKU, anthropicBody('Stream about slate.'))).json.content[0].text;
      const { response, chunks } = await invokeStream(HAIKU, anthropicBody('Stream about slate.'));
      expect(response.contentType).toBe('application/json');
      expect(chunks.map((c) => c.type)).toEqual([
        'message_start',
        'content_block_start',
        ...Array(48).fill('content_block_delta'),
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);
      const text = chunks.filter((c) => c.type === 'content_block_delta').map((c) => c.delta.text).join('');
      expect(text).toBe(whole);
      expect(chunks[2].delta.type).toBe('text_delta');
      expect(chunks.at(-2)).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 48 } });
      expect(chunks.at(-1)['amazon-bedrock-invocationMetrics']).toEqual({
        inputTokenCount: 8,
        outputTokenCount: 48,
        invocationLatency: expect.any(Number),
        firstByteLatency: expect.any(Number),
      });
    });

    it('streams Nova chunks', async () => {
      const { chunks } = await invokeStream(NOVA, novaBody('Stream about ridges.', 3));
      expect(chunks.map((c) => Object.keys(c)[0])).toEqual([
        'messageStart',
        'contentBlockDelta',
        'contentBlockDelta',
        'contentBlockDelta',
        'contentBlockStop',
        'messageStop',
        'metadata',
      ]);
      expect(chunks[5].messageStop.stopReason).toBe('max_tokens');
      expect(chunks[6].metadata.usage).toEqual({ inputTokens: 5, outputTokens: 3 });
      expect(chunks[6]['amazon-bedrock-invocationMetrics'].outputTokenCount).toBe(3);
    });

    it('streams Llama chunks', async () => {
      const whole = (await invoke(LLAMA, llamaBody('Stream about rivers.'))).json.generation;
      const { chunks } = await invokeStream(LLAMA, llamaBody('Stream about rivers.'));
      expect(chunks).toHaveLength(48);
      expect(chunks.map((c) => c.generation).join('')).toBe(whole);
      expect(chunks[0].prompt_token_count).toBe(5);
      expect(chunks[1].prompt_token_count).toBeNull();
      expect(chunks.at(-1)).toMatchObject({ generation_token_count: 48, stop_reason: 'stop' });
      expect(chunks.at(-1)['amazon-bedrock-invocationMetrics'].inputTokenCount).toBe(5);
    });
  });

  describe('Converse and ConverseStream', () => {
    it.each([HAIKU, SONNET_4, NOVA_PRO, LLAMA])('converses with %s', async (modelId) => {
      const response = await converse(modelId, 'Tell me about quarries.');
      expect(response.$metadata.httpStatusCode).toBe(200);
      expect(response.output?.message?.role).toBe('assistant');
      const text = response.output?.message?.content?.[0].text ?? '';
      expect(words(text)).toHaveLength(48);
      expect(response.stopReason).toBe('end_turn');
      expect(response.usage).toEqual({ inputTokens: 6, outputTokens: 48, totalTokens: 54 });
      expect(response.metrics?.latencyMs).toEqual(expect.any(Number));
    });

    it.each([HAIKU, NOVA, LLAMA])('streams a conversation with %s', async (modelId) => {
      const whole = (await converse(modelId, 'Stream it.')).output?.message?.content?.[0].text;
      const { events } = await converseStream(modelId, 'Stream it.');
      expect(Object.keys(events[0])).toEqual(['messageStart']);
      expect(events[0].messageStart?.role).toBe('assistant');
      const deltas = events.filter((e) => e.contentBlockDelta).map((e) => e.contentBlockDelta?.delta?.text);
      expect(deltas).toHaveLength(48);
      expect(deltas.join('')).toBe(whole);
      const tail = events.slice(-3);
      expect(tail[0].contentBlockStop?.contentBlockIndex).toBe(0);
      expect(tail[1].messageStop?.stopReason).toBe('end_turn');
      expect(tail[2].metadata?.usage).toEqual({ inputTokens: 3, outputTokens: 48, totalTokens: 51 });
      expect(tail[2].metadata?.metrics?.latencyMs).toEqual(expect.any(Number));
    });

    it('truncates at inferenceConfig.maxTokens with stopReason max_tokens', async () => {
      const response = await converse(NOVA, 'Say a lot.', 4);
      expect(response.stopReason).toBe('max_tokens');
      expect(response.usage?.outputTokens).toBe(4);
      expect(words(response.output?.message?.content?.[0].text ?? '')).toHaveLength(4);
      const { events } = await converseStream(HAIKU, 'Say a lot.', 2);
      expect(events.filter((e) => e.contentBlockDelta)).toHaveLength(2);
      expect(events.find((e) => e.messageStop)?.messageStop?.stopReason).toBe('max_tokens');
    });

    it('produces the number of tokens a [[sim:tokens=N]] directive asks for, capped by maxTokens', async () => {
      const asked = await converse(HAIKU, 'Short answer [[sim:tokens=3]]');
      expect(asked.usage?.outputTokens).toBe(3);
      expect(asked.stopReason).toBe('end_turn');
      const capped = await converse(HAIKU, 'Long answer [[sim:tokens=300]]', 10);
      expect([capped.usage?.outputTokens, capped.stopReason]).toEqual([10, 'max_tokens']);
    });

    it('is deterministic: same prompt, same text; different prompt, different text', async () => {
      const text = async (prompt: string) => (await converse(HAIKU, prompt)).output?.message?.content?.[0].text;
      const first = await text('What is a quarry?');
      expect(await text('What is a quarry?')).toBe(first);
      expect(await text('What is a mine?')).not.toBe(first);
    });
  });

  describe('errors as Bedrock answers them', () => {
    it('answers an unknown model with 404 ResourceNotFoundException', async () => {
      const error = await captureError(converse('anthropic.claude-9-v1:0', 'hi'));
      expect(error.name).toBe('ResourceNotFoundException');
      expect(error.$metadata.httpStatusCode).toBe(404);
      expect(error.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('answers a malformed native body with 400 ValidationException', async () => {
      const missing = await captureError(invoke(HAIKU, JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', messages: [] })));
      expect(missing.name).toBe('ValidationException');
      expect(missing.$metadata.httpStatusCode).toBe(400);
      expect(missing.message).toBe('Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.');
      const notJson = await captureError(invoke(LLAMA, '{prompt:'));
      expect([notJson.name, notJson.$metadata.httpStatusCode]).toEqual(['ValidationException', 400]);
      expect(notJson.message).toMatch(/^Malformed input request: /);
    });

    it('answers a conversation that does not start with the user with 400 ValidationException', async () => {
      const error = await captureError(
        client.send(new ConverseCommand({ modelId: NOVA, messages: [{ role: 'assistant', content: [{ text: 'hi' }] }] })),
      );
      expect([error.name, error.$metadata.httpStatusCode]).toEqual(['ValidationException', 400]);
      expect(error.message).toMatch(/must start with a user message/);
    });

    it('answers an unavailable model with 403 AccessDeniedException', async () => {
      await configure(NOVA, { available: false });
      const error = await captureError(converse(NOVA, 'hi'));
      expect([error.name, error.$metadata.httpStatusCode]).toEqual(['AccessDeniedException', 403]);
      expect(error.message).toBe("You don't have access to the model with the specified model ID.");
    });

    it.each([
      ['throttle', 'ThrottlingException', 429],
      ['unavailable', 'ServiceUnavailableException', 503],
      ['internal', 'InternalServerException', 500],
      ['timeout', 'ModelTimeoutException', 408],
      ['notReady', 'ModelNotReadyException', 429],
    ])('turns fault %s into %s (%i)', async (fault, name, status) => {
      await configure(HAIKU, { faults: { [fault]: 1 } });
      const error = await captureError(converse(HAIKU, 'hi'));
      expect([error.name, error.$metadata.httpStatusCode]).toEqual([name, status]);
      const streamed = await captureError(invokeStream(HAIKU, anthropicBody('hi')));
      expect([streamed.name, streamed.$metadata.httpStatusCode]).toEqual([name, status]);
      const stats = (await admin('GET', '/_sim/stats')).json.models[HAIKU];
      expect(stats.requests).toBe(2);
      expect(stats.ok).toBe(0);
      if (name === 'ThrottlingException') expect(stats.throttled).toBe(2);
      else expect(stats.errors).toEqual({ [name]: 2 });
    });

    it('breaks a ConverseStream off with ModelStreamErrorException after some content', async () => {
      await configure(NOVA, { faults: { streamError: 1 }, outputTokens: 10 });
      const seen: ConverseStreamOutput[] = [];
      const response = await client.send(new ConverseStreamCommand({ modelId: NOVA, messages: user('hi') }));
      const error = await captureError(
        (async () => {
          for await (const event of response.stream ?? []) seen.push(event);
        })(),
      );
      expect(error.name).toBe('ModelStreamErrorException');
      expect(error.originalStatusCode).toBe(500);
      expect(seen[0].messageStart).toBeDefined();
      expect(seen.filter((e) => e.contentBlockDelta)).toHaveLength(5);
      expect(seen.some((e) => e.messageStop)).toBe(false);
      // a non-streaming operation ignores streamError
      expect((await converse(NOVA, 'hi')).stopReason).toBe('end_turn');
      const stats = (await admin('GET', '/_sim/stats')).json.models[NOVA];
      expect(stats).toMatchObject({ requests: 2, ok: 1, errors: { ModelStreamErrorException: 1 }, outputTokens: 15 });
    });

    it('breaks an InvokeModelWithResponseStream off with ModelStreamErrorException after some content', async () => {
      await configure(LLAMA, { faults: { streamError: 1 } });
      const chunks: any[] = [];
      const response = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: LLAMA, body: llamaBody('hi') }));
      const error = await captureError(
        (async () => {
          for await (const event of response.body ?? []) chunks.push(decode(event.chunk?.bytes));
        })(),
      );
      expect(error.name).toBe('ModelStreamErrorException');
      expect(chunks).toHaveLength(24);
      expect(chunks.every((c) => c.stop_reason === null)).toBe(true);
    });
  });

  describe('quotas', () => {
    it('throttles past the requests-per-minute quota and counts it', async () => {
      await configure(NOVA, { quota: { rpm: 2 } });
      await converse(NOVA, 'one');
      await converse(NOVA, 'two');
      const error = await captureError(converse(NOVA, 'three'));
      expect([error.name, error.$metadata.httpStatusCode]).toEqual(['ThrottlingException', 429]);
      expect(error.message).toBe('Too many requests, please wait before trying again.');
      // another model has its own window
      await converse(HAIKU, 'four');
      const stats = (await admin('GET', '/_sim/stats')).json.models;
      expect(stats[NOVA]).toMatchObject({ requests: 3, ok: 2, throttled: 1 });
      expect(stats[HAIKU]).toMatchObject({ requests: 1, ok: 1, throttled: 0 });
    });

    it('reserves input tokens plus maxTokens against the tokens-per-minute quota', async () => {
      await configure(HAIKU, { quota: { tpm: 1000 } });
      // reserves 1 + 900, settles to what was used (1 + 48)
      await converse(HAIKU, 'a', 900);
      // 49 used + 2 + 960 reserved > 1000
      const error = await captureError(converse(HAIKU, 'bb', 960));
      expect(error.name).toBe('ThrottlingException');
      // with no maxTokens, 4096 is reserved: over the quota whatever the prompt
      expect((await captureError(converse(HAIKU, 'c'))).name).toBe('ThrottlingException');
      await converse(HAIKU, 'd', 900);
      const stats = (await admin('GET', '/_sim/stats')).json.models[HAIKU];
      expect(stats).toMatchObject({ requests: 4, ok: 2, throttled: 2, inputTokens: 2, outputTokens: 96 });
    });
  });

  it('survives a client that abandons a stream half-way', async () => {
    await configure(HAIKU, { latencyMs: { perToken: 5 }, outputTokens: 40 });
    await abandonConverseStream(name === transports[0][0] ? 'h2' : 'h1', `${sim.url}/model/${HAIKU}/converse-stream`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await converse(HAIKU, 'still there?')).stopReason).toBe('end_turn');
    const stats = (await admin('GET', '/_sim/stats')).json.models[HAIKU];
    expect(stats).toMatchObject({ requests: 2, ok: 1, outputTokens: 40 });
  });

  it('paces output by latencyMs.firstToken and perToken', async () => {
    await configure('*', { latencyMs: { firstToken: 60, perToken: 10 } });
    const started = Date.now();
    await converse(LLAMA, 'slow [[sim:tokens=5]]');
    expect(Date.now() - started).toBeGreaterThanOrEqual(105);
  });
});
