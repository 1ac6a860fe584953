import { tierFor } from '../../../lambda/core/candidate-call';
import { invokeNow, type InvocationDeps } from '../../../lambda/core/invocation';
import type { Attempt } from '../../../lambda/core/job';
import type { NormalizedJobRequest } from '../../../lambda/core/job-request';
import { DEFAULT_RESILIENCE, routingTableSchema } from '../../../lambda/core/settings';

/*
 * Service tiers: the route's (or the job's) tier is asked for; a refused tier, or flex throttled past the route's
 * patience, gives way to the default tier when the route allows it. End to end: test/integration/service-tiers.test.ts.
 */

const routing = routingTableSchema.parse({
  defaultRoute: 'cheap',
  routes: {
    cheap: { modelId: 'model-a', fallback: ['model-b'], serviceTier: 'flex' },
    strict: { modelId: 'model-a', serviceTier: 'flex', serviceTierFallback: false },
    plain: { modelId: 'model-a' },
  },
  models: { 'model-a': {}, 'model-b': {} },
});
const NOW = Date.parse('2026-12-07T06:00:00Z');
const refusal = () => Object.assign(new Error('The model does not support the flex service tier in this Region.'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
const throttle = () => Object.assign(new Error('Too many requests'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });

function deps(converse: (id: string, request: NormalizedJobRequest) => Promise<unknown>) {
  const asked: Array<[string, string | undefined]> = [];
  const d: InvocationDeps = {
    model: {
      converse: async (id, request) => {
        asked.push([id, request.serviceTier]);
        await converse(id, request);
        return { text: 'ok', stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1 }, ...(request.serviceTier && { serviceTier: request.serviceTier }) };
      },
    },
    breaker: { admit: async () => ({ admitted: true, probe: false }), record: async () => undefined },
    capacity: { reserve: async () => ({ kind: 'unlimited' }), settle: async () => undefined },
    cache: { get: async () => undefined, put: async () => undefined },
    observer: { observe: () => {} },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    clock: () => new Date(NOW),
    sleep: async () => {},
    random: () => 0.5,
    routing,
    policy: { ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 3, baseDelayMs: 1, maxDelayMs: 1 } },
    homeRegion: 'us-east-1',
  };
  return { d, asked };
}
const budget = { remainingMillis: () => 20_000, seconds: 29 };
const invoke = (d: InvocationDeps, body: object) => invokeNow({ body, tenant: { name: 'default' }, invocationId: 'inv' }, budget, d);

it("asks for the route's tier, and the job's own tier wins", async () => {
  const { d, asked } = deps(async () => undefined);
  expect((await invoke(d, { prompt: 'hi' })).serviceTier).toBe('flex');
  expect((await invoke(d, { prompt: 'hi', serviceTier: 'priority' })).serviceTier).toBe('priority');
  expect((await invoke(d, { prompt: 'hi', route: 'plain' })).serviceTier).toBeUndefined();
  expect(asked).toEqual([['model-a', 'flex'], ['model-a', 'priority'], ['model-a', undefined]]);
});

it('continues on the default tier at once when the model refuses the one asked for, and says so', async () => {
  const { d, asked } = deps(async (_id, request) => {
    if (request.serviceTier === 'flex') throw refusal();
  });
  const answer = await invoke(d, { prompt: 'hi' });
  expect(asked).toEqual([['model-a', 'flex'], ['model-a', 'default']]);
  expect(answer.serviceTier).toBe('default');
  expect(answer.attempts.map((a) => [a.serviceTier, a.outcome, a.errorCode])).toEqual([['flex', 'failed', 'MODEL_VALIDATION_ERROR'], ['default', 'succeeded', undefined]]);
  expect(answer.routing.reason).toBe("the route's model; flex refused by model-a: continued on the default tier");
});

it('gives flex flexPatience throttles, then continues on default', async () => {
  const { d, asked } = deps(async (_id, request) => {
    if (request.serviceTier === 'flex') throw throttle();
  });
  const answer = await invoke(d, { prompt: 'hi' });
  expect(asked).toEqual([['model-a', 'flex'], ['model-a', 'flex'], ['model-a', 'default']]);
  expect(answer.routing.reason).toMatch(/flex throttled: continued on the default tier$/);
});

it('keeps the tier when the route says so: a refusal is then final', async () => {
  const refusing = deps(async (_id, request) => {
    if (request.serviceTier === 'flex') throw refusal();
  });
  await expect(invoke(refusing.d, { prompt: 'hi', route: 'strict' })).rejects.toMatchObject({ code: 'MODEL_REJECTED_REQUEST', message: expect.stringMatching(/flex service tier/) });
  expect(refusing.asked).toEqual([['model-a', 'flex']]);
});

it('decides the tier from the attempts, so a requeued job continues where it was', () => {
  const job = { jobId: 'j', tenant: 't', route: 'cheap', modelId: 'model-a', request: { messages: [] } as NormalizedJobRequest };
  const a = { modelId: 'model-a', region: 'us-east-1' };
  const b = { modelId: 'model-b', region: 'us-east-1' };
  const failed = (modelId: string, errorCode: string, serviceTier = 'flex'): Attempt => ({ modelId, region: 'us-east-1', outcome: 'failed', errorCode, serviceTier, latencyMs: 1, startedAt: '' });
  expect(tierFor({ ...job, attempts: [] }, [], a, { routing })).toBe('flex');
  expect(tierFor({ ...job, attempts: [failed('model-a', 'MODEL_VALIDATION_ERROR')] }, [], a, { routing })).toBe('default');
  // A refusal is the model's (and region's) own: another model still gets flex.
  expect(tierFor({ ...job, attempts: [failed('model-a', 'MODEL_VALIDATION_ERROR')] }, [], b, { routing })).toBe('flex');
  // Throttles count over the job, whichever model threw them.
  expect(tierFor({ ...job, attempts: [failed('model-a', 'MODEL_THROTTLED')] }, [failed('model-b', 'MODEL_THROTTLED')], b, { routing })).toBe('default');
  expect(tierFor({ ...job, route: 'strict', attempts: [failed('model-a', 'MODEL_VALIDATION_ERROR')] }, [], a, { routing })).toBe('flex');
  expect(tierFor({ ...job, route: 'plain', attempts: [] }, [], a, { routing })).toBeUndefined();
});
