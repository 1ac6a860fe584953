import { z } from 'zod';
import { seededRandom } from '../bedrock-sim/random';
import { AWS_ERROR_KINDS } from './errors';
import { AWS_SERVICES, type AwsService } from './operations';

/** What a rule does to a request it hits: answer an AWS error, reset the connection, or never answer. */
export const AWS_FAULT_KINDS = [...AWS_ERROR_KINDS, 'reset', 'timeout'] as const;
export type AwsFaultKind = (typeof AWS_FAULT_KINDS)[number];

const epochMs = z.number().int().min(0);

export const faultRuleSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits and . _ : - only (1-100)').optional(),
    service: z.enum(AWS_SERVICES),
    operations: z.array(z.string().min(1)).min(1).optional().describe('e.g. ["UpdateItem"]; every operation when omitted'),
    bodyIncludes: z.array(z.string().min(1)).min(1).optional().describe('hit only requests whose body contains one of these'),
    rate: z.number().min(0).max(1).optional().describe('share of matching requests hit; default 1'),
    error: z.enum(AWS_FAULT_KINDS).optional().describe("default 'internal', unless the rule only adds latency"),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    from: epochMs.optional(),
    to: epochMs.optional(),
    durationMs: z.number().int().positive().optional().describe('window from `from` (default: now) for this long'),
    count: z.number().int().positive().optional().describe('stop after this many faults'),
  })
  .refine((r) => !(r.to !== undefined && r.durationMs !== undefined), { message: 'give either to or durationMs, not both', path: ['durationMs'] })
  .refine((r) => r.from === undefined || r.to === undefined || r.to > r.from, { message: 'to must be after from', path: ['to'] });

/** A rule as given to `add` (or POSTed to /_faults/rules). */
export type AwsFaultRuleInput = z.input<typeof faultRuleSchema>;

export interface AwsFaultRule {
  id: string;
  service: AwsService;
  operations?: string[];
  bodyIncludes?: string[];
  rate: number;
  /** Absent on a latency-only rule. */
  error?: AwsFaultKind;
  latencyMs?: number;
  /** Window (epoch ms); open-ended when absent. */
  from?: number;
  to?: number;
  count?: number;
  createdAt: number;
}

export interface AwsFaultRuleState extends AwsFaultRule {
  /** Requests that met the rule's filters while it was live (before the `rate` draw). */
  matched: number;
  /** Faults the rule injected. */
  injected: number;
  /** pending: before `from`; active; expired: past `to`; spent: `count` faults injected. */
  state: 'pending' | 'active' | 'expired' | 'spent';
}

export interface OperationStats {
  requests: number;
  /** Requests answered with an injected error, reset or held (timeout). */
  faults: number;
  /** Requests that got added latency. */
  delayed: number;
  byKind: Partial<Record<AwsFaultKind, number>>;
}

export interface AwsFaultStats {
  since: string;
  totals: { requests: number; faults: number; delayed: number };
  /** By service, then operation (`dynamodb.UpdateItem`). */
  services: Partial<Record<AwsService, Record<string, OperationStats>>>;
}

/** What to do with one request. */
export interface FaultDecision {
  latencyMs: number;
  fault?: AwsFaultKind;
  /** The rule that chose `fault`. */
  ruleId?: string;
}

export class FaultRuleError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: Array<{ path: string; message: string }>,
  ) {
    super(message);
  }
}

interface LiveRule {
  rule: AwsFaultRule;
  matched: number;
  injected: number;
  /** Resolves when the rule is removed or cleared. */
  gone: Promise<void>;
  release: () => void;
}

export interface AwsFaultsOptions {
  /** Seeds the `rate` draws (the same seed and request sequence give the same faults). @default random */
  seed?: number;
  now?: () => number;
  log?: (line: string) => void;
}

/**
 * The fault rules of the local AWS layer and its counters. Decisions are made here; the proxy (proxy.ts) applies
 * them. Rules are evaluated in the order they were added: every live rule a request matches draws against its
 * `rate`; latency adds up, and the first rule that hits with an error decides the answer.
 */
