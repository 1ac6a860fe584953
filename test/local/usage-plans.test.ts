import { quotaPeriodOf, UsagePlanLimiter, type UsagePlanDefinition } from '../../local/usage-plans';

const plan = (overrides: Partial<UsagePlanDefinition>): UsagePlanDefinition => ({ logicalId: 'Plan', keyIds: ['KeyA', 'KeyB'], ...overrides });

function limiterAt(plans: UsagePlanDefinition[], start = Date.UTC(2026, 10, 25, 12)) {
  const clock = { now: start };
  return { limiter: new UsagePlanLimiter(plans, () => clock.now), clock };
}

describe('usage plan limits on the local API', () => {
  it('admits a burst up to burstLimit, then throttles until the bucket refills at rateLimit', () => {
    const { limiter, clock } = limiterAt([plan({ rateLimit: 2, burstLimit: 3 })]);
    expect([1, 2, 3, 4].map(() => limiter.admit('KeyA'))).toEqual(['ADMITTED', 'ADMITTED', 'ADMITTED', 'THROTTLED']);
    clock.now += 400;
    expect(limiter.admit('KeyA')).toBe('THROTTLED');
    clock.now += 100;
    expect(limiter.admit('KeyA')).toBe('ADMITTED');
    clock.now += 10_000;
    expect([1, 2, 3, 4].map(() => limiter.admit('KeyA'))).toEqual(['ADMITTED', 'ADMITTED', 'ADMITTED', 'THROTTLED']);
  });

  it('keeps one bucket per key: one tenant over its rate does not throttle another on the same plan', () => {
    const { limiter } = limiterAt([plan({ rateLimit: 1, burstLimit: 1 })]);
    expect(limiter.admit('KeyA')).toBe('ADMITTED');
    expect(limiter.admit('KeyA')).toBe('THROTTLED');
    expect(limiter.admit('KeyB')).toBe('ADMITTED');
  });

  it('refuses requests past the quota until the next period, and does not count throttled ones', () => {
    const { limiter, clock } = limiterAt([plan({ rateLimit: 1, burstLimit: 2, quota: { limit: 3, period: 'DAY' } })], Date.UTC(2026, 10, 25, 23, 59, 50));
    expect([1, 2, 3].map(() => limiter.admit('KeyA'))).toEqual(['ADMITTED', 'ADMITTED', 'THROTTLED']);
    clock.now += 1000;
    expect(limiter.admit('KeyA')).toBe('ADMITTED');
    clock.now += 1000;
    expect(limiter.admit('KeyA')).toBe('QUOTA_EXCEEDED');
    clock.now += 8000; // 00:00:00 UTC: a new day
    expect(limiter.admit('KeyA')).toBe('ADMITTED');
  });

  it('counts quotas per UTC day, ISO week (from Monday) and month', () => {
    const wednesday = Date.UTC(2026, 10, 25, 8);
    expect(quotaPeriodOf('DAY', wednesday)).toBe('2026-11-25');
    expect(quotaPeriodOf('WEEK', wednesday)).toBe(quotaPeriodOf('WEEK', Date.UTC(2026, 10, 23, 0)));
    expect(quotaPeriodOf('WEEK', wednesday)).not.toBe(quotaPeriodOf('WEEK', Date.UTC(2026, 10, 22, 23, 59)));
    expect(quotaPeriodOf('MONTH', wednesday)).toBe('2026-11');
  });

  it('knows which keys a plan of the stage lets in', () => {
    const { limiter } = limiterAt([plan({ keyIds: ['KeyA'] })]);
    expect(limiter.planOf('KeyA')?.logicalId).toBe('Plan');
    expect(limiter.planOf('KeyC')).toBeUndefined();
  });
});
