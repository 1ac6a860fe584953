import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BreakerStore, breakerKey } from '../../../lambda/aws/breaker-store';
import { type BreakerSettings } from '../../../lambda/core/circuit-breaker';
import type { Admission, BreakerTarget } from '../../../lambda/core/ports';
import { startJobsTable } from './dynalite';

/*
 * The breaker's conditional writes against a real DynamoDB wire endpoint (dynalite): concurrency between workers is
 * what the conditions are for, so it is exercised for real with concurrent calls.
 */

let table: Awaited<ReturnType<typeof startJobsTable>>;
beforeAll(async () => {
  table = await startJobsTable();
});
afterAll(() => table.stop());

const settings: BreakerSettings = { windowSeconds: 60, minimumCalls: 10, failureRateThreshold: 0.5, cooldownSeconds: 30, maxCooldownSeconds: 600, halfOpenProbes: 1 };
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
const at = (ms: number) => new Date(T0 + ms);
const CALL: Admission = { admitted: true, probe: false };
const PROBE: Admission = { admitted: true, probe: true };

let counter = 0;
const newTarget = (): BreakerTarget => ({ modelId: `model-${++counter}`, region: 'us-east-1' });

function breakers(overrides: Partial<BreakerSettings> = {}, client: DynamoDBDocumentClient = table.client) {
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  const log = { info: () => {}, warn: (message: string, fields: Record<string, unknown>) => void warnings.push({ message, fields }), error: () => {} };
  return { store: new BreakerStore(client, table.tableName, { ...settings, ...overrides }, log), warnings };
}

const stored = async (target: BreakerTarget) => (await table.client.send(new GetCommand({ TableName: table.tableName, Key: breakerKey(target), ConsistentRead: true }))).Item;

async function openBreaker(store: BreakerStore, target: BreakerTarget, now = at(0)) {
  for (let i = 0; i < 10; i++) await store.record(target, 'failure', CALL, now);
  expect((await store.admit(target, now)).admitted).toBe(false);
}

describe('counting while CLOSED', () => {
  it('keeps one item per region and model id, without an expiry, and admits without writing', async () => {
    const { store } = breakers();
    const target = newTarget();
    expect(await store.admit(target, at(0))).toEqual({ admitted: true, probe: false });
    expect(await stored(target)).toBeUndefined();
    await store.record(target, 'success', CALL, at(1000));
    expect(await stored(target)).toBeUndefined();
    await store.record(target, 'failure', CALL, at(2000));
    expect(await stored(target)).toEqual(
      expect.objectContaining({ pk: `BREAKER#us-east-1#${target.modelId}`, modelId: target.modelId, region: 'us-east-1', state: 'CLOSED', calls: 2, failures: 1, bucketStart: T0 }),
    );
    expect(await stored(target)).not.toHaveProperty('expiresAt');
    expect(await stored({ ...target, region: 'us-west-2' })).toBeUndefined();
  });

  it('holds the successes of admitted calls and counts them in one write at flush (failures and probes at once)', async () => {
    const { store } = breakers();
    const target = newTarget();
    for (let i = 0; i < 7; i++) await store.record(target, 'success', CALL, at(1000));
    expect(await stored(target)).toBeUndefined();
    await store.flush(at(1500));
    expect(await stored(target)).toMatchObject({ calls: 7, failures: 0 });
    await store.flush(at(1600));
    expect(await stored(target)).toMatchObject({ calls: 7, failures: 0 });
    await store.record(target, 'success', CALL, at(2000));
    await store.record(target, 'failure', CALL, at(2000));
    expect(await stored(target)).toMatchObject({ calls: 9, failures: 1 });
  });

  it('loses no count when 20 workers record at once, and rolls buckets keeping the last one', async () => {
    const { store } = breakers({ minimumCalls: 1000 });
    const target = newTarget();
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.record(target, i % 4 === 0 ? 'failure' : 'success', CALL, at(1000))));
    await store.flush(at(1000));
    expect(await stored(target)).toMatchObject({ calls: 20, failures: 5 });
    await Promise.all(Array.from({ length: 5 }, () => store.record(target, 'failure', CALL, at(61_000))));
    expect(await stored(target)).toMatchObject({ bucketStart: T0 + 60_000, calls: 5, failures: 5, prevCalls: 20, prevFailures: 5 });
    await store.record(target, 'success', CALL, at(200_000));
    await store.flush(at(200_000));
    expect(await stored(target)).toMatchObject({ bucketStart: T0 + 180_000, calls: 1, failures: 0, prevCalls: 0, prevFailures: 0 });
  });

  it('opens exactly once when 50 workers report failures at once', async () => {
    const { store } = breakers();
    const target = newTarget();
    const transitions = await Promise.all(Array.from({ length: 50 }, () => store.record(target, 'failure', CALL, at(1000))));
    expect(transitions.filter(Boolean)).toEqual([{ from: 'CLOSED', to: 'OPEN' }]);
    expect(await stored(target)).toMatchObject({ state: 'OPEN', consecutiveOpens: 1, openedAt: T0 + 1000, openUntil: T0 + 31_000 });
    expect(await store.admit(target, at(2000))).toEqual({ admitted: false, state: 'OPEN', retryAt: T0 + 31_000 });
  });

  it('does not open while failures stay below the threshold share of the window', async () => {
    const { store } = breakers();
    const target = newTarget();
    for (let i = 0; i < 20; i++) expect(await store.record(target, i < 11 ? 'success' : 'failure', CALL, at(1000))).toBeUndefined();
    expect((await store.admit(target, at(2000))).admitted).toBe(true);
  });
});