export class AwsFaults {
  private readonly live = new Map<string, LiveRule>();
  private readonly counters = new Map<string, OperationStats>();
  private since: number;
  private nextId = 1;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly options: AwsFaultsOptions = {}) {
    this.random = options.seed === undefined ? Math.random : seededRandom(options.seed);
    this.now = options.now ?? Date.now;
    this.since = this.now();
  }

  /** Adds a rule; returns its id. Throws FaultRuleError (400 invalid, 409 duplicate id). */
  add(input: AwsFaultRuleInput): string {
    const parsed = faultRuleSchema.safeParse(input);
    if (!parsed.success) {
      throw new FaultRuleError(400, 'Invalid fault rule', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    }
    const r = parsed.data;
    const id = r.id ?? this.freshId();
    if (this.live.has(id)) throw new FaultRuleError(409, `A rule with id ${id} exists; remove it first`);
    const createdAt = this.now();
    const from = r.from;
    const to = r.to ?? (r.durationMs !== undefined ? (from ?? createdAt) + r.durationMs : undefined);
    const error = r.error ?? (r.latencyMs !== undefined ? undefined : 'internal');
    const rule: AwsFaultRule = {
      id,
      service: r.service,
      ...(r.operations && { operations: r.operations }),
      ...(r.bodyIncludes && { bodyIncludes: r.bodyIncludes }),
      rate: r.rate ?? 1,
      ...(error && { error }),
      ...(r.latencyMs !== undefined && { latencyMs: r.latencyMs }),
      ...(from !== undefined && { from }),
      ...(to !== undefined && { to }),
      ...(r.count !== undefined && { count: r.count }),
      createdAt,
    };
    let release!: () => void;
    const gone = new Promise<void>((resolve) => (release = resolve));
    this.live.set(id, { rule, matched: 0, injected: 0, gone, release });
    this.options.log?.(`aws faults: rule ${id} added: ${describeRule(rule)}`);
    return id;
  }

  remove(id: string): boolean {
    const entry = this.live.get(id);
    if (!entry) return false;
    this.live.delete(id);
    entry.release();
    this.options.log?.(`aws faults: rule ${id} removed (${entry.injected} faults injected)`);
    return true;
  }

  /** Removes every rule; returns how many there were. Counters stay (see resetStats). */
  clear(): number {
    const ids = [...this.live.keys()];
    for (const id of ids) this.remove(id);
    return ids.length;
  }

  rule(id: string): AwsFaultRuleState | undefined {
    const entry = this.live.get(id);
    return entry && this.stateOf(entry);
  }

  rules(): AwsFaultRuleState[] {
    return [...this.live.values()].map((entry) => this.stateOf(entry));
  }

  stats(): AwsFaultStats {
    const services: AwsFaultStats['services'] = {};
    const totals = { requests: 0, faults: 0, delayed: 0 };
    for (const [key, s] of [...this.counters].sort(([a], [b]) => a.localeCompare(b))) {
      const [service, operation] = key.split('\u0000') as [AwsService, string];
      (services[service] ??= {})[operation] = { ...s, byKind: { ...s.byKind } };
      totals.requests += s.requests;
      totals.faults += s.faults;
      totals.delayed += s.delayed;
    }
    return { since: new Date(this.since).toISOString(), totals, services };
  }

  /** Zeroes the per-operation counters (the rules' own counters stay). */
  resetStats(): void {
    this.counters.clear();
    this.since = this.now();
  }

  /** Whether a request to this operation needs its body read before deciding (a live rule filters on the body). */
  needsBody(service: AwsService, operation: string): boolean {
    const now = this.now();
    for (const entry of this.live.values()) {
      if (entry.rule.bodyIncludes && this.applies(entry, service, operation, now)) return true;
    }
    return false;
  }

  /** Decides what happens to one request and counts it. `body` is needed only when needsBody said so. */
  decide(service: AwsService, operation: string, body?: Buffer): FaultDecision {
    const now = this.now();
    const decision: FaultDecision = { latencyMs: 0 };
    let text: string | undefined;
    for (const entry of this.live.values()) {
      const { rule } = entry;
      if (!this.applies(entry, service, operation, now)) continue;
      if (rule.bodyIncludes) {
        if (!body) continue;
        text ??= body.toString('utf8');
        if (!rule.bodyIncludes.some((part) => text!.includes(part))) continue;
      }
      entry.matched++;
      if (rule.rate < 1 && this.random() >= rule.rate) continue;
      entry.injected++;
      decision.latencyMs += rule.latencyMs ?? 0;
      if (rule.error) {
        decision.fault = rule.error;
        decision.ruleId = rule.id;
        break;
      }
    }
    const key = `${service}\u0000${operation}`;
    let counter = this.counters.get(key);
    if (!counter) this.counters.set(key, (counter = { requests: 0, faults: 0, delayed: 0, byKind: {} }));
    counter.requests++;
    if (decision.latencyMs > 0) counter.delayed++;
    if (decision.fault) {
      counter.faults++;
      counter.byKind[decision.fault] = (counter.byKind[decision.fault] ?? 0) + 1;
    }
    return decision;
  }

  /**
   * Resolves when a held ('timeout') request should be let through: its rule's window ended or the rule was
   * removed. Never resolves for an open-ended rule that stays.
   */
  whenReleased(ruleId: string): { released: Promise<void>; cancel: () => void } {
    const entry = this.live.get(ruleId);
    if (!entry) return { released: Promise.resolve(), cancel: () => undefined };
    let timer: NodeJS.Timeout | undefined;
    const ends = entry.rule.to === undefined ? new Promise<void>(() => undefined) : new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, entry.rule.to! - this.now()))));
    return { released: Promise.race([entry.gone, ends]), cancel: () => clearTimeout(timer) };
  }

  private applies(entry: LiveRule, service: AwsService, operation: string, now: number): boolean {
    const { rule } = entry;
    if (rule.service !== service) return false;
    if (rule.from !== undefined && now < rule.from) return false;
    if (rule.to !== undefined && now >= rule.to) return false;
    if (rule.count !== undefined && entry.injected >= rule.count) return false;
    if (rule.operations && !rule.operations.some((op) => op.toLowerCase() === operation.toLowerCase())) return false;
    return true;
  }

  private stateOf(entry: LiveRule): AwsFaultRuleState {
    const { rule } = entry;
    const now = this.now();
    const state =
      rule.count !== undefined && entry.injected >= rule.count ? 'spent' : rule.to !== undefined && now >= rule.to ? 'expired' : rule.from !== undefined && now < rule.from ? 'pending' : 'active';
    return { ...rule, matched: entry.matched, injected: entry.injected, state };
  }

  private freshId(): string {
    let id: string;
    do id = `rule-${this.nextId++}`;
    while (this.live.has(id));
    return id;
  }
}

function describeRule(rule: AwsFaultRule): string {
  const parts = [`${rule.service} ${rule.operations?.join(',') ?? '*'}`];
  if (rule.bodyIncludes) parts.push(`body ~ ${rule.bodyIncludes.map((b) => JSON.stringify(b)).join(' | ')}`);
  if (rule.error) parts.push(rule.error);
  if (rule.latencyMs) parts.push(`+${rule.latencyMs}ms`);
  if (rule.rate < 1) parts.push(`rate ${rule.rate}`);
  if (rule.from !== undefined || rule.to !== undefined) parts.push(`${rule.from ? new Date(rule.from).toISOString() : 'now'} .. ${rule.to ? new Date(rule.to).toISOString() : 'until removed'}`);
  if (rule.count !== undefined) parts.push(`${rule.count} at most`);
  return parts.join(', ');
}
