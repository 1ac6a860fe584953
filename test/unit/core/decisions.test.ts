import { shouldOffloadResult, leaseExpiry } from '../../../lambda/core/delivery';
import { jobView, pollAfterSeconds, type Job } from '../../../lambda/core/job';
import { afterRefusedClaim, SUBMIT_RECORD_GRACE_MS } from '../../../lambda/core/job-lifecycle';
import { jobEvent } from '../../../lambda/core/job-event';
import { classifyModelError, suggestedProfileId } from '../../../lambda/core/model-errors';
import { backoffDelayMs, requeueDelaySeconds } from '../../../lambda/core/retry-policy';
import { candidatesFor, fitsLargerContext } from '../../../lambda/core/fallback-chain';
import { routingTableSchema } from '../../../lambda/core/settings';
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
    [{ ...base, status: 'FAILED' as const, lastMessageId: 'mine' }, 'publish-owed-event'],
    [{ ...base, status: 'FAILED' as const, lastMessageId: 'theirs' }, 'already-finished'],
    [{ ...base, status: 'RUNNING' as const, lease: { owner: 'other', expiresAt: now.getTime() + 1000 } }, 'held-by-another-worker'],
  ])('%#: decides %s', (job, expected) => {
    expect(afterRefusedClaim(job as Job | undefined, { messageId: 'mine' }, now).kind).toBe(expected);
  });

  it('waits for a job its submit may still be recording, and drops the message of a submit that failed', () => {
    const sentAt = (msAgo: number) => ({ messageId: 'm', createdAt: new Date(now.getTime() - msAgo).toISOString() });
    expect(afterRefusedClaim(undefined, sentAt(1_000), now)).toEqual({ kind: 'not-yet-recorded', retryInSeconds: 2 });
    expect(afterRefusedClaim(undefined, sentAt(SUBMIT_RECORD_GRACE_MS), now)).toEqual({ kind: 'gone' });
  });

  it("never runs a job from a message of another request (a conflicting replay's)", () => {
    expect(afterRefusedClaim({ ...base, requestHash: 'first' } as Job, { messageId: 'm', requestHash: 'second' }, now)).toEqual({ kind: 'not-this-request' });
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

describe('polling advice', () => {
  const at = (ms: number) => new Date(now.getTime() + ms);
  it('waits for a reserved slot or a requeue, not for a fixed second', () => {
    expect(pollAfterSeconds({ ...base, reservation: { modelId: 'm', region: 'r', notBefore: now.getTime() + 840_000, requests: 1, tokens: 1 } }, now, 300)).toBe(300);
    expect(pollAfterSeconds({ ...base, reservation: { modelId: 'm', region: 'r', notBefore: now.getTime() + 42_000, requests: 1, tokens: 1 } }, now, 300)).toBe(42);
    expect(pollAfterSeconds({ ...base, requeues: 3, sweepAt: now.getTime() + 120_000 + 300_000 }, now, 300)).toBe(120);
  });
  it('asks about a running job at half the time it has run so far, at least every second and at most every 5 minutes', () => {
    const running = { ...base, status: 'RUNNING' as const, updatedAt: now.toISOString() };
    expect(pollAfterSeconds(running, at(1_000), 300)).toBe(1);
    expect(pollAfterSeconds(running, at(10_000), 300)).toBe(5);
    expect(pollAfterSeconds(running, at(3_600_000), 300)).toBe(300);
  });
});

describe('job view and events', () => {
  it('never exposes the request, tenant or lease, and asks pollers to come back while not terminal', () => {
    const view = jobView({ ...base, status: 'RUNNING', lease: { owner: 'w', expiresAt: 1 } });
    expect(JSON.stringify(view)).not.toContain('secret prompt');
    expect(view).not.toHaveProperty('tenant');
    expect(view).not.toHaveProperty('lease');
    expect(view.metadata).toEqual({});
    expect(pollAfterSeconds({ ...base, status: 'QUEUED' }, now, 300)).toBe(2);
    expect(pollAfterSeconds({ ...base, status: 'SUCCEEDED' }, now, 300)).toBeUndefined();
  });

  it('describes a finished job for SNS with filterable attributes and no text', () => {
    const done: Job = { ...base, status: 'SUCCEEDED', metadata: { ticket: 7 }, result: { text: 'answer text', stopReason: 'end_turn', usage: { inputTokens: 3, outputTokens: 5 }, modelId: 'm' } };
    const { message, attributes } = jobEvent(done, now);
    expect(message).toEqual({
      eventId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      type: 'job.succeeded',
      jobId: 'j-1',
      status: 'SUCCEEDED',
      route: 'generate',
      modelId: 'm',
      tenant: 'acme',
      metadata: { ticket: 7 },
      usage: { inputTokens: 3, outputTokens: 5 },
      occurredAt: now.toISOString(),
    });
    // A republish of the same terminal event carries the same id; another job's does not.
    expect(jobEvent(done, new Date(now.getTime() + 60_000)).message.eventId).toBe(message.eventId);
    expect(jobEvent({ ...done, jobId: 'j-2' }, now).message.eventId).not.toBe(message.eventId);
    expect(attributes).toEqual({ status: 'SUCCEEDED', route: 'generate', tenant: 'acme' });
    expect(() => jobEvent(base, now)).toThrow(/only terminal jobs/);
  });
});

describe('classifying model errors', () => {
  const err = (name: string, status?: number, message = name) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  it.each([
    ['ThrottlingException', 429, 'MODEL_THROTTLED', 'retry', true],
    ['ServiceUnavailableException', 503, 'MODEL_UNAVAILABLE', 'retry', true],
    ['InternalServerException', 500, 'MODEL_INTERNAL_ERROR', 'retry', true],
    ['ModelTimeoutException', 408, 'MODEL_TIMEOUT', 'retry', true],
    ['ModelNotReadyException', 429, 'MODEL_NOT_READY', 'retry', true],
    ['ValidationException', 400, 'MODEL_VALIDATION_ERROR', 'fail', false],
    ['AccessDeniedException', 403, 'MODEL_ACCESS_DENIED', 'next-model', false],
    ['ResourceNotFoundException', 404, 'MODEL_NOT_FOUND', 'next-model', false],
    ['ModelErrorException', 424, 'MODEL_ERROR', 'fail', false],
    ['SomethingNew', 502, 'MODEL_UNAVAILABLE', 'retry', true],
    ['SomethingNew', 418, 'MODEL_ERROR', 'fail', false],
  ])('%s (%s) -> %s, %s, counts against the model: %s', (name, status, code, disposition, counts) => {
    expect(classifyModelError(err(name, status))).toMatchObject({ code, disposition, countsAgainstModel: counts });
  });

  it('treats a connection reset as a transient network error', () => {
    expect(classifyModelError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatchObject({ code: 'NETWORK_ERROR', disposition: 'retry' });
  });

  it('retries a stream error before any content, but surfaces one after content was produced', () => {
    const streamError = err('ModelStreamErrorException', 424);
    expect(classifyModelError(streamError, { modelId: 'm' })).toMatchObject({ code: 'MODEL_STREAM_ERROR', disposition: 'retry' });
    expect(classifyModelError(streamError, { modelId: 'm', contentProduced: true })).toMatchObject({ code: 'MODEL_STREAM_INTERRUPTED', disposition: 'fail' });
  });

  it('turns "on-demand throughput isn\'t supported" into a configuration error naming the profile to configure', () => {
    const failure = classifyModelError(
      err('ValidationException', 400, "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model."),
      { modelId: 'anthropic.claude-sonnet-4-20250514-v1:0', region: 'eu-west-1' },
    );
    expect(failure).toMatchObject({ code: 'MODEL_NEEDS_INFERENCE_PROFILE', disposition: 'fail' });
    expect(failure.message).toContain('"eu.anthropic.claude-sonnet-4-20250514-v1:0"');
    expect(suggestedProfileId('m', 'ap-southeast-2')).toBe('apac.m');
    expect(suggestedProfileId('m', 'us-gov-west-1')).toBe('us-gov.m');
  });

  it('recognizes a context window overflow as a reason to try a larger model', () => {
    expect(classifyModelError(err('ValidationException', 400, 'Input is too long for requested model.'))).toMatchObject({ code: 'CONTEXT_WINDOW_EXCEEDED', disposition: 'larger-model', countsAgainstModel: false });
    expect(classifyModelError(err('ValidationException', 400, 'prompt is too long: 210000 tokens > 200000 maximum'))).toMatchObject({ disposition: 'larger-model' });
  });

  it('does not hold a call the pipeline abandoned against the model', () => {
    expect(classifyModelError(err('AbortError'), { modelId: 'm', abandoned: true })).toMatchObject({ code: 'CALL_ABANDONED', disposition: 'retry', countsAgainstModel: false });
  });

  it('reads a Retry-After hint in seconds', () => {
    const hinted = Object.assign(err('ThrottlingException', 429), { $response: { headers: { 'retry-after': '3' } } });
    expect(classifyModelError(hinted).retryAfterMs).toBe(3000);
  });
});

describe('retry and requeue delays', () => {
  const retry = { attemptsPerModel: 3, baseDelayMs: 100, maxDelayMs: 1000 };
  it('backs off exponentially with full jitter, capped, and honours a longer server hint', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, retry, () => 0.999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffDelayMs(3, retry, () => 0)).toBe(0);
    expect(backoffDelayMs(1, retry, () => 0.5, 700)).toBe(700);
    expect(backoffDelayMs(1, retry, () => 0.5, 60_000)).toBe(1000);
  });
  it('doubles the requeue delay per requeue, within the cap and SQS\'s 900 s, and waits for an open circuit', () => {
    const requeue = { baseDelaySeconds: 5, maxDelaySeconds: 300 };
    expect([0, 1, 2, 10].map((n) => requeueDelaySeconds(n, requeue))).toEqual([5, 10, 20, 300]);
    expect(requeueDelaySeconds(0, requeue, { now: 0, at: 42_500 })).toBe(43);
    expect(requeueDelaySeconds(0, { baseDelaySeconds: 5, maxDelaySeconds: 900 }, { now: 0, at: 5_000_000 })).toBe(900);
  });
});

describe('fallback chains', () => {
  const table = routingTableSchema.parse({
    defaultRoute: 'r',
    routes: { r: { modelId: 'big', fallback: ['small', 'big'] } },
    models: { big: { contextWindow: 200_000, regions: ['us-west-2', 'us-east-1'] }, small: { contextWindow: 32_000 } },
  });
  it('lists the job\'s model in its home region, then its failover regions, then the fallback models', () => {
    expect(candidatesFor({ route: 'r', modelId: 'big' }, table, 'us-east-1')).toEqual([
      { modelId: 'big', region: 'us-east-1', contextWindow: 200_000 },
      { modelId: 'big', region: 'us-west-2', contextWindow: 200_000 },
      { modelId: 'small', region: 'us-east-1', contextWindow: 32_000 },
    ]);
  });
  it('after a context overflow keeps only models with a larger known window', () => {
    expect(fitsLargerContext({ modelId: 'x', region: 'r', contextWindow: 300_000 }, 200_000)).toBe(true);
    expect(fitsLargerContext({ modelId: 'x', region: 'r', contextWindow: 200_000 }, 200_000)).toBe(false);
    expect(fitsLargerContext({ modelId: 'x', region: 'r' }, 200_000)).toBe(false);
    expect(fitsLargerContext({ modelId: 'x', region: 'r' }, undefined)).toBe(true);
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

describe('errors that are not answers from Bedrock', () => {
  it('lets a defect crash the delivery instead of passing for a network error', () => {
    expect(classifyModelError(new TypeError("Cannot read properties of undefined (reading 'map')"))).toMatchObject({ code: 'UNEXPECTED_ERROR', disposition: 'unexpected' });
    expect(classifyModelError(Object.assign(new Error('socket hang up'), { name: 'Error' }))).toMatchObject({ code: 'NETWORK_ERROR', disposition: 'retry' });
  });
});