describe('HALF_OPEN probes', () => {
  it('lets exactly halfOpenProbes of 20 concurrent calls probe an OPEN breaker whose cooldown ended', async () => {
    for (const halfOpenProbes of [1, 3]) {
      const { store } = breakers({ halfOpenProbes });
      const target = newTarget();
      await openBreaker(store, target);
      const admissions = await Promise.all(Array.from({ length: 20 }, () => store.admit(target, at(31_000))));
      expect(admissions.filter((a) => a.admitted)).toHaveLength(halfOpenProbes);
      expect(admissions.filter((a) => a.admitted && a.probe)).toHaveLength(halfOpenProbes);
      expect(admissions.filter((a) => a.admitted && a.transition)).toEqual([{ admitted: true, probe: true, transition: { from: 'OPEN', to: 'HALF_OPEN' } }]);
      expect(admissions.filter((a) => !a.admitted).every((a) => !a.admitted && a.state === 'HALF_OPEN' && a.retryAt > T0 + 31_000)).toBe(true);
    }
  });

  it('closes on a successful probe: counts and openings start again', async () => {
    const { store } = breakers();
    const target = newTarget();
    await openBreaker(store, target);
    const probe = await store.admit(target, at(31_000));
    expect(probe).toMatchObject({ admitted: true, probe: true });
    expect(await store.record(target, 'success', probe, at(32_000))).toEqual({ from: 'HALF_OPEN', to: 'CLOSED' });
    expect(await stored(target)).toMatchObject({ state: 'CLOSED', calls: 0, failures: 0, consecutiveOpens: 0 });
    expect(await stored(target)).not.toHaveProperty('probes');
    expect(await store.admit(target, at(33_000))).toEqual({ admitted: true, probe: false });
  });

  it('reopens on a failed probe for twice the cooldown, and doubles again on the next failed probe', async () => {
    const { store } = breakers();
    const target = newTarget();
    await openBreaker(store, target);
    expect(await store.record(target, 'failure', await store.admit(target, at(31_000)), at(32_000))).toEqual({ from: 'HALF_OPEN', to: 'OPEN' });
    expect(await store.admit(target, at(91_999))).toEqual({ admitted: false, state: 'OPEN', retryAt: T0 + 92_000 });
    expect(await store.record(target, 'failure', await store.admit(target, at(92_000)), at(93_000))).toEqual({ from: 'HALF_OPEN', to: 'OPEN' });
    expect(await stored(target)).toMatchObject({ state: 'OPEN', consecutiveOpens: 3, openUntil: T0 + 93_000 + 120_000 });
  });

  it('lets another probe in when a probe never reports (its lease ends)', async () => {
    const { store } = breakers({ probeLeaseSeconds: 20 });
    const target = newTarget();
    await openBreaker(store, target);
    expect(await store.admit(target, at(31_000))).toMatchObject({ admitted: true, probe: true });
    expect(await store.admit(target, at(50_999))).toEqual({ admitted: false, state: 'HALF_OPEN', retryAt: T0 + 51_000 });
    expect(await store.admit(target, at(51_000))).toEqual({ admitted: true, probe: true });
  });

  it('ignores the late outcome of a call admitted before the breaker opened', async () => {
    const { store } = breakers();
    const target = newTarget();
    await openBreaker(store, target);
    expect(await store.record(target, 'success', CALL, at(5000))).toBeUndefined();
    expect(await stored(target)).toMatchObject({ state: 'OPEN', calls: 10 });
    await store.admit(target, at(31_000));
    expect(await store.record(target, 'success', CALL, at(31_500))).toBeUndefined();
    expect(await stored(target)).toMatchObject({ state: 'HALF_OPEN' });
    expect(await store.record(target, 'failure', PROBE, at(32_000))).toEqual({ from: 'HALF_OPEN', to: 'OPEN' });
  });
});

