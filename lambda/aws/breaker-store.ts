import { isConditionFailure } from './conditional-write';
import { breakerKey } from '../core/item-keys';
import { BatchGetCommand, GetCommand, type BatchGetCommandOutput, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  breakerView,
  decideAdmission,
  decideAfterCount,
  decideRecord,
  type BreakerSettings,
  type BreakerSnapshot,
  type RecordDecision,
} from '../core/circuit-breaker';
import type { Admission, BreakerTarget, BreakerTransition, BreakerView, CircuitBreaker, JobLog } from '../core/ports';
import { addSample, additionsOf, attributesOfBuckets, bucketsOfItem, DEFAULT_BUCKET_MS, mergeBuckets, recentFigures, staleAttributesOf, type CallSample, type FigureBuckets, type RecentFigures } from '../core/model-stats';

/** Item key: one breaker per region and model id, in the jobs table. Breaker items never expire (no expiresAt). */
export { breakerKey };

/** Stored shape: the snapshot's fields at the top level (probes as a map), plus the target for readers of the table. */
type BreakerItem = Partial<BreakerSnapshot> & { pk: string; modelId?: string; region?: string };

function toSnapshot(item: Record<string, unknown> | undefined): BreakerSnapshot | undefined {
  if (!item) return undefined;
  const i = item as BreakerItem;
  return {
    state: i.state ?? 'CLOSED',
    version: i.version ?? 0,
    bucketStart: i.bucketStart ?? 0,
    calls: i.calls ?? 0,
    failures: i.failures ?? 0,
    prevCalls: i.prevCalls ?? 0,
    prevFailures: i.prevFailures ?? 0,
    consecutiveOpens: i.consecutiveOpens ?? 0,
    ...(i.openedAt !== undefined && { openedAt: i.openedAt }),
    ...(i.openUntil !== undefined && { openUntil: i.openUntil }),
    probes: i.probes ?? {},
  };
}


