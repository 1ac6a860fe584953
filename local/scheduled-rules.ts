import { randomUUID } from 'node:crypto';
import { displayName, type FunctionHost, type InvocationResult } from './function-host';
import { LOCAL_ACCOUNT_ID, type LocalTopology, type Log } from './topology';

export type Schedule = { kind: 'rate'; intervalMs: number } | { kind: 'cron' };

const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Reads an EventBridge `ScheduleExpression`: `rate(N unit[s])` (minute, hour, day) or `cron(...)`. */
export function parseScheduleExpression(expression: string): Schedule {
  const rate = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2].replace(/s$/, '');
    // EventBridge wants the singular unit for 1 and the plural otherwise; it rejects rate(0 ...).
    if (value < 1 || (value === 1) !== (unit === rate[2])) throw new Error(`invalid schedule expression ${expression}`);
    return { kind: 'rate', intervalMs: value * RATE_UNITS[unit] };
  }
  if (/^cron\(.+\)$/.test(expression.trim())) return { kind: 'cron' };
  throw new Error(`invalid schedule expression ${expression}`);
}

export interface ScheduledTarget {
  id: string;
  functionLogicalId: string;
  /** The target's constant `Input` (parsed JSON), sent instead of the scheduled event. */
  input?: unknown;
}

/** An AWS::Events::Rule with a ScheduleExpression whose targets are functions of this stack. */
export interface ScheduledRule {
  logicalId: string;
  name: string;
  arn: string;
  expression: string;
  schedule: Schedule;
  enabled: boolean;
  targets: ScheduledTarget[];
}

/** The template's scheduled rules, with the targets that can run locally; says what it leaves out. */
export function readScheduledRules(topology: LocalTopology, log: Log): ScheduledRule[] {
  const rules: ScheduledRule[] = [];
  for (const [id, r] of topology.ofType('AWS::Events::Rule')) {
    let p: Record<string, unknown>;
    try {
      p = topology.resolve<Record<string, unknown>>(r.Properties ?? {}, id);
    } catch (error) {
      log(`rule ${id}: ${(error as Error).message}; not run`);
      continue;
    }
    const local = topology.resources.get(id);
    if (typeof p.ScheduleExpression !== 'string') {
      log(`rule ${id}: event patterns are not matched locally; not run`);
      continue;
    }
    let schedule: Schedule;
    try {
      schedule = parseScheduleExpression(p.ScheduleExpression);
    } catch (error) {
      log(`rule ${id}: ${(error as Error).message}; not run`);
      continue;
    }
    const targets: ScheduledTarget[] = [];
    for (const [i, t] of ((p.Targets as Array<Record<string, unknown>> | undefined) ?? []).entries()) {
      const targetId = String(t.Id ?? i);
      const arn = String(t.Arn);
      const fn = [...topology.resources].find(([, f]) => f.type === 'AWS::Lambda::Function' && (arn === f.attributes.Arn || arn.startsWith(`${f.attributes.Arn}:`)));
      if (!fn) {
        log(`rule ${id}: target ${targetId} (${arn}) is not a function of this stack; not run locally`);
        continue;
      }
      if (t.InputPath || t.InputTransformer) log(`rule ${id}: target ${targetId}'s InputPath/InputTransformer is not applied locally; it gets the scheduled event`);
      let input: unknown;
      if (typeof t.Input === 'string') {
        try {
          input = JSON.parse(t.Input);
        } catch {
          log(`rule ${id}: target ${targetId}'s Input is not JSON; it gets the scheduled event`);
        }
      }
      targets.push({ id: targetId, functionLogicalId: fn[0], ...(input !== undefined && { input }) });
    }
    const name = local?.ref ?? id;
    rules.push({
      logicalId: id,
      name,
      arn: local?.attributes.Arn ?? `arn:aws:events:${topology.region}:${LOCAL_ACCOUNT_ID}:rule/${name}`,
      expression: p.ScheduleExpression,
      schedule,
      enabled: (p.State ?? 'ENABLED') === 'ENABLED',
      targets,
    });
  }
  return rules;
}

/** The event EventBridge sends a target of a scheduled rule. */
export function scheduledEvent(rule: Pick<ScheduledRule, 'arn'>, region: string, at = new Date()): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT_ID,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [rule.arn],
    detail: {},
  };
}

export interface ScheduledInvocation {
  /** The rule's logical id. */
  rule: string;
  target: string;
  /** The function's local name. */
  functionName: string;
  event: unknown;
  result: InvocationResult;
}

interface RuleState {
  rule: ScheduledRule;
  current?: Promise<ScheduledInvocation[]>;
  queued?: Promise<ScheduledInvocation[]>;
  /** A requested run launched in this turn of the event loop, which other requests of this turn join. */
  justRequested?: Promise<ScheduledInvocation[]>;
  timer?: NodeJS.Timeout;
}