describe('when the breaker store fails', () => {
  const broken = { send: async () => Promise.reject(Object.assign(new Error('boom'), { name: 'ProvisionedThroughputExceededException' })) } as unknown as DynamoDBDocumentClient;

  it('admits the call unguarded (fails open) and says so', async () => {
    const { store, warnings } = breakers({}, broken);
    expect(await store.admit(newTarget(), at(0))).toEqual({ admitted: true, probe: false, degraded: true });
    expect(warnings).toEqual([{ message: expect.stringContaining('admitting the call'), fields: expect.objectContaining({ degraded: true, error: 'ProvisionedThroughputExceededException' }) }]);
  });

  it('drops the outcome with a warning instead of failing the job', async () => {
    const { store, warnings } = breakers({}, broken);
    await expect(store.record(newTarget(), 'failure', { admitted: true, probe: false, degraded: true }, at(0))).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
  });
});

describe('describe', () => {
  it('shows every target, written or not, with state, window, next probe and recent figures', async () => {
    const { store } = breakers();
    const open = newTarget();
    const busy = newTarget();
    const fresh = newTarget();
    await openBreaker(store, open);
    await store.record(busy, 'failure', CALL, at(1000), { latencyMs: 300, failed: true, throttled: true });
    await store.record(busy, 'success', CALL, at(1000), { latencyMs: 1500, failed: false, throttled: false, inputTokens: 40, outputTokens: 100 });
    await store.flush(at(1000));
    const views = await store.describe([open, busy, fresh], at(2000));
    const none = { calls: 0, errorRate: 0, throttleRate: 0 };
    expect(views).toEqual([
      { ...open, state: 'OPEN', errorRate: 1, calls: 10, failures: 10, openedAt: at(0).toISOString(), nextProbeAt: at(30_000).toISOString(), recent: none },
      {
        ...busy,
        state: 'CLOSED',
        errorRate: 0.5,
        calls: 2,
        failures: 1,
        // Both calls in one minute bucket: the failure (<= 500 ms) and the success (<= 2000 ms); tokens of the answer only.
        recent: { calls: 2, errorRate: 0.5, throttleRate: 0.5, p50Ms: 500, p90Ms: 2000, meanInputTokens: 20, meanOutputTokens: 50 },
      },
      { ...fresh, state: 'CLOSED', errorRate: 0, calls: 0, failures: 0, recent: none },
    ]);
  });

  it('reads more breakers than one BatchGetItem holds', async () => {
    const { store } = breakers();
    const targets = Array.from({ length: 130 }, () => newTarget());
    await store.record(targets[120], 'failure', CALL, at(0));
    const views = await store.describe(targets, at(1000));
    expect(views).toHaveLength(130);
    expect(views[120]).toMatchObject({ modelId: targets[120].modelId, calls: 1, failures: 1 });
  });
});
