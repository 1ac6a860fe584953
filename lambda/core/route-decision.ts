import { estimateInputTokens } from './admission';
import type { CallDeps, ChainWork, TimeBudget } from './candidate-call';
import { classifyTier } from './classifier';
import { assessComplexity, DEFAULT_THRESHOLDS, isUncertain, type ComplexityTier, type ScoredFeature } from './complexity';
import type { RecentFigures } from './model-stats';
import { sameFamily } from './native-body';
import { routeModels } from './routing';
import type { MetricObjective, RouteEntry, RoutingTable } from './settings';

/*
 * Which models a job (or a synchronous call) walks, and why: decided per job in the worker, per call on /invoke.
 * static: the route's model (or the one the request named) and its fallback chain. content: the complexity score's
 * tier (lambda/core/complexity.ts), the classifier deciding uncertain scores (lambda/core/classifier.ts). metric:
 * the candidates ranked by their recent figures (lambda/core/model-stats.ts), with exploration.
 */

export type RoutingStrategy = RouteEntry['strategy'];

/** How the model was chosen, as a job, an invocation and a stream's start event record it. */
export interface Routing {
  strategy: RoutingStrategy;
  tier?: ComplexityTier;
  score?: number;
  /** The models of the chain, in the order they are tried. */
  candidates: string[];
  /** The model that answered (or, before and without an answer, the one tried first). */
  chosen: string;
  reason: string;
}

export interface RouteDecision {
  routing: Routing;
  /** Model ids to walk, in order. */
  chain: string[];
}

/** What deciding needs: calling the classifier (the resilience path) and reading recent figures. */
export type DecisionDeps = CallDeps & { breaker: CallDeps['breaker'] & { figures?(targets: { modelId: string; region: string }[], now: Date): Promise<RecentFigures[]> } };

/** The static chain of a route: its model (or the one the job carries) and its fallback models. */
export function staticChain(work: Pick<ChainWork, 'route' | 'modelId'>, table: RoutingTable): string[] {
  const route = table.routes[work.route];
  return [work.modelId, ...(route?.fallback ?? []).filter((id) => id !== work.modelId)];
}

/**
 * The chain a job walks and why. A tenant's plan may exclude a tier's (or a candidate's) models: the chain keeps
 * the ones it allows, and if none is left, the route's other models the plan allows.
 */
export async function decideRoute(work: ChainWork, budget: TimeBudget, deps: DecisionDeps): Promise<RouteDecision> {
  const decided = await decide(work, budget, deps);
  const allowed = deps.allowedModels?.(work.tenant);
  const route = deps.routing.routes[work.route];
  if (!allowed || !route || route.strategy === 'static') return decided;
  const chain = decided.chain.filter((id) => allowed.includes(id));
  if (chain.length === decided.chain.length) return decided;
  const inPlan = chain.length > 0 ? chain : routeModels(route).filter((id) => allowed.includes(id));
  const reason = chain.length > 0 ? decided.routing.reason : `${decided.routing.reason}; the plan allows none of ${decided.chain.join(', ')}`;
  return { chain: inPlan, routing: { ...decided.routing, candidates: inPlan, chosen: inPlan[0] ?? decided.routing.chosen, reason } };
}

async function decide(work: ChainWork, budget: TimeBudget, deps: DecisionDeps): Promise<RouteDecision> {
  const route = deps.routing.routes[work.route];
  const fixed = (reason: string): RouteDecision => {
    const chain = staticChain(work, deps.routing).filter((id) => work.native === undefined || sameFamily(id, work.modelId));
    return { chain, routing: { strategy: route?.strategy ?? 'static', candidates: chain, chosen: chain[0], reason } };
  };
  if (!route || route.strategy === 'static') return fixed(work.modelId === route?.modelId ? "the route's model" : 'the model the request named');
  if (work.modelNamed) return { chain: [work.modelId], routing: { strategy: route.strategy, candidates: [work.modelId], chosen: work.modelId, reason: 'the model the request named' } };
  if (work.native !== undefined || !work.request) {
    const chain = staticChain(work, deps.routing).filter((id) => sameFamily(id, work.modelId));
    return { chain, routing: { strategy: route.strategy, candidates: chain, chosen: chain[0], reason: "a native body goes to the route's models of its family" } };
  }
  if (route.strategy === 'content') return decideByContent(work, route, budget, deps);
  return decideByFigures(work, route, deps);
}

/** The features that moved the score most, e.g. "reasoning +2, length +1.4". */
function explain(features: ScoredFeature[]): string {
  return [...features]
    .sort((a, b) => Math.abs(b.points) - Math.abs(a.points))
    .slice(0, 3)
    .map((f) => `${f.feature} ${f.points > 0 ? '+' : ''}${f.points}`)
    .join(', ');
}

