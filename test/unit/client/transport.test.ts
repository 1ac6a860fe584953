import { Transport, type FetchLike, type RetryMode } from '../../../client/src/transport';
import { DEFAULT_BACKOFF } from '../../../client/src/retry-policy';
import { QuarryError } from '../../../client/src/errors';

/** A transport whose fetch answers from a script, and whose sleeps are recorded instead of slept. */
function scripted(answers: (() => Response)[]) {
  const calls: { url: string; headers: Record<string, string> }[] = [];
  const slept: number[] = [];
  const fetchLike: FetchLike = async (url, init) => {
    calls.push({ url, headers: init.headers as Record<string, string> });
    const next = answers[calls.length - 1];
    if (!next) throw new Error('no more answers');
    return next();
  };
  const transport = new Transport({ baseUrl: 'https://api.example/v1/', apiKey: 'k', maxRetries: 2, timeoutMs: 1000, fetch: fetchLike, backoff: DEFAULT_BACKOFF, userAgent: 'test', sleep: async (ms) => void slept.push(ms) });
  return { transport, calls, slept };
}

const error = (status: number, code: string, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify({ error: { code, message: `${code} happened` } }), { status, headers: { 'content-type': 'application/json', ...headers } });
const ok = () => new Response(JSON.stringify({ ok: true }), { status: 200, headers: { 'content-type': 'application/json' } });
const dropped = () => {
  throw new TypeError('fetch failed');
};

async function outcome(transport: Transport, retry: RetryMode, path = '/jobs/1') {
  try {
    return (await transport.json({ method: 'GET', path, retry })).body;
  } catch (e) {
    return e as QuarryError;
  }
}

describe('the client transport', () => {
  it('retries an idempotent call after 5xx and dropped connections, then answers', async () => {
    const { transport, calls, slept } = scripted([error(503, 'ENQUEUE_FAILED'), dropped, ok]);
    expect(await outcome(transport, 'idempotent')).toEqual({ ok: true });
    expect(calls).toHaveLength(3);
    expect(slept).toHaveLength(2);
    expect(calls[0].url).toBe('https://api.example/v1/jobs/1');
    expect(calls[0].headers['x-api-key']).toBe('k');
  });

  it('waits the Retry-After of a 429, and gives up after maxRetries with the last error', async () => {
    const { transport, calls, slept } = scripted([error(429, 'THROTTLED', { 'retry-after': '1' }), error(429, 'THROTTLED', { 'retry-after': '2' }), error(429, 'THROTTLED', { 'retry-after': '3' })]);
    expect(await outcome(transport, 'refusals')).toMatchObject({ code: 'THROTTLED', status: 429, retryAfter: 3 });
    expect(calls).toHaveLength(3);
    expect(slept[0]).toBeGreaterThanOrEqual(1000);
    expect(slept[1]).toBeGreaterThanOrEqual(2000);
  });

  it('retries only refusals (429) on a call that may have spent a model call', async () => {
    const { transport, calls } = scripted([error(503, 'MODELS_UNAVAILABLE'), ok]);
    expect(await outcome(transport, 'refusals')).toMatchObject({ code: 'MODELS_UNAVAILABLE', status: 503 });
    expect(calls).toHaveLength(1);
    const network = scripted([dropped, ok]);
    expect(await outcome(network.transport, 'refusals')).toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
    expect(network.calls).toHaveLength(1);
  });

  it('does not sleep through a Retry-After longer than it waits, nor retry a 4xx', async () => {
    const long = scripted([error(429, 'QUOTA_EXCEEDED', { 'retry-after': '3600' }), ok]);
    expect(await outcome(long.transport, 'idempotent')).toMatchObject({ code: 'QUOTA_EXCEEDED', retryAfter: 3600 });
    expect(long.calls).toHaveLength(1);
    const notFound = scripted([error(404, 'JOB_NOT_FOUND'), ok]);
    expect(await outcome(notFound.transport, 'idempotent')).toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
    expect(notFound.calls).toHaveLength(1);
  });

  it('names an answer without the error body by its status, and a 2xx that is not JSON INVALID_RESPONSE', async () => {
    const gateway = () => new Response('<html>Bad gateway</html>', { status: 502 });
    const html = scripted([gateway, gateway, gateway]);
    expect(await outcome(html.transport, 'idempotent')).toMatchObject({ code: 'HTTP_502', status: 502, message: expect.stringContaining('Bad gateway') });
    const garbled = scripted([() => new Response('not json', { status: 200 })]);
    expect(await outcome(garbled.transport, 'idempotent')).toMatchObject({ code: 'INVALID_RESPONSE', status: 200 });
  });

  it('sends a presigned URL as given, without the API key', async () => {
    const { transport, calls } = scripted([ok]);
    await outcome(transport, 'idempotent', 'https://bucket.example/results.jsonl?X-Amz-Signature=abc');
    expect(calls[0].url).toBe('https://bucket.example/results.jsonl?X-Amz-Signature=abc');
    expect(calls[0].headers['x-api-key']).toBeUndefined();
  });
});