/** `#name` placeholders of the expressions, each standing for the attribute of the same name. */
function namesIn(...expressions: (string | undefined)[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const match of expressions.join(' ').matchAll(/#(\w+)/g)) names[match[0]] = match[1];
  return names;
}

interface Write {
  /** Absent: unconditional (figures only). */
  condition?: string;
  update: string;
  values: Record<string, unknown>;
  /** Attribute names that are not plain `#attribute` placeholders (probe slots). */
  names?: Record<string, string>;
}

export interface BreakerStoreOptions {
  /** Re-reads after a failed condition before giving up (contention between workers). @default 8 */
  readonly maxConditionRetries?: number;
  /** Spreads concurrent probers over free HALF_OPEN slots. @default Math.random */
  readonly random?: () => number;
  /**
   * How long a breaker this container read or wrote is trusted before it is read again (ms): admitting a call to a
   * CLOSED breaker and counting its outcome then cost no read. Transitions stay conditional, so a stale copy can only
   * cost a retry. @default 1000
   */
  readonly cacheMs?: number;
  /** How long recent figures (lambda/core/model-stats.ts) read for routing are trusted. @default 5000 */
  readonly figuresCacheMs?: number;
  /** The figures' bucket length (resilience.figuresBucketSeconds). @default DEFAULT_BUCKET_MS */
  readonly figuresBucketMs?: number;
}

/**
 * The circuit breakers in DynamoDB. Every decision comes from lambda/core/circuit-breaker.ts and is written with a
 * condition on what it was decided from: counting is an atomic ADD conditioned on the bucket (so workers never
 * serialize on a version), rolling a bucket and every state change are conditioned on the bucket or the version.
 * A failed condition means another worker got there first: read again and decide again.
 */
export class BreakerStore implements CircuitBreaker {
  private readonly maxRetries: number;
  private readonly random: () => number;
  private readonly cacheMs: number;
  private readonly figuresCacheMs: number;
  private readonly bucketMs: number;
  /** The last copy of each breaker this container saw (with its minute figures), and when (epoch ms). */
  private readonly known = new Map<string, { snapshot: BreakerSnapshot | undefined; buckets: FigureBuckets; at: number }>();
  /**
   * By breaker: successes of admitted calls (not probes) not yet counted, and the figures of calls not yet added.
   * A count write carries both; flush() writes what is left, one write per breaker per invocation.
   */
  private readonly pending = new Map<string, { target: BreakerTarget; successes: number; buckets: FigureBuckets }>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly settings: BreakerSettings,
    private readonly log: JobLog,
    options: BreakerStoreOptions = {},
  ) {
    this.maxRetries = options.maxConditionRetries ?? 8;
    this.random = options.random ?? Math.random;
    this.cacheMs = options.cacheMs ?? 1000;
    this.figuresCacheMs = options.figuresCacheMs ?? 5000;
    this.bucketMs = options.figuresBucketMs ?? DEFAULT_BUCKET_MS;
  }

  private pendingOf(target: BreakerTarget) {
    const key = breakerKey(target).pk;
    let held = this.pending.get(key);
    if (!held) this.pending.set(key, (held = { target, successes: 0, buckets: new Map() }));
    return held;
  }

  async admit(target: BreakerTarget, now: Date): Promise<Admission> {
    try {
      for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
        let decision = decideAdmission(await this.read(target, now, attempt > 0), now.getTime(), this.settings, this.random);
        if (decision.kind === 'admit') return { admitted: true, probe: false };
        if (decision.kind === 'refuse') return { admitted: false, state: decision.state, retryAt: decision.retryAt };
        // Taking a probe slot is decided on the breaker as it is now, never on a copy.
        if (attempt === 0) decision = decideAdmission(await this.read(target, now, true), now.getTime(), this.settings, this.random);
        if (decision.kind === 'admit') return { admitted: true, probe: false };
        if (decision.kind === 'refuse') return { admitted: false, state: decision.state, retryAt: decision.retryAt };
        const slot = { '#slot': decision.slot };
        const taken = decision.startHalfOpen
          ? await this.write(target, {
              condition: '#state = :open AND #version = :version',
              update: 'SET #state = :halfOpen, #version = :next, #probes = :probes',
              values: { ':open': 'OPEN', ':halfOpen': 'HALF_OPEN', ':version': decision.expectVersion, ':next': decision.expectVersion + 1, ':probes': { [decision.slot]: decision.leaseUntil } },
            })
          : await this.write(target, {
              condition: '#state = :halfOpen AND #version = :version AND (attribute_not_exists(#probes.#slot) OR #probes.#slot <= :now)',
              update: 'SET #probes.#slot = :lease',
              names: slot,
              values: { ':halfOpen': 'HALF_OPEN', ':version': decision.expectVersion, ':now': now.getTime(), ':lease': decision.leaseUntil },
            });
        if (taken) return { admitted: true, probe: true, ...(decision.startHalfOpen && { transition: { from: 'OPEN', to: 'HALF_OPEN' } }) };
      }
      // Every free probe slot went to another worker meanwhile: behave as a busy HALF_OPEN breaker.
      return { admitted: false, state: 'HALF_OPEN', retryAt: now.getTime() + 1000 };
    } catch (error) {
      this.log.warn('circuit breaker store failed: admitting the call unguarded', { ...target, error: (error as Error).name, degraded: true });
      return { admitted: true, probe: false, degraded: true };
    }
  }

  /**
   * The outcome of an admitted call. A success that is not a probe cannot change the breaker's state, only its
   * window's call count: it is held in the container and counted with the next failure or at flush() (one write
   * per breaker per invocation, not one per call). Failures and probes are written at once.
   */
  async record(target: BreakerTarget, outcome: 'success' | 'failure', admission: Admission, now: Date, sample?: CallSample): Promise<BreakerTransition | undefined> {
    const held = this.pendingOf(target);
    if (sample) addSample(held.buckets, sample, now.getTime(), this.bucketMs);
    if (!admission.admitted) return undefined;
    if (outcome === 'success' && !admission.probe) {
      held.successes++;
      return undefined;
    }
    const successes = outcome === 'failure' ? this.takeSuccesses(target) : 0;
    return this.recordOutcome(target, outcome, admission.probe, successes, now);
  }

  /** Counts the successes and adds the figures held since the last flush; the worker calls it before each invocation ends. */
  async flush(now: Date): Promise<void> {
    for (const [key, { target }] of [...this.pending]) {
      const successes = this.takeSuccesses(target);
      if (successes > 0) await this.recordOutcome(target, 'success', false, successes - 1, now);
      // Figures no count carried (the breaker is not CLOSED, or only probes ran): written on their own.
      const left = this.pending.get(key);
      if (left && left.buckets.size > 0) await this.addFigures(target, now);
      if (left && left.successes === 0 && left.buckets.size === 0) this.pending.delete(key);
    }
  }

  private takeSuccesses(target: BreakerTarget): number {
    const held = this.pendingOf(target);
    const { successes } = held;
    held.successes = 0;
    return successes;
  }

  /** The held figures of a breaker, as ADD and REMOVE clauses for a write at `now`; `restore` puts them back if it fails. */
  private takeFigures(target: BreakerTarget, now: Date) {
    const held = this.pendingOf(target);
    const buckets = held.buckets;
    held.buckets = new Map();
    const adds = additionsOf(buckets, now.getTime(), this.bucketMs);
    const stale = staleAttributesOf(this.known.get(breakerKey(target).pk)?.buckets ?? new Map(), now.getTime(), this.bucketMs).filter((name) => !(name in adds));
    const names = Object.keys(adds);
    return {
      add: names.map((name, i) => `#${name} :f${i}`).join(', '),
      remove: stale.map((name) => `#${name}`).join(', '),
      values: Object.fromEntries(names.map((name, i) => [`:f${i}`, adds[name]])),
      restore: () => mergeBuckets(this.pendingOf(target).buckets, buckets),
    };
  }

  /** Adds held figures without touching the breaker's state (an unconditional ADD). */
  private async addFigures(target: BreakerTarget, now: Date): Promise<void> {
    const figures = this.takeFigures(target, now);
    if (!figures.add) return;
    try {
      await this.write(target, {
        update: `SET #modelId = :modelId, #region = :region ADD ${figures.add}${figures.remove ? ` REMOVE ${figures.remove}` : ''}`,
        values: { ':modelId': target.modelId, ':region': target.region, ...figures.values },
      });
    } catch (error) {
      this.log.warn('model figures not recorded', { ...target, error: (error as Error).name });
    }
  }

  /** The recent figures of each target (lambda/core/model-stats.ts): this container's copy while younger than `figuresCacheMs`. */
  async figures(targets: BreakerTarget[], now: Date): Promise<RecentFigures[]> {
    const stale = targets.filter((t) => {
      const copy = this.known.get(breakerKey(t).pk);
      return !copy || now.getTime() - copy.at >= this.figuresCacheMs;
    });
    if (stale.length > 0) {
      try {
        const items = await this.readItems(stale, false);
        for (const t of stale) {
          const item = items.get(breakerKey(t).pk);
          this.known.set(breakerKey(t).pk, { snapshot: toSnapshot(item), buckets: bucketsOfItem(item), at: now.getTime() });
        }
      } catch (error) {
        this.log.warn('model figures unavailable', { error: (error as Error).name, degraded: true });
      }
    }
    return targets.map((t) => recentFigures(this.known.get(breakerKey(t).pk)?.buckets ?? new Map(), now.getTime(), this.bucketMs));
  }

  /** Writes one outcome, plus `alsoSucceeded` earlier successes counted in the same write. */
  private async recordOutcome(target: BreakerTarget, outcome: 'success' | 'failure', probe: boolean, alsoSucceeded: number, now: Date): Promise<BreakerTransition | undefined> {
    try {
      for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
        const decision = decideRecord(await this.read(target, now, attempt > 0), outcome, probe, now.getTime(), this.settings);
        if (decision.kind === 'ignore') return undefined;
        if (decision.kind === 'count' || decision.kind === 'roll') {
          const counted = await this.count(target, decision, 1 + alsoSucceeded, now);
          if (!counted) continue;
          return await this.openIfFailing(target, counted, now);
        }
        if (decision.kind === 'close') {
          // A recovered model starts its figures afresh: metric routing explores a model without figures first.
          const figures = attributesOfBuckets(this.known.get(breakerKey(target).pk)?.buckets.keys() ?? []).map((name) => `, #${name}`).join('');
          const closed = await this.write(target, {
            condition: '#state = :halfOpen AND #version = :version',
            update: `SET #state = :closed, #version = :next, #bucketStart = :bucket, #calls = :zero, #failures = :zero, #prevCalls = :zero, #prevFailures = :zero, #consecutiveOpens = :zero REMOVE #openedAt, #openUntil, #probes${figures}`,
            values: { ':halfOpen': 'HALF_OPEN', ':closed': 'CLOSED', ':version': decision.expectVersion, ':next': decision.expectVersion + 1, ':bucket': decision.bucketStart, ':zero': 0 },
          });
          if (closed) return { from: 'HALF_OPEN', to: 'CLOSED' };
          continue;
        }
        const reopened = await this.open(target, 'HALF_OPEN', decision);
        if (reopened) return { from: 'HALF_OPEN', to: 'OPEN' };
      }
      this.log.warn('circuit breaker outcome not recorded: too much contention', { ...target, outcome });
      return undefined;
    } catch (error) {
      this.log.warn('circuit breaker store failed: outcome not recorded', { ...target, outcome, error: (error as Error).name, degraded: true });
      return undefined;
    }
  }

  async describe(targets: BreakerTarget[], now: Date): Promise<BreakerView[]> {
    const items = await this.readItems(targets, true);
    return targets.map((target) => {
      const item = items.get(breakerKey(target).pk);
      return { ...breakerView(target, toSnapshot(item), now.getTime(), this.settings), recent: recentFigures(bucketsOfItem(item), now.getTime(), this.bucketMs) };
    });
  }

  /** The breaker items of `targets` by key (BatchGetItem, 100 keys a request). */
  private async readItems(targets: BreakerTarget[], consistent: boolean): Promise<Map<string, Record<string, unknown>>> {
    const items = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < targets.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = [...new Map(targets.slice(i, i + 100).map((t) => [breakerKey(t).pk, breakerKey(t)])).values()];
      for (let round = 0; keys && keys.length > 0; round++) {
        if (round > 5) throw new Error('BatchGetItem kept returning unprocessed keys');
        const { Responses, UnprocessedKeys }: BatchGetCommandOutput = await this.client.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: consistent } } }));
        for (const item of Responses?.[this.tableName] ?? []) items.set(item.pk as string, item);
        keys = UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return items;
  }

  /** Adds the call to its bucket (rolling it first if needed); the breaker after the write, or undefined when the bucket moved. */
  private async count(target: BreakerTarget, decision: Extract<RecordDecision, { kind: 'count' | 'roll' }>, calls: number, now: Date): Promise<BreakerSnapshot | undefined> {
    const failures = decision.failure ? 1 : 0;
    const attributes = { ':modelId': target.modelId, ':region': target.region };
    // The held figures ride on the count: no write of their own.
    const figures = this.takeFigures(target, now);
    const remove = figures.remove ? ` REMOVE ${figures.remove}` : '';
    try {
      const written =
        decision.kind === 'count'
          ? await this.write(target, {
              condition: 'attribute_not_exists(pk) OR (#state = :closed AND #bucketStart = :bucket)',
              update: `SET #state = if_not_exists(#state, :closed), #version = if_not_exists(#version, :zero), #bucketStart = :bucket, #modelId = :modelId, #region = :region ADD #calls :calls, #failures :failures${figures.add ? `, ${figures.add}` : ''}${remove}`,
              values: { ':closed': 'CLOSED', ':zero': 0, ':bucket': decision.bucketStart, ':calls': calls, ':failures': failures, ...attributes, ...figures.values },
            })
          : await this.write(target, {
              condition: '#state = :closed AND #bucketStart = :seen',
              update: `SET ${decision.previous === 'shift' ? '#prevCalls = #calls, #prevFailures = #failures' : '#prevCalls = :zero, #prevFailures = :zero'}, #calls = :calls, #failures = :failures, #bucketStart = :bucket${figures.add ? ` ADD ${figures.add}` : ''}${remove}`,
              values: { ':closed': 'CLOSED', ':seen': decision.seenBucketStart, ':bucket': decision.bucketStart, ':calls': calls, ':failures': failures, ...(decision.previous === 'clear' && { ':zero': 0 }), ...figures.values },
            });
      if (!written) figures.restore();
      return written;
    } catch (error) {
      figures.restore();
      throw error;
    }
  }

  /** CLOSED -> OPEN when the window says so; only the worker whose write wins reports the transition. */
  private async openIfFailing(target: BreakerTarget, counted: BreakerSnapshot, now: Date): Promise<BreakerTransition | undefined> {
    const decision = decideAfterCount(counted, now.getTime(), this.settings);
    if (decision.kind === 'stay') return undefined;
    return (await this.open(target, 'CLOSED', decision)) ? { from: 'CLOSED', to: 'OPEN' } : undefined;
  }

  private open(target: BreakerTarget, from: 'CLOSED' | 'HALF_OPEN', decision: { expectVersion: number; consecutiveOpens: number; openedAt: number; openUntil: number }) {
    return this.write(target, {
      condition: '#state = :from AND #version = :version',
      update: 'SET #state = :open, #version = :next, #consecutiveOpens = :opens, #openedAt = :openedAt, #openUntil = :openUntil REMOVE #probes',
      values: {
        ':from': from,
        ':open': 'OPEN',
        ':version': decision.expectVersion,
        ':next': decision.expectVersion + 1,
        ':opens': decision.consecutiveOpens,
        ':openedAt': decision.openedAt,
        ':openUntil': decision.openUntil,
      },
    });
  }

  /**
   * The breaker: this container's copy while it is younger than `cacheMs`, else an eventually consistent read; a
   * strongly consistent one when `fresh` (after a condition failed, or to take a probe slot).
   */
  private async read(target: BreakerTarget, now: Date, fresh = false): Promise<BreakerSnapshot | undefined> {
    const key = breakerKey(target).pk;
    const copy = this.known.get(key);
    if (!fresh && copy && now.getTime() - copy.at < this.cacheMs) return copy.snapshot;
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: breakerKey(target), ConsistentRead: fresh }));
    const snapshot = toSnapshot(Item);
    this.known.set(key, { snapshot, buckets: bucketsOfItem(Item), at: now.getTime() });
    return snapshot;
  }

  /** One conditional update; the breaker after it, or undefined when the condition failed. */
  private async write(target: BreakerTarget, change: Write): Promise<BreakerSnapshot | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: breakerKey(target),
          ConditionExpression: change.condition,
          UpdateExpression: change.update,
          ExpressionAttributeNames: { ...namesIn(change.condition ?? '', change.update), ...change.names },
          ExpressionAttributeValues: change.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const snapshot = toSnapshot(Attributes);
      this.known.set(breakerKey(target).pk, { snapshot, buckets: bucketsOfItem(Attributes), at: Date.now() });
      return snapshot;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}