async function decideByContent(work: ChainWork, route: RouteEntry, budget: TimeBudget, deps: DecisionDeps): Promise<RouteDecision> {
  const thresholds = route.thresholds ?? DEFAULT_THRESHOLDS;
  const assessed = assessComplexity(work.request!, thresholds);
  let tier = assessed.tier;
  let reason = `score ${assessed.score} (${explain(assessed.features) || 'no cues'}): ${tier}`;
  const { classifier } = route;
  if (classifier && isUncertain(assessed.score, classifier.band, thresholds)) {
    const verdict = await classifyTier(work, work.request!, classifier, budget, deps);
    if ('tier' in verdict) {
      reason = `score ${assessed.score} is within ${classifier.band} of a threshold (rules: ${tier}); classifier ${classifier.modelId} said ${verdict.tier} in ${verdict.latencyMs} ms`;
      tier = verdict.tier;
    } else {
      reason = `score ${assessed.score} is within ${classifier.band} of a threshold; classifier ${classifier.modelId} failed (${verdict.error}), the rules' tier stands: ${tier}`;
    }
    deps.observer.observe({ type: 'classified', modelId: classifier.modelId, answered: 'tier' in verdict });
  }
  const target = route.tiers![tier];
  const chain = [target.modelId, ...target.fallback.filter((id) => id !== target.modelId)];
  deps.observer.observe({ type: 'routed', route: work.route, modelId: chain[0], strategy: 'content', tier });
  return { chain, routing: { strategy: 'content', tier, score: assessed.score, candidates: chain, chosen: chain[0], reason } };
}

/** Weighted calls a model needs in the window before its figures rank it (one call in the current or the previous bucket); below, it is unexplored. */
export const MIN_CALLS_TO_RANK = 0.5;

/** The least share of jobs sent to an unexplored candidate (one without figures, or whose breaker just closed). */
export const UNEXPLORED_SHARE = 0.2;

/** Output tokens assumed for the cost objective before a model has figures. */
const ASSUMED_OUTPUT_TOKENS = 500;

export interface CandidateFigures {
  modelId: string;
  figures: RecentFigures;
  /** USD per million tokens. */
  price?: { in: number; out: number };
}

interface Valued extends CandidateFigures {
  value: number;
  overSlo: boolean;
}

/** What the objective minimizes, per candidate (lower is better). */
function objectiveValues(candidates: CandidateFigures[], objective: MetricObjective, inputTokens: number): number[] {
  const latency = (c: CandidateFigures) => c.figures.p90Ms ?? Infinity;
  const errors = (c: CandidateFigures) => c.figures.errorRate + c.figures.throttleRate;
  const cost = (c: CandidateFigures) => (c.price ? (c.price.in * inputTokens + c.price.out * (c.figures.meanOutputTokens ?? ASSUMED_OUTPUT_TOKENS)) / 1e6 : Infinity);
  if (objective === 'latency') return candidates.map(latency);
  if (objective === 'errors') return candidates.map(errors);
  if (objective === 'cost') return candidates.map(cost);
  // Weighted: each measure relative to the worst finite one among the candidates, then the weighted sum.
  const parts = [
    [objective.latency, candidates.map(latency)],
    [objective.errors, candidates.map(errors)],
    [objective.cost, candidates.map(cost)],
  ] as const;
  return candidates.map((_, i) =>
    parts.reduce((sum, [weight, values]) => {
      if (weight === 0) return sum;
      const worst = Math.max(...values.filter(Number.isFinite), 0);
      const value = values[i];
      return sum + weight * (Number.isFinite(value) ? (worst > 0 ? value / worst : 0) : 2);
    }, 0),
  );
}

const needsFigures = (objective: MetricObjective) => objective !== 'cost';

/**
 * The candidates in the order to try them: those with figures by the objective (those over the latency SLO after
 * those within it), then the unexplored ones; with probability `exploration` (at least UNEXPLORED_SHARE while a
 * candidate is unexplored) another candidate goes first, so every model's figures stay fresh.
 */
