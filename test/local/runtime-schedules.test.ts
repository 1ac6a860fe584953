import { DescribeTableCommand, GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, writeEndpointsFile, type LocalRuntime } from '../../local/runtime';
import { parseScheduleExpression } from '../../local/scheduled-rules';

/** MARKER says which function this is: sweep (slow, counts its runs in the table), report, or writer (sets a status). */
const HANDLER = `
const fs = require('node:fs');
const { DynamoDBClient, UpdateItemCommand } = require(process.env.SDK_DYNAMODB);
const client = new DynamoDBClient({ maxAttempts: 1 });
const note = (entry) => fs.appendFileSync(process.env.OBS_FILE, JSON.stringify({ ...entry, marker: process.env.MARKER, t: Date.now() }) + '\\n');
exports.handler = async (event) => {
  if (process.env.MARKER === 'writer') {
    await client.send(new UpdateItemCommand({ TableName: process.env.TABLE_NAME, Key: { pk: { S: event.pk } }, UpdateExpression: 'SET #s = :s',
      ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': { S: event.status } } }));
    return { written: event.status };
  }
  note({ type: 'start', event });
  if (process.env.MARKER === 'sweep') {
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.SLEEP_MS)));
    await client.send(new UpdateItemCommand({ TableName: process.env.TABLE_NAME, Key: { pk: { S: 'SWEEP' } }, UpdateExpression: 'ADD runs :one',
      ExpressionAttributeValues: { ':one': { N: '1' } } }));
  }
  note({ type: 'end', eventId: event.id });
  return { ok: true };
};
`;

/** Faster than a sweep run takes, so some ticks find the previous run still going. */
const SCHEDULE_INTERVAL_MS = 300;
const SWEEP_MS = 500;

interface Observation {
  type: 'start' | 'end';
  marker: string;
  t: number;
  event?: Record<string, unknown>;
  eventId?: string;
}

let workdir: string;
let obsFile: string;
let runtime: LocalRuntime;
const runtimeLog: string[] = [];

function buildTestStack(outdir: string, codeDir: string): void {
  const app = new App({ outdir });
  const stack = new Stack(app, 'ScheduleTest');
  const table = new dynamodb.Table(stack, 'Ledger', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, billingMode: dynamodb.BillingMode.PAY_PER_REQUEST });
  table.addGlobalSecondaryIndex({
    indexName: 'BySweepTime',
    partitionKey: { name: 'sweepShard', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sweepAt', type: dynamodb.AttributeType.NUMBER },
    projectionType: dynamodb.ProjectionType.KEYS_ONLY,
  });
  table.addGlobalSecondaryIndex({
    indexName: 'ByStatus',
    partitionKey: { name: 'status', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'updatedAt', type: dynamodb.AttributeType.NUMBER },
    projectionType: dynamodb.ProjectionType.INCLUDE,
    nonKeyAttributes: ['tenant'],
  });
  const code = lambda.Code.fromAsset(codeDir);
  const fn = (id: string, marker: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code,
      timeout: Duration.seconds(5),
      environment: { OBS_FILE: obsFile, MARKER: marker, SLEEP_MS: String(SWEEP_MS), TABLE_NAME: table.tableName, SDK_DYNAMODB: require.resolve('@aws-sdk/client-dynamodb') },
    });
  const sweep = fn('Sweep', 'sweep');
  const report = fn('Report', 'report');
  fn('Writer', 'writer');
  new events.Rule(stack, 'SweepSchedule', { schedule: events.Schedule.rate(Duration.minutes(1)), targets: [new targets.LambdaFunction(sweep)] });
  new events.Rule(stack, 'Nightly', {
    schedule: events.Schedule.cron({ minute: '0', hour: '3' }),
    targets: [new targets.LambdaFunction(report, { event: events.RuleTargetInput.fromObject({ kind: 'nightly' }) })],
  });
  new events.Rule(stack, 'Paused', { enabled: false, schedule: events.Schedule.rate(Duration.minutes(5)), targets: [new targets.LambdaFunction(report)] });
  app.synth();
}

