import { ConditionalCheckFailedException, CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { memoizeDynaliteExpressions, memoizeExpressionParser, type ExpressionParser } from '../../local/dynalite-expressions';
import { startEmulators, type Emulators } from '../../local/emulators';

/* eslint-disable @typescript-eslint/no-require-imports */
const validations = require('dynalite/validations') as { validateExpressions(data: Record<string, unknown>): string | undefined };
const parsers = ['conditionParser', 'updateParser', 'projectionParser'].map((name) => require(`dynalite/db/${name}`) as ExpressionParser);
/* eslint-enable @typescript-eslint/no-require-imports */

type Request = Record<string, unknown>;

/** What dynalite's validation makes of a request: its error, or the parsed trees it attaches to the request. */
function validate(request: Request) {
  const data = structuredClone(request);
  const error = validations.validateExpressions(data);
  return { error, updates: data._updates, condition: data._condition, keyCondition: data._keyCondition, filter: data._filter, projection: data._projection };
}

const update = (values: Record<string, unknown>, names: Record<string, string> = { '#s': 'status' }): Request => ({
  UpdateExpression: 'SET #s = :next, updatedAt = :now ADD attempts :one',
  ConditionExpression: '#s = :expected AND attribute_exists(jobId)',
  ExpressionAttributeNames: names,
  ExpressionAttributeValues: values,
});

const okValues = (i: number) => ({ ':next': { S: `RUNNING-${i}` }, ':now': { S: `2026-12-06T00:00:0${i}Z` }, ':one': { N: '1' }, ':expected': { S: `QUEUED-${i}` } });

/**
 * Requests in the order they are validated: the same shapes again with other values (template hits), and the cases
 * where a hit must not hide what dynalite would say of the request (types, unused or missing values, value checks).
 */
const REQUESTS: Array<[string, Request]> = [
  ['update, first', update(okValues(1))],
  ['update, same shape, other values', update(okValues(2))],
  ['update, :one a string (ADD needs a number)', update({ ...okValues(3), ':one': { S: '1' } })],
  ['update, an unused value', update({ ...okValues(4), ':extra': { S: 'x' } })],
  ['update, a value missing', update({ ':next': { S: 'a' }, ':now': { S: 'b' }, ':one': { N: '1' } })],
  ['update, #s names another attribute', update(okValues(5), { '#s': 'state' })],
  ['update, an unused name', update(okValues(6), { '#s': 'status', '#x': 'other' })],
  ['update, a reserved word as name', { ...update(okValues(7)), ConditionExpression: 'status = :expected' }],
  ['between, in order', { ConditionExpression: 'n BETWEEN :lo AND :hi', ExpressionAttributeValues: { ':lo': { N: '1' }, ':hi': { N: '5' } } }],
  ['between, reversed', { ConditionExpression: 'n BETWEEN :lo AND :hi', ExpressionAttributeValues: { ':lo': { N: '9' }, ':hi': { N: '5' } } }],
  ['attribute_type, valid', { ConditionExpression: 'attribute_type(a, :t)', ExpressionAttributeValues: { ':t': { S: 'N' } } }],
  ['attribute_type, invalid type name', { ConditionExpression: 'attribute_type(a, :t)', ExpressionAttributeValues: { ':t': { S: 'X' } } }],
  ['begins_with, string', { ConditionExpression: 'begins_with(a, :p)', ExpressionAttributeValues: { ':p': { S: 'x' } } }],
  ['begins_with, number', { ConditionExpression: 'begins_with(a, :p)', ExpressionAttributeValues: { ':p': { N: '1' } } }],
  ['update used name shared with the condition only', { UpdateExpression: 'SET b = :v', ConditionExpression: '#s = :w', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':v': { S: '1' }, ':w': { S: '2' } } }],
  ['key condition', { KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'a' } } }],
  ['key condition again', { KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'b' } } }],
  ['same text as a filter', { FilterExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'c' } } }],
  ['projection', { ProjectionExpression: '#s, jobId, a.b[1]', ExpressionAttributeNames: { '#s': 'status' } }],
  ['projection again', { ProjectionExpression: '#s, jobId, a.b[1]', ExpressionAttributeNames: { '#s': 'status' } }],
  ['a syntax error', { ConditionExpression: 'a = = :v', ExpressionAttributeValues: { ':v': { S: '1' } } }],
  ['list_append of a list', { UpdateExpression: 'SET l = list_append(l, :v)', ExpressionAttributeValues: { ':v': { L: [{ S: 'x' }] } } }],
  ['list_append of a string', { UpdateExpression: 'SET l = list_append(l, :v)', ExpressionAttributeValues: { ':v': { S: 'x' } } }],
  ['map value', { UpdateExpression: 'SET m = :v', ExpressionAttributeValues: { ':v': { M: { constructor: { S: 'x' } } } } }],
];