export interface RuleSchedulerOptions {
  rules: ScheduledRule[];
  functions: Map<string, FunctionHost>;
  region: string;
  /** Runs every rate rule at this interval instead of its own; 0 runs none on a timer. @default each rule's rate */
  intervalMs?: number;
  log: Log;
}

/**
 * Runs the targets of scheduled rules on their rate, one run of a rule at a time: a tick that finds the previous
 * run still going is skipped. Cron schedules run only when asked (run()).
 */
export class RuleScheduler {
  private readonly states: RuleState[];

  constructor(private readonly options: RuleSchedulerOptions) {
    this.states = options.rules.map((rule) => ({ rule }));
  }

  start(): void {
    const { intervalMs, log } = this.options;
    for (const state of this.states) {
      const { rule } = state;
      const label = `schedule ${displayName(rule.logicalId)} (${rule.expression})`;
      if (!rule.enabled) {
        log(`${label}: disabled in the template; not run`);
        continue;
      }
      if (rule.targets.length === 0) continue;
      if (rule.schedule.kind === 'cron') {
        log(`${label}: cron schedules are not run locally (runtime.runScheduled() runs it now)`);
        continue;
      }
      const every = intervalMs ?? rule.schedule.intervalMs;
      if (every <= 0) continue;
      state.timer = setInterval(() => {
        if (state.current) log(`${label}: the previous run is still going; this one is skipped`);
        else this.launch(state).catch((error: Error) => log(`${label}: ${error.message}`));
      }, every);
      log(`${label}: runs ${rule.targets.map((t) => displayName(this.options.functions.get(t.functionLogicalId)?.name ?? t.functionLogicalId)).join(', ')} every ${formatInterval(every)}`);
    }
  }

  stop(): void {
    for (const state of this.states) clearInterval(state.timer);
  }

  /**
   * Runs the targets of the enabled scheduled rules now (or of the rules `name` designates: a rule's logical id,
   * name, or a target function's logical id or name, with or without CDK's hash suffix), after any run of the same
   * rule in progress; resolves with the invocations once they have finished.
   */
  async run(name?: string): Promise<ScheduledInvocation[]> {
    const chosen = name === undefined ? this.states.filter((s) => s.rule.enabled) : this.states.filter((s) => this.designates(s.rule, name));
    if (name !== undefined && chosen.length === 0) {
      throw new Error(`no scheduled rule matches ${name}; scheduled rules: ${this.states.map((s) => s.rule.logicalId).join(', ') || 'none'}`);
    }
    const runs = await Promise.all(chosen.map((state) => this.after(state)));
    return runs.flat();
  }

  private designates(rule: ScheduledRule, name: string): boolean {
    const names = [rule.logicalId, rule.name];
    for (const target of rule.targets) names.push(target.functionLogicalId, this.options.functions.get(target.functionLogicalId)?.name ?? '');
    return names.some((n) => n === name || displayName(n) === name);
  }

  /**
   * A run that starts no earlier than this call: a new one, or the one the current run will be followed by; callers
   * arriving meanwhile (or in the same turn of the event loop as a requested run) share it.
   */
  private after(state: RuleState): Promise<ScheduledInvocation[]> {
    if (state.justRequested) return state.justRequested;
    if (!state.current) {
      const run = this.launch(state);
      state.justRequested = run;
      setImmediate(() => {
        if (state.justRequested === run) state.justRequested = undefined;
      });
      return run;
    }
    state.queued ??= state.current
      .catch(() => undefined)
      .then(() => {
        state.queued = undefined;
        return this.launch(state);
      });
    return state.queued;
  }

  private launch(state: RuleState): Promise<ScheduledInvocation[]> {
    const run = this.execute(state.rule).finally(() => {
      if (state.current === run) state.current = undefined;
    });
    state.current = run;
    return run;
  }

  private async execute(rule: ScheduledRule): Promise<ScheduledInvocation[]> {
    const { functions, region, log } = this.options;
    return Promise.all(
      rule.targets.map(async (target) => {
        const fn = functions.get(target.functionLogicalId)!;
        const event = target.input ?? scheduledEvent(rule, region);
        const result = await fn.invoke(event);
        const label = `schedule ${displayName(rule.logicalId)} -> ${displayName(fn.name)}`;
        log(result.ok ? `${label}: ran in ${result.durationMs}ms` : `${label}: failed in ${result.durationMs}ms (${result.error.errorType}: ${result.error.errorMessage.split('\n')[0]}); not retried locally`);
        return { rule: rule.logicalId, target: target.id, functionName: fn.name, event, result };
      }),
    );
  }
}

function formatInterval(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