const observations = (): Observation[] =>
  existsSync(obsFile)
    ? readFileSync(obsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Observation)
    : [];

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nruntime log:\n${runtimeLog.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const tableName = () => [...runtime.topology.resources.values()].find((r) => r.type === 'AWS::DynamoDB::Table')!.ref;
const functionNamed = (prefix: string) => [...runtime.functions.values()].find((f) => f.definition.logicalId.startsWith(prefix))!;

beforeAll(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'quarry-schedule-test-'));
  obsFile = join(workdir, 'observations.jsonl');
  const codeDir = join(workdir, 'code');
  mkdirSync(codeDir);
  writeFileSync(join(codeDir, 'index.js'), HANDLER);
  const outdir = join(workdir, 'cdk.out');
  buildTestStack(outdir, codeDir);
  runtime = await startLocalRuntime({ assembly: outdir, port: 0, quiet: true, scheduleIntervalMs: SCHEDULE_INTERVAL_MS, log: (line) => runtimeLog.push(line) });
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(workdir, { recursive: true, force: true });
});

describe('scheduled rules of the template', () => {
  it('runs a rate rule’s function on the (scaled) schedule with the event EventBridge sends', async () => {
    const ends = await waitFor('three sweep runs', () => {
      const done = observations().filter((o) => o.marker === 'sweep' && o.type === 'end');
      return done.length >= 3 ? done : undefined;
    });
    expect(ends.length).toBeGreaterThanOrEqual(3);
    const first = observations().find((o) => o.marker === 'sweep' && o.type === 'start')!;
    expect(first.event).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      region: 'us-east-1',
      resources: [expect.stringMatching(/^arn:aws:events:us-east-1:000000000000:rule\/SweepSchedule/)],
      detail: {},
    });
    const counted = await runtime.clients.dynamodb.send(new GetItemCommand({ TableName: tableName(), Key: { pk: { S: 'SWEEP' } } }));
    expect(Number(counted.Item?.runs?.N)).toBeGreaterThanOrEqual(3);
    expect(runtimeLog).toContainEqual(expect.stringMatching(/^schedule SweepSchedule \(rate\(1 minute\)\): runs Sweep every 300 ms$/));
    expect(runtimeLog).toContainEqual(expect.stringMatching(/^schedule SweepSchedule \(rate\(1 minute\)\): the previous run is still going; this one is skipped$/));
  });

  it('runs a rule on request after the run in progress, once for callers arriving together, and resolves when it has finished', async () => {
    const [byRule, byFunction] = await Promise.all([runtime.runScheduled('SweepSchedule'), runtime.runScheduled('Sweep')]);
    const resolvedAt = Date.now();
    expect(byRule).toHaveLength(1);
    expect(byRule[0]).toMatchObject({ rule: expect.stringMatching(/^SweepSchedule/), target: 'Target0', result: { ok: true, value: { ok: true } } });
    const eventId = (byRule[0].event as { id: string }).id;
    expect((byFunction[0].event as { id: string }).id).toBe(eventId);
    const end = observations().find((o) => o.type === 'end' && o.eventId === eventId);
    expect(end!.t).toBeLessThanOrEqual(resolvedAt);
  });

  it('never runs two runs of the same rule at once, timer and requested runs alike', async () => {
    await runtime.runScheduled('SweepSchedule');
    const sweeps = observations().filter((o) => o.marker === 'sweep');
    const runs = sweeps
      .filter((o) => o.type === 'start')
      .map((start) => ({ from: start.t, to: sweeps.find((o) => o.type === 'end' && o.eventId === start.event!.id)?.t ?? Infinity }))
      .sort((a, b) => a.from - b.from);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < runs.length; i++) expect(runs[i].from).toBeGreaterThanOrEqual(runs[i - 1].to);
  });

  it('does not run a cron rule on a timer, and runs it on request with its target’s Input', async () => {
    expect(runtimeLog).toContain('schedule Nightly (cron(0 3 * * ? *)): cron schedules are not run locally (runtime.runScheduled() runs it now)');
    expect(observations().some((o) => o.marker === 'report')).toBe(false);
    const [run] = await runtime.runScheduled('Nightly');
    expect(run).toMatchObject({ event: { kind: 'nightly' }, result: { ok: true } });
    expect(observations().filter((o) => o.marker === 'report' && o.type === 'start').map((o) => o.event)).toEqual([{ kind: 'nightly' }]);
  });

  it('leaves a disabled rule out of a run of all rules, and runs it when named', async () => {
    expect(runtimeLog).toContainEqual(expect.stringMatching(/^schedule Paused\w* \(rate\(5 minutes\)\): disabled in the template; not run$/));
    const all = await runtime.runScheduled();
    expect(all.map((r) => r.rule.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['Nightly', 'SweepSchedule']);
    const [paused] = await runtime.runScheduled('Paused');
    expect(paused.event).toMatchObject({ 'detail-type': 'Scheduled Event', resources: [expect.stringMatching(/:rule\/Paused/)] });
  });

  it('refuses a name that designates no scheduled rule', async () => {
    await expect(runtime.runScheduled('Nope')).rejects.toThrow(/no scheduled rule matches Nope; scheduled rules: SweepSchedule\w*, Nightly\w*, Paused\w*/);
  });
});

