import { redeliveryDelaySeconds, shouldOffloadResult, leaseExpiry } from '../../../lambda/core/delivery';
import { afterRefusedClaim, jobView, pollAfterSeconds, type Job } from '../../../lambda/core/job';
import { jobEvent } from '../../../lambda/core/job-event';
import { classifyModelError } from '../../../lambda/core/model-errors';
import { newJobId } from '../../../lambda/core/idempotency';
import { readJsonBody } from '../../../lambda/core/http-body';
import { canonicalJson } from '../../../lambda/core/job-request';

const now = new Date('2026-11-25T10:00:00Z');
const base: Job = {
  jobId: 'j-1',
  status: 'QUEUED',
  tenant: 'acme',
  route: 'generate',
  modelId: 'm',
  createdAt: now.toISOString(),
  updatedAt: now.toISOString(),
  request: { messages: [{ role: 'user', content: [{ text: 'secret prompt' }] }] },
  requestHash: 'h',
  attempts: [],
  expiresAt: now.getTime() / 1000 + 3600,
};

describe('what a worker does when its claim is refused', () => {
  it.each([
    [undefined, 'gone'],
    [{ ...base, expiresAt: now.getTime() / 1000 - 1 }, 'gone'],
    [{ ...base, status: 'SUCCEEDED' as const, eventPublishedAt: now.toISOString() }, 'already-finished'],
    [{ ...base, status: 'FAILED' as const }, 'publish-owed-event'],
    [{ ...base, status: 'RUNNING' as const, lease: { owner: 'other', expiresAt: now.getTime() + 1000 } }, 'held-by-another-worker'],
  ])('%#: decides %s', (job, expected) => {
    expect(afterRefusedClaim(job as Job | undefined, now)).toBe(expected);
  });
});

describe('redelivery delay', () => {
  it('doubles per receive and never exceeds the visibility timeout', () => {
    expect([1, 2, 3, 4].map((n) => redeliveryDelaySeconds(n, 10, 720))).toEqual([10, 20, 40, 80]);
    expect(redeliveryDelaySeconds(12, 10, 720)).toBe(720);
    expect(redeliveryDelaySeconds(0, 10, 720)).toBe(10);
  });
});

describe('result placement and leases', () => {
  it('offloads only results strictly larger than the inline limit, counting UTF-8 bytes', () => {
    expect(shouldOffloadResult('abcd', 4)).toBe(false);
    expect(shouldOffloadResult('ééé', 4)).toBe(true);
  });
  it('leases for the remaining invocation time plus a margin', () => {
    expect(leaseExpiry(now, 60_000)).toBe(now.getTime() + 65_000);
  });
});

describe('job view and events', () => {
  it('never exposes the request, tenant or lease, and asks pollers to come back while not terminal', () => {
    const view = jobView({ ...base, status: 'RUNNING', lease: { owner: 'w', expiresAt: 1 } });
    expect(JSON.stringify(view)).not.toContain('secret prompt');
    expect(view).not.toHaveProperty('tenant');
    expect(view).not.toHaveProperty('lease');
    expect(view.metadata).toEqual({});
    expect(pollAfterSeconds({ status: 'QUEUED' })).toBe(2);
    expect(pollAfterSeconds({ status: 'SUCCEEDED' })).toBeUndefined();
  });

  it('describes a finished job for SNS with filterable attributes and no text', () => {
    const done: Job = { ...base, status: 'SUCCEEDED', result: { text: 'answer text', stopReason: 'end_turn', usage: { inputTokens: 3, outputTokens: 5 }, modelId: 'm' } };
    const { message, attributes } = jobEvent(done, now);
    expect(message).toEqual({ type: 'job.succeeded', jobId: 'j-1', status: 'SUCCEEDED', route: 'generate', modelId: 'm', tenant: 'acme', usage: { inputTokens: 3, outputTokens: 5 }, occurredAt: now.toISOString() });
    expect(attributes).toEqual({ status: 'SUCCEEDED', route: 'generate', tenant: 'acme' });
    expect(() => jobEvent(base, now)).toThrow(/only terminal jobs/);
  });
});

describe('classifying model errors', () => {
  const err = (name: string, status?: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  it.each([
    ['ThrottlingException', 429, 'MODEL_THROTTLED', true],
    ['ServiceUnavailableException', 503, 'MODEL_UNAVAILABLE', true],
    ['InternalServerException', 500, 'MODEL_INTERNAL_ERROR', true],
    ['ModelTimeoutException', 408, 'MODEL_TIMEOUT', true],
    ['ModelNotReadyException', 429, 'MODEL_NOT_READY', true],
    ['ValidationException', 400, 'MODEL_VALIDATION_ERROR', false],
    ['AccessDeniedException', 403, 'MODEL_ACCESS_DENIED', false],
    ['ResourceNotFoundException', 404, 'MODEL_NOT_FOUND', false],
    ['ModelErrorException', 424, 'MODEL_ERROR', false],
    ['SomethingNew', 502, 'MODEL_UNAVAILABLE', true],
    ['SomethingNew', 418, 'MODEL_ERROR', false],
  ])('%s (%s) -> %s, retryable %s', (name, status, code, retryable) => {
    expect(classifyModelError(err(name, status))).toMatchObject({ code, retryable });
  });
  it('treats a connection reset as a transient network error', () => {
    expect(classifyModelError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
  });
});

describe('job ids and idempotency keys', () => {
  it('derives a stable UUID-shaped id per (tenant, key) and a random one without a key', () => {
    const a = newJobId('t', 'key');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newJobId('t', 'key')).toBe(a);
    expect(newJobId('u', 'key')).not.toBe(a);
    expect(newJobId('t')).not.toBe(newJobId('t'));
  });
  it('rejects keys that are empty, too long or not visible ASCII', () => {
    for (const key of ['', 'x'.repeat(256), 'has space', 'ünï']) expect(() => newJobId('t', key)).toThrow(/Idempotency-Key/);
  });
  it('hashes bodies by meaning, not key order', () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: 1 }] })).toBe(canonicalJson({ a: [{ x: 1, y: 2 }], b: 1 }));
  });
});

describe('reading a JSON body', () => {
  const json = { 'Content-Type': 'application/json; charset=utf-8' };
  it('accepts JSON, including base64-encoded bodies', () => {
    expect(readJsonBody({ headers: json, body: '{"a":1}' }, 100)).toEqual({ a: 1 });
    expect(readJsonBody({ headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":2}').toString('base64'), isBase64Encoded: true }, 100)).toEqual({ a: 2 });
  });
  it('answers 415, 413 and 400 with stable codes', () => {
    expect(() => readJsonBody({ headers: { 'content-type': 'text/plain' }, body: '{}' }, 100)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE', httpStatus: 415 }));
    expect(() => readJsonBody({ headers: {}, body: '{}' }, 100)).toThrow(expect.objectContaining({ httpStatus: 415 }));
    expect(() => readJsonBody({ headers: json, body: `{"p":"${'x'.repeat(200)}"}` }, 100)).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 }));
    expect(() => readJsonBody({ headers: json, body: '{"a":' }, 100)).toThrow(expect.objectContaining({ code: 'MALFORMED_JSON', httpStatus: 400 }));
  });
});
