import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { CapacityStore } from '../../../lambda/aws/capacity-store';
import { startJobsTable } from './dynalite';

let table: Awaited<ReturnType<typeof startJobsTable>>;
beforeAll(async () => {
  table = await startJobsTable();
});
afterAll(() => table.stop());

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const target = (modelId: string) => ({ modelId, region: 'us-east-1' });

describe('the admission bucket store (DynamoDB)', () => {
  it('hands concurrent workers distinct slots: a burst becomes a schedule at the quota rate', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ requestsPerMinute: 60 }), quiet);
    const now = new Date();
    const grants = await Promise.all(Array.from({ length: 12 }, () => store.reserve(target('paced'), { requests: 1, tokens: 0 }, now)));
    const waits = grants.map((g) => (g.kind === 'reserved' ? g.waitMs : -1)).sort((a, b) => a - b);
    // Capacity 1 (3% of 60 a minute, at least one), then one slot per 60/(60 x 0.94 - 1) s.
    expect(waits.filter((w) => w === 0)).toHaveLength(1);
    const slot = 60_000 / (60 * 0.94 - 1);
    expect(waits.slice(1)).toEqual(Array.from({ length: 11 }, (_, i) => Math.ceil((i + 1) * slot)));
  });

  it('admits freely a model without a quota, and fails open when the table is unreachable', async () => {
    const free = new CapacityStore(table.client, table.tableName, () => undefined, quiet);
    expect(await free.reserve(target('free'), { requests: 1, tokens: 1 }, new Date())).toEqual({ kind: 'unlimited' });
    const broken = new CapacityStore({ send: async () => Promise.reject(new Error('down')) } as never, table.tableName, () => ({ requestsPerMinute: 1 }), quiet);
    expect(await broken.reserve(target('x'), { requests: 1, tokens: 1 }, new Date())).toEqual({ kind: 'unlimited', degraded: true });
  });

  it('gives back what a call did not use, and slows down after a throttle', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ tokensPerMinute: 100_000 }), quiet);
    const t = target('settled');
    const now = new Date();
    await store.reserve(t, { requests: 1, tokens: 4000 }, now);
    const read = async () => (await table.client.send(new GetCommand({ TableName: table.tableName, Key: { pk: 'BUCKET#us-east-1#settled' } }))).Item!;
    const before = (await read()).tokens as number;
    await store.settle(t, { requests: 1, tokens: 4000 }, { usage: { inputTokens: 100, outputTokens: 400 }, throttled: false, called: true }, now);
    expect((await read()).tokens).toBe(before + 3500);
    await store.settle(t, { requests: 1, tokens: 10 }, { throttled: true, called: true }, now);
    expect((await read()).rateFactor).toBeCloseTo(0.7);
    await store.settle(t, { requests: 1, tokens: 10 }, { usage: { inputTokens: 1, outputTokens: 1 }, throttled: false, called: true }, now);
    expect((await read()).rateFactor).toBeCloseTo(0.71);
  });
});
