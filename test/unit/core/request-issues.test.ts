import { z } from 'zod';
import { QuarryError } from '../../../lambda/core/errors';
import { METADATA_LIMITS, parseJobRequest } from '../../../lambda/core/job-request';
import { isWellFormedText, jsonObjectIssues, requestIssues, storableNumberProblem } from '../../../lambda/core/request-issues';

/** The details a body gets from the job request parser, or [] when it is valid. */
function detailsOf(body: unknown): { path: string; message: string }[] {
  try {
    parseJobRequest(body);
    return [];
  } catch (error) {
    if (!(error instanceof QuarryError)) throw error;
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', httpStatus: 400 });
    return error.details ?? [];
  }
}

const pathsOf = (body: unknown) => detailsOf(body).map((d) => d.path);
const raw = (json: string) => JSON.parse(json) as unknown;

describe('zod issues as the API reports them', () => {
  it('names each unknown field on its own, at any level', () => {
    expect(detailsOf({ prompt: 'x', model: 'a', stream: true, inferenceConfig: { foo: 1 } })).toEqual(
      expect.arrayContaining([
        { path: 'model', message: 'unknown field "model"' },
        { path: 'stream', message: 'unknown field "stream"' },
        { path: 'inferenceConfig.foo', message: 'unknown field "foo"' },
      ]),
    );
    expect(pathsOf({ messages: [{ role: 'user', content: [{ text: 'a', video: {} }], name: 'n' }] })).toEqual(['messages.0.content.0.video', 'messages.0.name']);
  });

  it('names the full path of a value of the wrong type', () => {
    expect(pathsOf({ prompt: 42 })).toEqual(['prompt']);
    expect(pathsOf({ prompt: 'x', inferenceConfig: { maxTokens: '10' } })).toEqual(['inferenceConfig.maxTokens']);
    expect(pathsOf({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: null }] })).toEqual(['messages.2.content']);
  });

  it('reports a string-or-blocks field on the branch the value took', () => {
    expect(detailsOf({ messages: [{ role: 'user', content: 5 }] })).toEqual([{ path: 'messages.0.content', message: 'Invalid input: expected string or array' }]);
    expect(pathsOf({ messages: [{ role: 'user', content: [{ text: 5 }] }] })).toEqual(['messages.0.content.0.text']);
    expect(pathsOf({ messages: [{ role: 'user', content: [] }] })).toEqual(['messages.0.content']);
    expect(pathsOf({ messages: [{ role: 'user', content: '' }] })).toEqual(['messages.0.content']);
  });

  it('names the body itself "(body)" when it is not an object', () => {
    for (const body of [[1], 'text', 7, null, true]) expect(pathsOf(body)).toEqual(['(body)']);
  });

  it('keeps the rules the schema cannot express, each naming its field', () => {
    expect(pathsOf({})).toEqual(['prompt']);
    expect(pathsOf({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] })).toEqual(['messages.1.role']);
  });

  it('maps any zod error the same way', () => {
    const schema = z.object({ a: z.object({ b: z.number() }).strict() }).strict();
    const result = schema.safeParse({ a: { b: 'x', c: 1 }, d: 2 });
    expect(result.success).toBe(false);
    expect(requestIssues(result.error!).map((i) => i.path)).toEqual(['a.b', 'a.c', 'd']);
  });
});

describe('numbers DynamoDB stores as given', () => {
  it.each([0, -0, 1, -1, 0.5, 1e-130, -1e-130, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 3.141592653589793])('accepts %p', (n) => {
    expect(storableNumberProblem(n)).toBeUndefined();
  });

  it.each([Infinity, -Infinity, NaN, 9.9e-131, -1e-200, Number.MAX_SAFE_INTEGER + 1, 1e21, -1e308])('refuses %p', (n) => {
    expect(storableNumberProblem(n)).toEqual(expect.any(String));
  });
});

