import { QUOTA_WINDOW_MS, QuotaWindows } from '../../local/bedrock-sim/quota';

describe('QuotaWindows (sliding 60 s window)', () => {
  let now = 0;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
  });

  it('admits rpm requests per window and frees them as they slide out', () => {
    const quotas = new QuotaWindows(clock);
    expect(quotas.tryReserve('m', { rpm: 2 }, 10)).toBeDefined();
    now += 30_000;
    expect(quotas.tryReserve('m', { rpm: 2 }, 10)).toBeDefined();
    expect(quotas.tryReserve('m', { rpm: 2 }, 10)).toBeUndefined();
    now += QUOTA_WINDOW_MS - 30_000 + 1;
    expect(quotas.tryReserve('m', { rpm: 2 }, 10)).toBeDefined();
    expect(quotas.tryReserve('m', { rpm: 2 }, 10)).toBeUndefined();
  });

  it('counts reserved tokens until settled to the real usage', () => {
    const quotas = new QuotaWindows(clock);
    const first = quotas.tryReserve('m', { tpm: 1000 }, 900);
    expect(quotas.tryReserve('m', { tpm: 1000 }, 200)).toBeUndefined();
    first?.settle(100);
    expect(quotas.tryReserve('m', { tpm: 1000 }, 900)).toBeDefined();
    expect(quotas.tryReserve('m', { tpm: 1000 }, 1)).toBeUndefined();
  });

  it('keeps one window per model and forgets everything on clear', () => {
    const quotas = new QuotaWindows(clock);
    expect(quotas.tryReserve('a', { rpm: 1 }, 1)).toBeDefined();
    expect(quotas.tryReserve('b', { rpm: 1 }, 1)).toBeDefined();
    expect(quotas.tryReserve('a', { rpm: 1 }, 1)).toBeUndefined();
    quotas.clear();
    expect(quotas.tryReserve('a', { rpm: 1 }, 1)).toBeDefined();
  });

  it('counts the minute already used against a lowered limit (a quota another application now shares), and admits more at once when it is raised', () => {
    const quotas = new QuotaWindows(clock);
    for (let i = 0; i < 60; i++) {
      expect(quotas.tryReserve('m', { rpm: 60 }, 1)).toBeDefined();
      now += 1_000;
    }
    // Down to 30: the last minute's 60 calls still count; room again once only 29 of them are left in the window.
    expect(quotas.tryReserve('m', { rpm: 30 }, 1)).toBeUndefined();
    now += 30_000;
    expect(quotas.tryReserve('m', { rpm: 30 }, 1)).toBeDefined();
    expect(quotas.tryReserve('m', { rpm: 30 }, 1)).toBeUndefined();
    // Back to 60: the rest of the minute's quota is there at once.
    for (let i = 0; i < 30; i++) expect(quotas.tryReserve('m', { rpm: 60 }, 1)).toBeDefined();
    expect(quotas.tryReserve('m', { rpm: 60 }, 1)).toBeUndefined();
  });

  it('does not limit what has no limit', () => {
    const quotas = new QuotaWindows(clock);
    for (let i = 0; i < 100; i++) expect(quotas.tryReserve('m', {}, 1_000_000)).toBeDefined();
  });
});