export function rankCandidates(
  candidates: CandidateFigures[],
  options: { objective: MetricObjective; latencySloMs?: number; exploration: number; inputTokens: number; random: () => number },
): { order: string[]; reason: string; exploring: boolean } {
  const { objective, latencySloMs, exploration } = options;
  const values = objectiveValues(candidates, objective, options.inputTokens);
  const known: Valued[] = [];
  const unexplored: CandidateFigures[] = [];
  candidates.forEach((c, i) => {
    if (needsFigures(objective) && c.figures.calls < MIN_CALLS_TO_RANK) unexplored.push(c);
    else known.push({ ...c, value: values[i], overSlo: latencySloMs !== undefined && (c.figures.p90Ms ?? 0) > latencySloMs });
  });
  if (known.length === 0) {
    // Nothing to rank yet: the configured order, with the others explored so that every candidate gets figures.
    const order = candidates.map((c) => c.modelId);
    if (order.length > 1 && options.random() < Math.max(exploration, UNEXPLORED_SHARE)) {
      const explored = order[1 + Math.min(order.length - 2, Math.floor(options.random() * (order.length - 1)))];
      return { order: [explored, ...order.filter((id) => id !== explored)], reason: `exploring ${explored}: no candidate has recent figures yet`, exploring: true };
    }
    return { order, reason: 'no candidate has recent figures yet: the configured order', exploring: false };
  }
  known.sort((a, b) => Number(a.overSlo) - Number(b.overSlo) || a.value - b.value);
  const order = [...known.filter((c) => !c.overSlo), ...unexplored, ...known.filter((c) => c.overSlo)].map((c) => c.modelId);
  const share = unexplored.length > 0 ? Math.max(exploration, UNEXPLORED_SHARE) : exploration;
  if (order.length > 1 && options.random() < share) {
    const pool = unexplored.length > 0 ? unexplored.map((c) => c.modelId) : order.slice(1);
    const explored = pool[Math.min(pool.length - 1, Math.floor(options.random() * pool.length))];
    return {
      order: [explored, ...order.filter((id) => id !== explored)],
      exploring: true,
      reason: `exploring ${explored} (${unexplored.length > 0 ? 'it has no recent figures' : `a ${Math.round(share * 100)}% share`}); best by ${describeObjective(objective)}: ${describe(known[0], objective)}`,
    };
  }
  const best = known[0];
  const runnerUp = known[1];
  const slo = best.overSlo ? ` (every candidate is over the ${latencySloMs} ms SLO)` : '';
  return { order, exploring: false, reason: `best by ${describeObjective(objective)}: ${describe(best, objective)}${runnerUp ? ` vs ${describe(runnerUp, objective)}` : ''}${slo}` };
}

function describeObjective(objective: MetricObjective): string {
  if (typeof objective === 'string') return objective === 'latency' ? 'p90 latency' : objective === 'errors' ? 'error and throttle rate' : 'cost per call';
  return `weighted ${Object.entries(objective).filter(([, w]) => w > 0).map(([k, w]) => `${k} ${w}`).join(', ')}`;
}

function describe(c: Valued, objective: MetricObjective): string {
  const f = c.figures;
  const figures = [`p90 <= ${f.p90Ms ?? '?'} ms`, `errors ${Math.round((f.errorRate + f.throttleRate) * 1000) / 10}%`, `${f.calls} calls`];
  if (objective === 'cost' || typeof objective === 'object') figures.unshift(Number.isFinite(c.value) && objective === 'cost' ? `$${c.value.toPrecision(2)}/call` : 'cost');
  return `${c.modelId} (${figures.join(', ')})`;
}

async function decideByFigures(work: ChainWork, route: RouteEntry, deps: DecisionDeps): Promise<RouteDecision> {
  const ids = route.candidates!;
  let figures: RecentFigures[] = ids.map(() => ({ calls: 0, errorRate: 0, throttleRate: 0 }));
  if (deps.breaker.figures) figures = await deps.breaker.figures(ids.map((modelId) => ({ modelId, region: deps.homeRegion })), deps.clock());
  const ranked = rankCandidates(
    ids.map((modelId, i) => ({ modelId, figures: figures[i], ...(deps.routing.models[modelId]?.price && { price: deps.routing.models[modelId].price }) })),
    { objective: route.objective ?? 'latency', latencySloMs: route.latencySloMs, exploration: route.exploration ?? 0.05, inputTokens: estimateInputTokens(work.request!), random: deps.random },
  );
  deps.observer.observe({ type: 'routed', route: work.route, modelId: ranked.order[0], strategy: 'metric', exploring: ranked.exploring });
  return { chain: ranked.order, routing: { strategy: 'metric', candidates: ranked.order, chosen: ranked.order[0], reason: ranked.reason } };
}

/**
 * The record once the walk is over: who answered, how the chain got there if it was not the first choice, and a
 * service tier that gave way to the default one.
 */
export function settledRouting(decision: RouteDecision, answeredBy: string | undefined, attempts: { modelId: string; errorCode?: string; serviceTier?: string }[]): Routing {
  const { routing } = decision;
  const gaveWay = attempts.find((a) => a.serviceTier && a.serviceTier !== 'default' && a.errorCode) && attempts.some((a) => a.serviceTier === 'default');
  const asked = attempts.find((a) => a.serviceTier && a.serviceTier !== 'default');
  const tierNote = gaveWay && asked ? `; ${asked.serviceTier} ${asked.errorCode === 'MODEL_VALIDATION_ERROR' ? `refused by ${asked.modelId}` : 'throttled'}: continued on the default tier` : '';
  if (!answeredBy || answeredBy === routing.chosen) return tierNote ? { ...routing, reason: routing.reason + tierNote } : routing;
  const before = attempts.filter((a) => a.modelId !== answeredBy && a.errorCode).at(-1);
  return { ...routing, chosen: answeredBy, reason: `${routing.reason}; fallback: ${before ? `${before.modelId} ${before.errorCode}` : 'the models before it could not answer'}${tierNote}` };
}