describe('metadata', () => {
  it('accepts a small JSON object of every JSON type, nested up to the limit', () => {
    expect(detailsOf({ prompt: 'x', metadata: { s: '', n: 1.5, b: false, z: null, l: [1, 'a', { k: 'v' }], o: { a: { b: { c: { d: 1 } } } } } })).toEqual([]);
  });

  it.each([
    ['an integer beyond 2^53', '{"a":{"b":12345678901234567890}}', 'metadata.a.b'],
    ['a number DynamoDB rounds to nothing', '{"tiny":1e-200}', 'metadata.tiny'],
    ['a number DynamoDB cannot hold', '{"huge":1e308}', 'metadata.huge'],
    ['a number JSON.parse makes infinite', '{"inf":1e400}', 'metadata.inf'],
    ['a bad number in a list', '{"l":[1,2,1e-200]}', 'metadata.l.2'],
    ['a sixth level of nesting', '{"a":{"b":{"c":{"d":{"e":{}}}}}}', 'metadata.a.b.c.d.e'],
    ['a sixth level made of lists', '{"a":[[[[[]]]]]}', 'metadata.a.0.0.0.0'],
    ['an empty key', '{"":1}', 'metadata'],
    ['an empty nested key', '{"a":{"":1}}', 'metadata.a'],
    ['a key of 129 characters', `{"${'k'.repeat(129)}":1}`, `metadata.${'k'.repeat(129)}`],
    ['a "__proto__" key', '{"__proto__":{"x":1}}', 'metadata.__proto__'],
    ['an unpaired surrogate', '{"a":"\\ud800"}', 'metadata.a'],
    ['an array', '[1]', 'metadata'],
    ['a string', '"x"', 'metadata'],
    ['null', 'null', 'metadata'],
  ])('refuses %s, naming the field', (_label, metadata, path) => {
    expect(pathsOf(raw(`{"prompt":"x","metadata":${metadata}}`))).toEqual([path]);
  });

  it('refuses more than 32 keys in one object, and more than 2048 bytes', () => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect(pathsOf({ prompt: 'x', metadata: keys(32) })).toEqual([]);
    expect(pathsOf({ prompt: 'x', metadata: keys(33) })).toEqual(['metadata']);
    expect(pathsOf({ prompt: 'x', metadata: { a: keys(33) } })).toEqual(['metadata.a']);
    const sized = (bytes: number) => ({ s: 'x'.repeat(bytes - '{"s":""}'.length) });
    expect(Buffer.byteLength(JSON.stringify(sized(METADATA_LIMITS.maxBytes)))).toBe(2048);
    expect(pathsOf({ prompt: 'x', metadata: sized(2048) })).toEqual([]);
    expect(detailsOf({ prompt: 'x', metadata: sized(2049) })).toEqual([{ path: 'metadata', message: 'must be at most 2048 bytes as JSON; it is 2049' }]);
  });

  it('reports at most ten issues for one object', () => {
    const bad = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 1e-200]));
    expect(jsonObjectIssues(bad, METADATA_LIMITS)).toHaveLength(10);
  });
});

describe('other numbers and text of the request', () => {
  it('holds temperature and topP to the numbers DynamoDB stores', () => {
    expect(pathsOf(raw('{"prompt":"x","inferenceConfig":{"temperature":1e-200,"topP":5e-324}}'))).toEqual(['inferenceConfig.temperature', 'inferenceConfig.topP']);
    expect(pathsOf(raw('{"prompt":"x","inferenceConfig":{"temperature":0,"topP":1e-130}}'))).toEqual([]);
  });

  it('refuses text with an unpaired surrogate and accepts any well-formed text', () => {
    expect(isWellFormedText('emoji 😀 and accents é')).toBe(true);
    expect(isWellFormedText('\ud83d')).toBe(false);
    expect(pathsOf(raw('{"prompt":"a\\udc00b"}'))).toEqual(['prompt']);
  });

  it('holds each text field to 200,000 characters', () => {
    expect(pathsOf({ prompt: 'x'.repeat(200_000) })).toEqual([]);
    expect(pathsOf({ prompt: 'x'.repeat(200_001) })).toEqual(['prompt']);
    expect(pathsOf({ prompt: 'x', system: 'y'.repeat(200_001) })).toEqual(['system']);
  });
});
