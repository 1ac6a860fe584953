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

describe('the admission schedule store (DynamoDB)', () => {
  it('hands 40 concurrent workers distinct slots: a burst becomes a schedule at the quota rate', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ requestsPerMinute: 60 }), quiet);
    const now = new Date();
    const grants = await Promise.all(Array.from({ length: 40 }, () => store.reserve(target('paced'), { requests: 1, tokens: 0 }, now)));
    expect(grants.every((g) => g.kind === 'reserved')).toBe(true);
    const waits = grants.map((g) => (g.kind === 'reserved' ? g.waitMs : -1)).sort((a, b) => a - b);
    const slot = 60_000 / (60 * 0.94);
    // A burst of one (3% of 60, at least one), then exactly one call per slot: no two workers share a slot.
    expect(waits).toEqual(Array.from({ length: 40 }, (_, i) => Math.max(0, Math.ceil(i * slot))));
  });

  it('admits freely a model without a quota, and fails open when the table is unreachable', async () => {
    const free = new CapacityStore(table.client, table.tableName, () => undefined, quiet);
    expect(await free.reserve(target('free'), { requests: 1, tokens: 1 }, new Date())).toEqual({ kind: 'unlimited' });
    const broken = new CapacityStore({ send: async () => Promise.reject(new Error('down')) } as never, table.tableName, () => ({ requestsPerMinute: 1 }), quiet);
    expect(await broken.reserve(target('x'), { requests: 1, tokens: 1 }, new Date())).toEqual({ kind: 'unlimited', degraded: true });
  });

  it('refuses slots more than 15 minutes ahead and takes nothing for them', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ requestsPerMinute: 1 }), quiet);
    const now = new Date();
    const grants = [];
    for (let i = 0; i < 18; i++) grants.push(await store.reserve(target('scarce'), { requests: 1, tokens: 0 }, now));
    expect(grants.filter((g) => g.kind === 'reserved')).toHaveLength(15);
    expect(grants.at(-1)).toMatchObject({ kind: 'refused' });
  });

  it('gives back what a call did not use, and slows down after a throttle', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ tokensPerMinute: 94_000 }), quiet);
    const t = target('settled');
    const now = new Date();
    await store.reserve(t, { requests: 1, tokens: 1000 }, now);
    await store.reserve(t, { requests: 1, tokens: 1000 }, now);
    const read = async () => (await table.client.send(new GetCommand({ TableName: table.tableName, Key: { pk: 'BUCKET#us-east-1#settled' } }))).Item!;
    const before = (await read()).tat as number;
    await store.settle(t, { requests: 1, tokens: 1000 }, { usage: { inputTokens: 100, outputTokens: 150 }, throttled: false, called: true }, now);
    // 1000 tokens reserved, 250 used: the timeline of 750 tokens (at 94% of the quota) comes back.
    expect((await read()).tat).toBeCloseTo(before - (750 * 60_000) / (94_000 * 0.94));
    await store.settle(t, { requests: 1, tokens: 10 }, { throttled: true, called: true }, now);
    expect((await read()).rateFactor).toBeCloseTo(0.7);
    await store.settle(t, { requests: 1, tokens: 10 }, { usage: { inputTokens: 1, outputTokens: 1 }, throttled: false, called: true }, now);
    expect((await read()).rateFactor).toBeCloseTo(0.71);
  });
});