describe('schedule expressions', () => {
  it.each([
    ['rate(1 minute)', 60_000],
    ['rate(5 minutes)', 300_000],
    ['rate(2 hours)', 7_200_000],
    ['rate(1 day)', 86_400_000],
  ])('%s runs every %i ms', (expression, intervalMs) => {
    expect(parseScheduleExpression(expression)).toEqual({ kind: 'rate', intervalMs });
  });

  it('knows cron expressions and refuses what EventBridge refuses', () => {
    expect(parseScheduleExpression('cron(0/5 * * * ? *)')).toEqual({ kind: 'cron' });
    for (const invalid of ['rate(1 minutes)', 'rate(5 minute)', 'rate(0 minutes)', 'rate(5 seconds)', 'every minute']) {
      expect(() => parseScheduleExpression(invalid)).toThrow(`invalid schedule expression ${invalid}`);
    }
  });
});

describe('tables keep the secondary indexes of the template', () => {
  it('creates a KEYS_ONLY index with a number sort key, sparse and queried in numeric order', async () => {
    const table = (await runtime.clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName() }))).Table!;
    const bySweep = table.GlobalSecondaryIndexes!.find((i) => i.IndexName === 'BySweepTime')!;
    expect(bySweep.Projection).toEqual({ ProjectionType: 'KEYS_ONLY' });
    expect(table.AttributeDefinitions).toContainEqual({ AttributeName: 'sweepAt', AttributeType: 'N' });

    const put = (pk: string, extra: Record<string, { S: string } | { N: string }>) =>
      runtime.clients.dynamodb.send(new PutItemCommand({ TableName: tableName(), Item: { pk: { S: pk }, payload: { S: 'big' }, ...extra } }));
    await put('JOB#a', { sweepShard: { S: 'S1' }, sweepAt: { N: '30' } });
    await put('JOB#b', { sweepShard: { S: 'S1' }, sweepAt: { N: '5' } });
    await put('JOB#c', { sweepShard: { S: 'S1' }, sweepAt: { N: '200' } });
    await put('JOB#d', { sweepShard: { S: 'S2' }, sweepAt: { N: '1' } });
    await put('JOB#e', { sweepShard: { S: 'S1' } });
    const due = await runtime.clients.dynamodb.send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: 'BySweepTime',
        KeyConditionExpression: 'sweepShard = :shard AND sweepAt <= :now',
        ExpressionAttributeValues: { ':shard': { S: 'S1' }, ':now': { N: '100' } },
      }),
    );
    expect(due.Items).toEqual([
      { pk: { S: 'JOB#b' }, sweepShard: { S: 'S1' }, sweepAt: { N: '5' } },
      { pk: { S: 'JOB#a' }, sweepShard: { S: 'S1' }, sweepAt: { N: '30' } },
    ]);
  });

  it('creates an INCLUDE index that projects its non-key attributes only', async () => {
    const table = (await runtime.clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName() }))).Table!;
    expect(table.GlobalSecondaryIndexes!.find((i) => i.IndexName === 'ByStatus')!.Projection).toEqual({ ProjectionType: 'INCLUDE', NonKeyAttributes: ['tenant'] });
    await runtime.clients.dynamodb.send(
      new PutItemCommand({ TableName: tableName(), Item: { pk: { S: 'JOB#f' }, status: { S: 'RUNNING' }, updatedAt: { N: '10' }, tenant: { S: 'acme' }, payload: { S: 'big' } } }),
    );
    const running = await runtime.clients.dynamodb.send(
      new QueryCommand({ TableName: tableName(), IndexName: 'ByStatus', KeyConditionExpression: '#s = :s', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': { S: 'RUNNING' } } }),
    );
    expect(running.Items).toEqual([{ pk: { S: 'JOB#f' }, status: { S: 'RUNNING' }, updatedAt: { N: '10' }, tenant: { S: 'acme' } }]);
  });
});

