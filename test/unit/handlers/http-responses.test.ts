import { IdempotencyConflictError, MalformedJsonError, PayloadTooLargeError, UnknownRouteError, UnsupportedMediaTypeError, ValidationError } from '../../../lambda/core/errors';
import { readJsonBody } from '../../../lambda/core/http-body';
import { errorResponse, locationOf } from '../../../lambda/handlers/http';

describe('Location', () => {
  it('carries the stage prefix the caller reached the API by', () => {
    expect(locationOf({ path: '/jobs', requestContext: { path: '/v1/jobs', stage: 'v1' } }, '/jobs/j1')).toBe('/v1/jobs/j1');
    expect(locationOf({ path: '/api/classify', requestContext: { path: '/v1/api/classify', stage: 'v1' } }, '/jobs/j1')).toBe('/v1/jobs/j1');
    expect(locationOf({ path: '/jobs/', requestContext: { path: '/v1/jobs/', stage: 'v1' } }, '/jobs/j1')).toBe('/v1/jobs/j1');
  });

  it("follows a custom domain's base path, or its root", () => {
    expect(locationOf({ path: '/jobs', requestContext: { path: '/quarry/jobs', stage: 'v1' } }, '/jobs/j1')).toBe('/quarry/jobs/j1');
    expect(locationOf({ path: '/jobs', requestContext: { path: '/jobs', stage: 'v1' } }, '/jobs/j1')).toBe('/jobs/j1');
  });

  it('falls back to the stage when the event has no request path', () => {
    expect(locationOf({ path: '/jobs', requestContext: { stage: 'v1' } }, '/jobs/j1')).toBe('/v1/jobs/j1');
    expect(locationOf({ path: '/jobs' }, '/jobs/j1')).toBe('/jobs/j1');
  });
});

describe('the one error shape', () => {
  const bodyOf = (error: unknown) => JSON.parse(errorResponse(error).body) as { error: { code: string; message: string; details?: { path: string; message: string }[] } };

  it.each([
    ['a validation error', new ValidationError('bad', [{ path: 'prompt', message: 'too long' }]), 'prompt'],
    ['a header validation error', new ValidationError('Idempotency-Key must be 1-255 visible ASCII characters.', { header: 'Idempotency-Key' }), 'headers.Idempotency-Key'],
    ['malformed JSON', new MalformedJsonError('is not valid JSON (error at position 3)'), '(body)'],
    ['a body too large', new PayloadTooLargeError(1000), '(body)'],
    ['a wrong media type', new UnsupportedMediaTypeError('text/plain'), 'headers.Content-Type'],
    ['an unknown route', new UnknownRouteError('nope', ['a', 'b']), 'route'],
    ['a reused Idempotency-Key', new IdempotencyConflictError('j1'), 'headers.Idempotency-Key'],
  ])('gives %s details naming the field', (_label, error, path) => {
    const { error: shape } = bodyOf(error);
    expect(Object.keys(shape).sort()).toEqual(['code', 'details', 'message']);
    expect(shape.details).toEqual([{ path, message: expect.any(String) }]);
  });

  it('never says what failed inside', () => {
    const res = errorResponse(new Error('ECONNRESET at /var/task/index.js:12'));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('var/task');
    expect(bodyOf(new Error('x'))).toEqual({ error: { code: 'INTERNAL_ERROR', message: expect.any(String) } });
  });
});

describe('reading a JSON body', () => {
  const read = (body: string | null, contentType?: string) => readJsonBody({ headers: contentType ? { 'Content-Type': contentType } : {}, body }, 100);
  const detailsOf = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return (error as ValidationError).details;
    }
    throw new Error('expected a rejection');
  };

  it('says where the JSON breaks without echoing the body', () => {
    expect(detailsOf(() => read('{"prompt":"x",}', 'application/json'))).toEqual([{ path: '(body)', message: 'is not valid JSON (error at position 14)' }]);
    expect(detailsOf(() => read('{"prompt": secret}', 'application/json'))).toEqual([{ path: '(body)', message: 'is not valid JSON' }]);
    expect(detailsOf(() => read('{"prompt":', 'application/json'))).toEqual([{ path: '(body)', message: 'is not valid JSON (it ends too early)' }]);
    expect(detailsOf(() => read('', 'application/json'))).toEqual([{ path: '(body)', message: 'is empty; send a JSON object' }]);
    expect(detailsOf(() => read(null, 'application/json'))).toEqual([{ path: '(body)', message: 'is empty; send a JSON object' }]);
  });

  it('names the Content-Type header when it is missing or not JSON, and accepts +json and parameters', () => {
    expect(detailsOf(() => read('{}'))).toEqual([{ path: 'headers.Content-Type', message: 'is missing; send application/json' }]);
    expect(detailsOf(() => read('{}', 'text/plain'))).toEqual([{ path: 'headers.Content-Type', message: '"text/plain" is not JSON; send application/json' }]);
    expect(read('{"a":1}', 'application/json; charset=utf-8')).toEqual({ a: 1 });
    expect(read('{"a":1}', 'application/vnd.quarry+json')).toEqual({ a: 1 });
  });
});