describe('memoized dynalite expression parsing', () => {
  // What dynalite answers without memoization, each request validated twice (the second time a template would hit).
  const expected = REQUESTS.map(([, request]) => [validate(request), validate(request)]);
  let emulators: Emulators | undefined;

  beforeAll(() => memoizeDynaliteExpressions());
  afterAll(async () => emulators?.stop());

  it('answers every request as dynalite does, first and again, errors included', () => {
    REQUESTS.forEach(([name, request], i) => {
      expect({ name, result: validate(request) }).toEqual({ name, result: expected[i][0] });
      expect({ name, result: validate(request) }).toEqual({ name, result: expected[i][1] });
    });
    // The cases that must fail do fail, so the comparison above is not of two empty answers.
    const errors = Object.fromEntries(REQUESTS.map(([name, request]) => [name, validate(request).error]));
    expect(errors['update, first']).toBeUndefined();
    expect(errors['update, :one a string (ADD needs a number)']).toMatch(/operand type/);
    expect(errors['update, an unused value']).toMatch(/unused in expressions: keys: \{:extra\}/);
    expect(errors['update, a value missing']).toMatch(/attribute value used in expression is not defined; attribute value: :expected/);
    expect(errors['update, an unused name']).toMatch(/unused in expressions: keys: \{#x\}/);
    expect(errors['update, a reserved word as name']).toMatch(/reserved keyword; reserved keyword: status/);
    expect(errors['between, reversed']).toMatch(/upper bound to be greater/);
    expect(errors['attribute_type, invalid type name']).toMatch(/Invalid attribute type name/);
    expect(errors['begins_with, number']).toMatch(/operand type: N/);
    expect(errors['list_append of a string']).toMatch(/operand type: S/);
    expect(errors['a syntax error']).toMatch(/Syntax error/);
  });

  it('gives each request a tree with its own values, not the first request\'s', () => {
    const first = validate(update(okValues(1)));
    const second = validate(update(okValues(2)));
    expect(JSON.stringify(second.condition)).toContain('QUEUED-2');
    expect(JSON.stringify(second.condition)).not.toContain('QUEUED-1');
    expect(JSON.stringify(second.updates)).toContain('RUNNING-2');
    expect(JSON.stringify(first.updates)).toContain('RUNNING-1');
  });

  it('keeps at most the configured number of templates, the newest', () => {
    const calls: string[] = [];
    const parser: ExpressionParser = { parse: (expression) => (calls.push(expression), { expression }) };
    memoizeExpressionParser(parser, 2);
    const parse = (expression: string) => parser.parse(expression, { context: {} });
    for (const e of ['a', 'b', 'a', 'c', 'a', 'b']) parse(e);
    // a, b parsed; a hit; c parsed (drops a); a parsed again (drops b); b parsed again.
    expect(calls).toEqual(['a', 'b', 'c', 'a', 'b']);
  });

  it('memoizes each of dynalite\'s parsers once', () => {
    const before = parsers.map((p) => p.parse);
    memoizeDynaliteExpressions();
    expect(parsers.map((p) => p.parse)).toEqual(before);
  });

  it('conditional writes through the real SDK hold and fail on the values of each request', async () => {
    emulators = await startEmulators({ region: 'us-east-1', env: {} });
    const client = new DynamoDBClient({ region: 'us-east-1', endpoint: emulators.endpoints.dynamodb, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    await client.send(new CreateTableCommand({ TableName: 'jobs', AttributeDefinitions: [{ AttributeName: 'jobId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'jobId', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }));
    const advance = (jobId: string, from: string, to: string) =>
      client.send(new UpdateItemCommand({ TableName: 'jobs', Key: { jobId: { S: jobId } }, ...update({ ':next': { S: to }, ':now': { S: new Date().toISOString() }, ':one': { N: '1' }, ':expected': { S: from } }) } as never));
    for (const jobId of ['j1', 'j2']) await client.send(new PutItemCommand({ TableName: 'jobs', Item: { jobId: { S: jobId }, status: { S: 'QUEUED' } } }));
    await advance('j1', 'QUEUED', 'RUNNING');
    await advance('j2', 'QUEUED', 'RUNNING');
    await advance('j1', 'RUNNING', 'SUCCEEDED');
    await expect(advance('j2', 'QUEUED', 'RUNNING')).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const items = await Promise.all(['j1', 'j2'].map((jobId) => client.send(new GetItemCommand({ TableName: 'jobs', Key: { jobId: { S: jobId } } }))));
    expect(items.map((i) => [i.Item?.status.S, i.Item?.attempts.N])).toEqual([
      ['SUCCEEDED', '2'],
      ['RUNNING', '1'],
    ]);
    client.destroy();
  });
});