describe('functions reach AWS through the fault layer', () => {
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${runtime.faultsUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then(
      async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }),
    );

  it('gives the functions the fault layer’s endpoints and the runtime’s own clients the emulators’', () => {
    const env = functionNamed('Writer').definition.env;
    for (const service of ['dynamodb', 'sqs', 'sns', 's3'] as const) {
      expect(env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`]).toBe(runtime.faultEndpoints[service]);
      expect(runtime.faultEndpoints[service]).not.toBe(runtime.endpoints[service]);
    }
  });

  it('fails a function’s terminal write with a rule added over HTTP, while other writes and the runtime’s clients go through', async () => {
    const added = await admin('POST', '/_faults/rules', { service: 'dynamodb', operations: ['UpdateItem'], bodyIncludes: ['"SUCCEEDED"'], error: 'throttle' });
    expect(added.status).toBe(201);
    const writer = functionNamed('Writer');
    const terminal = await writer.invoke({ pk: 'JOB#w', status: 'SUCCEEDED' });
    expect(terminal).toMatchObject({ ok: false, error: { errorType: 'ProvisionedThroughputExceededException' } });
    expect(await writer.invoke({ pk: 'JOB#w', status: 'RUNNING' })).toMatchObject({ ok: true, value: { written: 'RUNNING' } });
    await runtime.clients.dynamodb.send(
      new UpdateItemCommand({ TableName: tableName(), Key: { pk: { S: 'JOB#x' } }, UpdateExpression: 'SET #s = :s', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': { S: 'SUCCEEDED' } } }),
    );
    expect(runtime.faults.rule(String(added.json.id))).toMatchObject({ matched: 1, injected: 1 });
    expect(runtime.faults.stats().services.dynamodb?.UpdateItem?.byKind).toEqual({ throttle: 1 });

    expect((await admin('DELETE', `/_faults/rules/${String(added.json.id)}`)).status).toBe(200);
    expect(await writer.invoke({ pk: 'JOB#w', status: 'SUCCEEDED' })).toMatchObject({ ok: true });
  });

  it('names the fault layer in .local/endpoints.json', () => {
    const written = JSON.parse(readFileSync(writeEndpointsFile(runtime, join(workdir, 'endpoints.json')), 'utf8')) as Record<string, unknown>;
    expect(written.faultsUrl).toBe(runtime.faultsUrl);
    expect(written.faultEndpoints).toEqual(runtime.faultEndpoints);
  });
});
