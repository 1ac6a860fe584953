/** A usage plan as the template defines it, attached to the served stage. */
export interface UsagePlanDefinition {
  logicalId: string;
  /** Steady-state requests per second per key; undefined: not throttled by the plan. */
  rateLimit?: number;
  /** Token bucket capacity per key. */
  burstLimit?: number;
  quota?: { limit: number; period: 'DAY' | 'WEEK' | 'MONTH' };
  /** Logical ids of the API keys in the plan (UsagePlanKey). */
  keyIds: string[];
}

export type Admission = 'ADMITTED' | 'THROTTLED' | 'QUOTA_EXCEEDED';

/** The UTC period a request falls in, as API Gateway counts quotas (weeks start on Monday). */
export function quotaPeriodOf(period: 'DAY' | 'WEEK' | 'MONTH', now: number): string {
  const d = new Date(now);
  if (period === 'DAY') return d.toISOString().slice(0, 10);
  if (period === 'MONTH') return d.toISOString().slice(0, 7);
  const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)));
  return `week of ${monday.toISOString().slice(0, 10)}`;
}

/**
 * The usage plans' limits per API key, as API Gateway applies them: a token bucket (capacity `burstLimit`, refilled
 * at `rateLimit` per second, full at start) and a request count per quota period. A throttled request does not
 * count against the quota.
 */
export class UsagePlanLimiter {
  private readonly planOfKey = new Map<string, UsagePlanDefinition>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly quotas = new Map<string, { period: string; used: number }>();

  constructor(plans: UsagePlanDefinition[], private readonly clock: () => number = Date.now) {
    for (const plan of plans) for (const keyId of plan.keyIds) this.planOfKey.set(keyId, plan);
  }

  /** The plan that lets this key call the stage; API Gateway rejects a key in no plan of the stage. */
  planOf(keyId: string): UsagePlanDefinition | undefined {
    return this.planOfKey.get(keyId);
  }

  admit(keyId: string): Admission {
    const plan = this.planOfKey.get(keyId);
    if (!plan) return 'ADMITTED';
    const now = this.clock();
    if (plan.rateLimit !== undefined) {
      const capacity = Math.max(1, plan.burstLimit ?? Math.ceil(plan.rateLimit));
      const bucket = this.buckets.get(keyId) ?? { tokens: capacity, at: now };
      bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * plan.rateLimit);
      bucket.at = now;
      this.buckets.set(keyId, bucket);
      if (bucket.tokens < 1) return 'THROTTLED';
      bucket.tokens -= 1;
    }
    if (plan.quota) {
      const period = quotaPeriodOf(plan.quota.period, now);
      const count = this.quotas.get(keyId);
      const used = count?.period === period ? count.used : 0;
      if (used >= plan.quota.limit) return 'QUOTA_EXCEEDED';
      this.quotas.set(keyId, { period, used: used + 1 });
    }
    return 'ADMITTED';
  }
}
