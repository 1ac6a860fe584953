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
const read = async (modelId: string) => (await table.client.send(new GetCommand({ TableName: table.tableName, Key: { pk: `BUCKET#us-east-1#${modelId}` } }))).Item!;

describe('the admission schedule store (DynamoDB)', () => {
  it('hands concurrent workers distinct slots within a second and sends the rest to the line, behind the schedule', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ requestsPerMinute: 60 }), quiet);
    const now = new Date();
    const grants = await Promise.all(Array.from({ length: 40 }, () => store.reserve(target('paced'), { requests: 1, tokens: 0 }, now)));
    const slot = 60_000 / (60 * 0.94);
    const reserved = grants.flatMap((g) => (g.kind === 'reserved' ? [g.waitMs] : [])).sort((a, b) => a - b);
    // A burst of one (3% of 60, at least one) and nothing else within a second: no two workers share a slot.
    expect(reserved).toEqual([0]);
    const comeBack = grants.flatMap((g) => (g.kind === 'refused' ? [g.waitMs] : []));
    expect(comeBack).toHaveLength(39);
    expect(Math.min(...comeBack)).toBeGreaterThanOrEqual(Math.ceil(slot) - 1_000);
  });

  it('brings the line back one slot apart, a second before each place, and restarts it when it empties', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ requestsPerMinute: 60 }), quiet);
    const slot = 60_000 / (60 * 0.94);
    const now = new Date();
    const grants = [];
    for (let i = 0; i < 6; i++) grants.push(await store.reserve(target('line'), { requests: 1, tokens: 0 }, now));
    expect(grants.map((g) => g.kind)).toEqual(['reserved', 'refused', 'refused', 'refused', 'refused', 'refused']);
    // Slot 0 is promised; places 1 to 5 are not, and their jobs come back a second before each.
    expect(grants.slice(1).map((g) => (g.kind === 'unlimited' ? -1 : g.waitMs))).toEqual([1, 2, 3, 4, 5].map((i) => Math.ceil(i * slot - 1_000)));
    // Ten minutes later the schedule and the line have emptied: the line restarts behind the new schedule.
    const later = new Date(now.getTime() + 600_000);
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await store.reserve(target('line'), { requests: 1, tokens: 0 }, later));
    expect(again.map((g) => [g.kind, g.kind === 'unlimited' ? -1 : g.waitMs])).toEqual([
      ['reserved', 0],
      ['refused', Math.ceil(slot - 1_000)],
      ['refused', Math.ceil(2 * slot - 1_000)],
    ]);
  });

  it('costs a job in a backlog one write to join the line and one to take its slot when it comes back', async () => {
    const writes: string[] = [];
    const counting = { send: (command: { constructor: { name: string } }) => (writes.push(command.constructor.name), table.client.send(command as never)) } as never;
    const store = new CapacityStore(counting, table.tableName, () => ({ requestsPerMinute: 60 }), quiet);
    const now = new Date();
    for (let i = 0; i < 5; i++) await store.reserve(target('backlog'), { requests: 1, tokens: 0 }, now);
    writes.length = 0;
    expect(await store.reserve(target('backlog'), { requests: 1, tokens: 0 }, now)).toMatchObject({ kind: 'refused' });
    expect(writes).toEqual(['UpdateCommand']);
    writes.length = 0;
    // Back when the schedule has room again: one ADD, no lift tried on a timeline seen busy.
    const back = new Date(now.getTime() + 500);
    await store.reserve(target('backlog'), { requests: 1, tokens: 0 }, back);
    expect(writes.filter((w) => w === 'UpdateCommand')).toHaveLength(1);
  });

  it('admits freely a model without a quota, and fails open when the table is unreachable', async () => {
    const free = new CapacityStore(table.client, table.tableName, () => undefined, quiet);
    expect(await free.reserve(target('free'), { requests: 1, tokens: 1 }, new Date())).toEqual({ kind: 'unlimited' });
    const broken = new CapacityStore({ send: async () => Promise.reject(new Error('down')) } as never, table.tableName, () => ({ requestsPerMinute: 1 }), quiet);
    expect(await broken.reserve(target('x'), { requests: 1, tokens: 1 }, new Date())).toEqual({ kind: 'unlimited', degraded: true });
  });

  it('gives back what a call did not use', async () => {
    const store = new CapacityStore(table.client, table.tableName, () => ({ tokensPerMinute: 94_000 }), quiet);
    const t = target('settled');
    const now = new Date();
    await store.reserve(t, { requests: 1, tokens: 1000 }, now);
    await store.reserve(t, { requests: 1, tokens: 1000 }, now);
    const before = (await read('settled')).tat as number;
    await store.settle(t, { requests: 1, tokens: 1000 }, { usage: { inputTokens: 100, outputTokens: 150 }, throttled: false, called: true }, now);
    // 1000 tokens reserved, 250 used: the timeline of 750 tokens (at 94% of the quota) comes back.
    expect((await read('settled')).tat).toBeCloseTo(before - (750 * 60_000) / (94_000 * 0.94));
  });

  it('pauses the schedule on a throttle, for every worker, and writes nothing for calls that simply succeed', async () => {
    const t = target('throttled');
    const workers = [0, 1].map(() => new CapacityStore(table.client, table.tableName, () => ({ requestsPerMinute: 60 }), quiet, 0));
    const cost = { requests: 1, tokens: 0 };
    const at = Date.now();
    await workers[0].reserve(t, cost, new Date(at));
    await workers[0].settle(t, cost, { usage: { inputTokens: 1, outputTokens: 1 }, throttled: false, called: true }, new Date(at + 300));
    expect((await read('throttled')).rateVersion).toBeUndefined();

    await workers[0].settle(t, cost, { throttled: true, called: true }, new Date(at + 500));
    // Another call under way when the throttle came is throttled too: the same spell, no second pause.
    await workers[1].settle(t, cost, { throttled: true, called: true }, new Date(at + 600));
    const item = await read('throttled');
    expect(item.rateVersion).toBe(1);
    expect(item.rate).toMatchObject({ streak: 1, spellStart: at + 500, pausedUntil: at + 2_500 });
    // The other worker's next job comes back a second before the pause ends.
    const next = await workers[1].reserve(t, cost, new Date(at + 700));
    expect(next).toEqual({ kind: 'refused', waitMs: 800 });

    // The probe after the pause is admitted 2.3 s into the spell: it ends, and the rate restarts at 85%.
    await workers[1].settle(t, cost, { usage: { inputTokens: 1, outputTokens: 1 }, throttled: false, called: true }, new Date(at + 2_800));
    expect((await read('throttled')).rate).toMatchObject({ streak: 0, floor: 0.85, since: at + 2_800 });
  });
});
