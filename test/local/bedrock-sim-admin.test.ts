import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import path from 'node:path';
import { BedrockRuntimeClient, ConverseCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BUILT_IN_DEFAULTS, startBedrockSimulator, type BedrockSimulator } from '../../local/bedrock-sim';

let sim: BedrockSimulator;
let client: BedrockRuntimeClient;

beforeAll(async () => {
  sim = await startBedrockSimulator();
  client = new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: sim.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await sim.stop();
});
beforeEach(async () => {
  await admin('POST', '/_sim/reset');
});

async function admin(method: string, urlPath: string, body?: unknown, rawBody?: string) {
  const response = await fetch(`${sim.url}${urlPath}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as any };
}

const configure = (modelId: string, settings: unknown) => admin('PUT', `/_sim/models/${encodeURIComponent(modelId)}`, settings);

const converse = (modelId: string, text: string) =>
  client.send(new ConverseCommand({ modelId, messages: [{ role: 'user', content: [{ text }] }] }));

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  }
}

describe('admin API', () => {
  it.each([
    ['a probability above 1', { faults: { throttle: 1.5 } }, 'faults.throttle'],
    ['a negative latency', { latencyMs: { firstToken: -1 } }, 'latencyMs.firstToken'],
    ['zero output tokens', { outputTokens: 0 }, 'outputTokens'],
    ['an unknown setting', { speed: 3 }, ''],
    ['an unknown fault', { faults: { meteor: 0.1 } }, 'faults'],
    ['an unknown family', { family: 'mistral' }, 'family'],
  ])('rejects %s with 400 and the offending path', async (_what, body, issuePath) => {
    const { status, json } = await configure('amazon.nova-lite-v1:0', body);
    expect(status).toBe(400);
    expect(json.message).toBe('Invalid settings');
    expect(json.details[0].path).toBe(issuePath);
    expect((await admin('GET', '/_sim/models/amazon.nova-lite-v1%3A0')).json.settings.faults.throttle).toBe(0);
  });

  it('rejects a body that is not JSON, and a family for the default (*)', async () => {
    const notJson = await admin('PUT', '/_sim/models/*', undefined, '{outputTokens');
    expect([notJson.status, notJson.json.message]).toEqual([400, 'Request body is not valid JSON']);
    expect((await configure('*', { family: 'nova' })).status).toBe(400);
  });

  it('merges settings over earlier ones and layers a model over the default (*)', async () => {
    await configure('*', { latencyMs: { firstToken: 5 }, faults: { internal: 0.25 } });
    await configure('amazon.nova-lite-v1:0', { faults: { throttle: 0.5 }, quota: { rpm: 10, tpm: 5000 } });
    const { status, json } = await configure('amazon.nova-lite-v1:0', { latencyMs: { perToken: 2 }, quota: { tpm: null } });
    expect(status).toBe(200);
    expect(json).toMatchObject({ modelId: 'amazon.nova-lite-v1:0', family: 'nova', registered: false });
    expect(json.settings).toEqual({
      latencyMs: { firstToken: 5, perToken: 2 },
      outputTokens: 48,
      faults: { throttle: 0.5, unavailable: 0, internal: 0.25, timeout: 0, notReady: 0, streamError: 0 },
      quota: { rpm: 10 },
      available: true,
      serviceTiers: ['default', 'priority', 'flex'],
      flexThrottle: 0,
      async: BUILT_IN_DEFAULTS.async,
    });
    // a cross-region profile of the model inherits the base model's settings
    const profile = await admin('GET', `/_sim/models/${encodeURIComponent('us.amazon.nova-lite-v1:0')}`);
    expect(profile.json.settings.quota).toEqual({ rpm: 10 });
  });

  it('lists the catalogue with effective settings', async () => {
    await configure('*', { outputTokens: 12 });
    const { json } = await admin('GET', '/_sim/models');
    expect(json.default.outputTokens).toBe(12);
    const ids = json.models.map((m: { modelId: string }) => m.modelId);
    expect(ids).toEqual(
      expect.arrayContaining([
        'anthropic.claude-3-haiku-20240307-v1:0',
        'anthropic.claude-3-5-sonnet-20240620-v1:0',
        'anthropic.claude-sonnet-4-20250514-v1:0',
        'anthropic.claude-opus-4-1-20250805-v1:0',
        'amazon.nova-micro-v1:0',
        'amazon.nova-lite-v1:0',
        'amazon.nova-pro-v1:0',
        'meta.llama3-8b-instruct-v1:0',
      ]),
    );
    const llama = json.models.find((m: { modelId: string }) => m.modelId === 'meta.llama3-8b-instruct-v1:0');
    expect(llama).toMatchObject({ family: 'llama', settings: { outputTokens: 12 } });
  });

  it('registers a new model whose native body follows the given family', async () => {
    const modelId = 'acme.custom-model-v1:0';
    expect(await outcome(converse(modelId, 'hi'))).toBe('ResourceNotFoundException');
    const { json } = await configure(modelId, { family: 'nova', outputTokens: 3 });
    expect(json).toMatchObject({ modelId, family: 'nova', registered: true, settings: { outputTokens: 3 } });
    const response = await client.send(
      new InvokeModelCommand({ modelId, body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }) }),
    );
    const body = JSON.parse(Buffer.from(response.body).toString('utf8'));
    expect(body.usage.outputTokens).toBe(3);
    expect(body.output.message.content[0].text.split(' ')).toHaveLength(3);
    expect((await admin('GET', '/_sim/models')).json.models.map((m: { modelId: string }) => m.modelId)).toContain(modelId);
  });

  it('refuses on-demand calls of a model that needs an inference profile', async () => {
    const error = await converse('anthropic.claude-sonnet-4-20250514-v1:0', 'hi').catch((e: unknown) => e as any);
    expect([error.name, error.$metadata.httpStatusCode]).toEqual(['ValidationException', 400]);
    expect(error.message).toMatch(/inference profile/);
    expect(await outcome(converse('eu.anthropic.claude-sonnet-4-20250514-v1:0', 'hi'))).toBe('ok');
  });

  it('reset clears stats, settings and registered models', async () => {
    await configure('acme.other-v1', { family: 'llama' });
    await configure('amazon.nova-micro-v1:0', { available: false });
    await converse('acme.other-v1', 'hi');
    expect((await admin('GET', '/_sim/stats')).json.models['acme.other-v1'].ok).toBe(1);
    expect((await admin('POST', '/_sim/reset')).status).toBe(200);
    expect((await admin('GET', '/_sim/stats')).json).toEqual({ models: {}, asyncInvocations: 0 });
    expect(await outcome(converse('acme.other-v1', 'hi'))).toBe('ResourceNotFoundException');
    expect(await outcome(converse('amazon.nova-micro-v1:0', 'hi'))).toBe('ok');
  });

  it('reset clears the quota windows', async () => {
    await configure('*', { quota: { rpm: 1 } });
    await converse('amazon.nova-micro-v1:0', 'one');
    expect(await outcome(converse('amazon.nova-micro-v1:0', 'two'))).toBe('ThrottlingException');
    await admin('POST', '/_sim/reset');
    await configure('*', { quota: { rpm: 1 } });
    expect(await outcome(converse('amazon.nova-micro-v1:0', 'three'))).toBe('ok');
  });

  it('answers unknown admin paths and operations with 404 JSON', async () => {
    const unknownAdmin = await admin('GET', '/_sim/nothing-here');
    expect(unknownAdmin.status).toBe(404);
    expect(unknownAdmin.json.message).toMatch(/No admin endpoint/);
    const unknownOperation = await admin('POST', '/model/x/summon');
    expect(unknownOperation.status).toBe(404);
    expect(unknownOperation.headers.get('x-amzn-errortype')).toMatch(/^UnknownOperationException:/);
  });

  it('sends Bedrock error headers and a request id on every response', async () => {
    const notFound = await admin('POST', `/model/${encodeURIComponent('acme.nope-v1:0')}/converse`, {
      messages: [{ role: 'user', content: [{ text: 'hi' }] }],
    });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.bedrock/');
    expect(notFound.json).toEqual({ message: 'Could not resolve the foundation model from the provided model identifier.' });
    expect(notFound.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await admin('GET', '/_sim/stats')).headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves the admin API over h2c too', async () => {
    const session = http2.connect(sim.url);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': '/_sim/stats' });
        let data = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (data += chunk));
        stream.on('end', () => resolve(data));
        stream.on('error', reject);
      });
      expect(JSON.parse(body)).toEqual({ models: {}, asyncInvocations: 0 });
    } finally {
      session.close();
    }
  });
});

describe('seeded determinism', () => {
  const pattern = async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 16; i++) outcomes.push(await outcome(converse('amazon.nova-micro-v1:0', `call ${i}`)));
    return outcomes;
  };

  it('reproduces the same fault sequence for the same seed', async () => {
    await configure('amazon.nova-micro-v1:0', { faults: { throttle: 0.3, internal: 0.3 } });
    const first = await pattern();
    expect(new Set(first)).toEqual(new Set(['ok', 'ThrottlingException', 'InternalServerException']));
    await admin('PUT', '/_sim/seed', { seed: 1 });
    expect(await pattern()).toEqual(first);
    await admin('PUT', '/_sim/seed', { seed: 99 });
    expect(await pattern()).not.toEqual(first);
  });

  it('derives the text from the seed as well as the prompt', async () => {
    const text = async () => (await converse('amazon.nova-micro-v1:0', 'same prompt')).output?.message?.content?.[0].text;
    const seedOne = await text();
    expect((await admin('PUT', '/_sim/seed', { seed: 2 })).json).toEqual({ seed: 2 });
    expect(await text()).not.toBe(seedOne);
    await admin('PUT', '/_sim/seed', { seed: 1 });
    expect(await text()).toBe(seedOne);
    expect((await admin('PUT', '/_sim/seed', { seed: -1 })).status).toBe(400);
  });
});

describe('lifecycle', () => {
  it('stop() closes open HTTP/2 sessions and keep-alive sockets and frees the port', async () => {
    const own = await startBedrockSimulator();
    const h2Client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: own.url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    const h1Client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: own.url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } }),
    });
    const request = { modelId: 'amazon.nova-micro-v1:0', messages: [{ role: 'user' as const, content: [{ text: 'hi' }] }] };
    await h2Client.send(new ConverseCommand(request));
    await h1Client.send(new ConverseCommand(request));
    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    const again = await startBedrockSimulator({ port: own.port });
    expect(again.port).toBe(own.port);
    await again.stop();
    h2Client.destroy();
    h1Client.destroy();
  });

  it('runs standalone with main.ts, prints its URL and exits on SIGTERM', async () => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, '../../local/bedrock-sim/main.ts')], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /http:\/\/[\d.]+:\d+/.exec(output);
        if (match) resolve(match[0]);
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const stats = await fetch(`${url}/_sim/stats`);
    expect(await stats.json()).toEqual({ models: {}, asyncInvocations: 0 });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});
