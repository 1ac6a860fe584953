import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CALL_SAFETY_MARGIN_MS } from '../lambda/core/retry-policy';
import { ASYNC_DEFAULTS } from '../lambda/core/async-model';
import { DEFAULT_MAX_OUTPUT_TOKENS } from '../lambda/core/settings';
import { isPromptRouter, isSystemInferenceProfile } from './bedrock-arns';

/**
 * What the worker-timeout check assumes of the slowest configured model by default: output tokens per second once it
 * streams (`worker.assumedOutputTokensPerSecond` overrides it), and seconds before its first token (conservative
 * figures for large models under load).
 */
export const OUTPUT_RATE_ASSUMPTION = { outputTokensPerSecond: 20, firstTokenSeconds: 2 } as const;

/** DynamoDB's item size limit (400 KB, attribute names included). */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;

/**
 * What the job-item estimate assumes beyond the config's own limits: the job's `metadata` (capped by the API), one
 * `attempts` entry (model id, region, outcome, error code, latency, start time and their names), and everything else
 * the record carries (keys, status, timestamps, route and routing record, error, lease, reservation, sweep and event
 * bookkeeping, the inline result's stopReason, usage and model id).
 */
export const JOB_ITEM_ASSUMPTIONS = { metadataBytes: 2048, attemptBytes: 200, bookkeepingBytes: 8192 } as const;

const identifier = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, starting with a letter');

const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as us-west-2');

export const modelSchema = z
  .object({
    modelId: z
      .string()
      .min(1)
      .describe(
        'Bedrock model id (anthropic.claude-3-haiku-20240307-v1:0), cross-region inference profile id (us./eu./apac./global. prefix) or application inference profile ARN',
      ),
    contextWindow: z
      .number()
      .int()
      .positive()
      .default(200_000)
      .describe('Input context window in tokens; a job too long for one model falls back only to a model with a larger window'),
    quota: z
      .object({
        requestsPerMinute: z.number().int().positive().optional().describe('Bedrock requests-per-minute quota of this model in each region'),
        tokensPerMinute: z.number().int().positive().optional().describe('Bedrock tokens-per-minute quota (input + max tokens reserved per call)'),
      })
      .strict()
      .optional()
      .describe('Quota the worker paces calls to (a shared token bucket per region); omit to call without admission control'),
    maxOutputTokens: z
      .number()
      .int()
      .positive()
      .default(DEFAULT_MAX_OUTPUT_TOKENS)
      .describe(
        'Most output tokens one call of this model produces: assumed for a job that sets no maxTokens (what a call reserves against the tokens-per-minute quota), and what worker.timeoutSeconds must leave time for',
      ),
    regions: z
      .array(awsRegion)
      .max(5)
      .default([])
      .describe("Regions to fail over to, in order, when the model is unavailable in the stack's region (each has its own breaker)"),
    price: z
      .object({
        inputPerMillionTokens: z.number().min(0).describe('USD per million input tokens'),
        outputPerMillionTokens: z.number().min(0).describe('USD per million output tokens'),
      })
      .strict()
      .optional()
      .describe("List price of the model's tokens: what a metric route with the cost objective compares (a model without a price counts as the most expensive)"),
    promptRouterModels: z
      .array(z.string().min(1))
      .min(1)
      .max(10)
      .optional()
      .describe('For a Bedrock prompt router ARN: the model or inference profile ids it routes between (IAM must allow each)'),
    profileDestinationRegions: z
      .array(awsRegion)
      .min(1)
      .optional()
      .describe(
        "Destination regions of the model's cross-region inference profile, replacing Quarry's built-in list for its geography (for a region AWS added later; for a global. profile, replacing the any-region grant)",
      ),
    invocation: z
      .enum(['sync', 'async'])
      .default('sync')
      .describe(
        'How Bedrock serves the model: sync (InvokeModel/Converse: routes, fallbacks, POST /invoke) or async (StartAsyncInvoke only, e.g. Nova Reel video generation: POST /jobs with modelId and modelInput; the output is written under async/<jobId>/ in the results bucket; not in routes)',
      ),
    async: z
      .object({
        deadlineSeconds: z.number().int().min(60).max(7 * 86_400).default(ASYNC_DEFAULTS.deadlineSeconds).describe('Seconds from submission within which the invocation must have completed (else the job fails JOB_DEADLINE_EXCEEDED)'),
        firstPollSeconds: z.number().int().min(1).max(900).default(ASYNC_DEFAULTS.firstPollSeconds).describe('Seconds from the start to the first GetAsyncInvoke; each later wait is 1.5 times longer'),
        maxPollSeconds: z.number().int().min(1).max(900).default(ASYNC_DEFAULTS.maxPollSeconds).describe('Longest wait between two GetAsyncInvoke calls'),
      })
      .strict()
      .optional()
      .describe("An async model's deadline and polling (one queue message and one GetAsyncInvoke per poll; no function waits in between)"),
  })
  .strict();

const chainFields = {
  fallback: z
    .array(identifier)
    .max(5)
    .default([])
    .describe("Models (keys of `models`) tried in order when the first is unavailable, throttled past its retries, or its circuit is open"),
};

/** A content route's tier: a model key (shorthand), or a model and its fallback chain. */
const tierTargetSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { model: value } : value),
  z
    .object({ model: identifier.describe('Key of the model in `models` that serves this tier (it may be a Bedrock prompt router)'), ...chainFields })
    .strict(),
);

const weight = z.number().min(0).max(100);

export const routeSchema = z
  .object({
    strategy: z
      .enum(['static', 'content', 'metric'])
      .default('static')
      .describe('How a job of this route finds its model: static (model + fallback), content (a complexity score picks a tier), metric (recent latency, errors and cost rank the candidates)'),
    model: identifier.optional().describe('static: key of the model in `models` that serves this route'),
    path: z
      .string()
      .regex(/^\/[a-z0-9-]+(\/[a-z0-9-]+)*$/, 'an absolute path such as /api/classify')
      .optional()
      .describe('Static HTTP path that submits jobs to this route (POST), e.g. /api/classify'),
    ...chainFields,
    tiers: z
      .object({ simple: tierTargetSchema, medium: tierTargetSchema, complex: tierTargetSchema })
      .strict()
      .optional()
      .describe('content: the model (and fallback chain) of each complexity tier'),
    thresholds: z
      .object({ medium: z.number().gt(0).lt(1), complex: z.number().gt(0).lt(1) })
      .strict()
      .optional()
      .describe('content: complexity scores (0..1) from which a request is medium and complex; default 0.22 and 0.4 (fit on bench/routing/labeled-prompts.jsonl)'),
    classifier: z
      .object({
        model: identifier.describe('Key of a small model in `models` that decides the tier when the score is uncertain'),
        band: z.number().min(0).max(0.5).default(0.03).describe('Scores within this distance of a threshold are uncertain'),
        timeoutMs: z.number().int().min(1000).max(30_000).default(2000).describe("Time the classifier may take, retries included; past it the rules' tier stands"),
      })
      .strict()
      .optional()
      .describe('content: a classifier model for uncertain scores; absent: the rules decide alone'),
    candidates: z
      .array(identifier)
      .min(2)
      .max(6)
      .optional()
      .describe('metric: the models (keys of `models`) ranked by their recent figures; the rest of the ranking is the fallback chain'),
    objective: z
      .union([
        z.enum(['latency', 'cost', 'errors']),
        z.object({ latency: weight.default(0), cost: weight.default(0), errors: weight.default(0) }).strict(),
      ])
      .optional()
      .describe('metric (default latency): what to minimize: p90 latency, list-price cost per call, the error and throttle rate, or a weighted mix {latency, cost, errors}'),
    latencySloMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('metric: candidates whose recent p90 latency is above this come after those within it, whatever the objective'),
    exploration: z
      .number()
      .min(0)
      .max(0.5)
      .optional()
      .describe('metric (default 0.05): share of jobs sent to a candidate other than the best, so its figures stay fresh and a recovered model wins traffic back'),
    serviceTier: z
      .enum(['default', 'priority', 'flex'])
      .optional()
      .describe("Bedrock service tier of the route's calls (a job's own serviceTier wins): flex is cheaper and may wait or be throttled when capacity is short, priority costs more and answers first"),
    serviceTierFallback: z
      .boolean()
      .default(true)
      .describe('When a model or region refuses the tier asked for (ValidationException), or flex is throttled flexPatience times, the job continues on the default tier'),
    flexPatience: z.number().int().min(1).max(10).default(2).describe("Throttled flex calls of a job (over all its models and deliveries) after which it continues on the default tier (serviceTierFallback)"),
    fallbackWhenBusy: z
      .boolean()
      .default(false)
      .describe("When the model's quota has no capacity now, try the next model of the chain instead of waiting for capacity"),
    cacheResponses: z
      .boolean()
      .default(false)
      .describe('Keep successful answers in a response cache and serve one (servedFrom: "cache") when every model of the chain fails'),
  })
  .strict();

export type RouteConfig = z.output<typeof routeSchema>;

/** Fields of a route that only one strategy reads. */
const STRATEGY_FIELDS = { static: ['model'], content: ['tiers', 'thresholds', 'classifier'], metric: ['candidates', 'latencySloMs', 'objective', 'exploration'] } as const;

/** Every chain of models a route may walk, with the config path of each key: what validation and IAM look at. */
export function routeChains(route: RouteConfig): Array<{ keys: string[]; paths: (string | number)[][] }> {
  if (route.strategy === 'content' && route.tiers) {
    return (['simple', 'medium', 'complex'] as const).map((tier) => {
      const target = route.tiers![tier];
      return { keys: [target.model, ...target.fallback], paths: [['tiers', tier, 'model'], ...target.fallback.map((_, i) => ['tiers', tier, 'fallback', i])] };
    });
  }
  if (route.strategy === 'metric' && route.candidates) {
    return [{ keys: route.candidates, paths: route.candidates.map((_, i) => ['candidates', i]) }];
  }
  return route.model ? [{ keys: [route.model, ...route.fallback], paths: [['model'], ...route.fallback.map((_, i) => ['fallback', i])] }] : [];
}

/** Every model key a route may call (its chains and, for content, its classifier). */
export function routeModelKeys(route: RouteConfig): string[] {
  const keys = routeChains(route).flatMap((chain) => chain.keys);
  if (route.strategy === 'content' && route.classifier) keys.push(route.classifier.model);
  return [...new Set(keys)];
}

/** The model a route's jobs are queued with, before the worker routes them: static's model, content's medium tier, metric's first candidate. */
export function queuedModelKey(route: RouteConfig): string | undefined {
  if (route.strategy === 'content') return route.tiers?.medium.model;
  if (route.strategy === 'metric') return route.candidates?.[0];
  return route.model;
}

function checkRoute(name: string, route: RouteConfig, models: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const at = (...path: (string | number)[]) => ['routes', name, ...path];
  const known = Object.keys(models).join(', ');
  const required = { static: 'model', content: 'tiers', metric: 'candidates' } as const;
  if (route[required[route.strategy]] === undefined) {
    ctx.addIssue({ code: 'custom', path: at(required[route.strategy]), message: `required with strategy "${route.strategy}"` });
  }
  for (const [strategy, fields] of Object.entries(STRATEGY_FIELDS)) {
    if (strategy === route.strategy) continue;
    for (const field of fields) {
      if (route[field] !== undefined) ctx.addIssue({ code: 'custom', path: at(field), message: `applies only to strategy "${strategy}" (this route's strategy is "${route.strategy}")` });
    }
  }
  if (route.strategy !== 'static' && route.fallback.length > 0) {
    ctx.addIssue({ code: 'custom', path: at('fallback'), message: route.strategy === 'content' ? 'give each tier its own fallback (tiers.<tier>.fallback)' : "a metric route's fallback is the rest of its ranked candidates" });
  }
  if (route.thresholds && route.thresholds.complex <= route.thresholds.medium) {
    ctx.addIssue({ code: 'custom', path: at('thresholds', 'complex'), message: 'must be above thresholds.medium' });
  }
  if (typeof route.objective === 'object' && route.objective.latency + route.objective.cost + route.objective.errors === 0) {
    ctx.addIssue({ code: 'custom', path: at('objective'), message: 'give at least one of latency, cost, errors a weight above 0' });
  }
  const isAsync = (key: string) => (models[key] as { invocation?: string } | undefined)?.invocation === 'async';
  const asyncMessage = (key: string) => `model "${key}" is invoked asynchronously (invocation "async"): jobs name it with modelId and modelInput, a route cannot serve it`;
  for (const chain of routeChains(route)) {
    chain.keys.forEach((key, i) => {
      if (!(key in models)) ctx.addIssue({ code: 'custom', path: at(...chain.paths[i]), message: `unknown model "${key}"; known: ${known}` });
      else if (isAsync(key)) ctx.addIssue({ code: 'custom', path: at(...chain.paths[i]), message: asyncMessage(key) });
      else if (chain.keys.indexOf(key) !== i) ctx.addIssue({ code: 'custom', path: at(...chain.paths[i]), message: `model "${key}" is already in the chain` });
    });
  }
  if (route.strategy === 'content' && route.classifier && !(route.classifier.model in models)) {
    ctx.addIssue({ code: 'custom', path: at('classifier', 'model'), message: `unknown model "${route.classifier.model}"; known: ${known}` });
  } else if (route.strategy === 'content' && route.classifier && isAsync(route.classifier.model)) {
    ctx.addIssue({ code: 'custom', path: at('classifier', 'model'), message: asyncMessage(route.classifier.model) });
  }
}

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const filterValue = z.array(z.string().min(1)).min(1);

export const subscriptionSchema = z
  .object({
    protocol: z.enum(['email', 'https', 'sqs', 'lambda']).describe('SNS subscription protocol'),
    endpoint: z.string().min(1).describe('Email address, https URL, SQS queue ARN or Lambda function ARN'),
    filter: z
      .object({ status: filterValue.optional(), route: filterValue.optional(), tenant: filterValue.optional() })
      .strict()
      .optional()
      .describe('SNS filter policy on the message attributes status / route / tenant'),
  })
  .strict();

export const QUOTA_PERIODS = ['DAY', 'WEEK', 'MONTH'] as const;

export const planSchema = z
  .object({
    rateLimit: z.number().positive().max(10_000).describe('Steady-state requests per second per API key (API Gateway usage plan throttle)'),
    burstLimit: z.number().int().min(1).max(5_000).describe('Requests per API key that may arrive at once above the rate (token bucket capacity)'),
    quota: z
      .object({
        limit: z.number().int().positive().describe('Requests per API key per period'),
        period: z.enum(QUOTA_PERIODS).describe('Quota period (UTC)'),
      })
      .strict()
      .optional()
      .describe('Requests per API key per day, week or month; none: no quota'),
    routes: z
      .array(identifier)
      .min(1)
      .optional()
      .describe('Routes (keys of `routes`) the tenants on this plan may submit to; absent: every route'),
    models: z
      .array(identifier)
      .min(1)
      .optional()
      .describe('Models (keys of `models`) the tenants on this plan may ask for or be served by, fallbacks included; absent: every model'),
  })
  .strict();

export type Plan = z.output<typeof planSchema>;

/** The plan every tenant gets unless it names another; always present, and may be overridden in `plans`. */
export const DEFAULT_PLAN = { rateLimit: 10, burstLimit: 20, quota: { limit: 10_000, period: 'DAY' } } as const;

export const tenantSchema = z
  .object({
    plan: identifier.default('default').describe('Key of the usage plan in `plans` that limits this tenant'),
  })
  .strict();

export const configSchema = z
  .object({
    stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/).default('Quarry').describe('CloudFormation stack name'),
    models: z
      .record(identifier, modelSchema)
      .prefault({
        // Prices: us-east-1 on-demand list prices per million tokens (aws.amazon.com/bedrock/pricing, 2026-12).
        'claude-haiku': { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', price: { inputPerMillionTokens: 0.25, outputPerMillionTokens: 1.25 } },
        'claude-sonnet': { modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0', price: { inputPerMillionTokens: 3, outputPerMillionTokens: 15 } },
        'claude-opus': { modelId: 'us.anthropic.claude-opus-4-1-20250805-v1:0', price: { inputPerMillionTokens: 15, outputPerMillionTokens: 75 } },
        'nova-micro': { modelId: 'amazon.nova-micro-v1:0', contextWindow: 128_000, price: { inputPerMillionTokens: 0.035, outputPerMillionTokens: 0.14 } },
        // Video generation: StartAsyncInvoke only (POST /jobs {"modelId": "nova-reel", "modelInput": {...}}).
        'nova-reel': { modelId: 'amazon.nova-reel-v1:1', invocation: 'async' },
      })
      .describe('Models the pipeline may call, by key'),
    routes: z
      .record(identifier, routeSchema)
      .prefault({
        classify: { model: 'claude-haiku', path: '/api/classify', fallback: ['nova-micro'] },
        generate: { model: 'claude-sonnet', path: '/api/generate', fallback: ['claude-haiku'] },
        analyze: { model: 'claude-opus', path: '/api/analyze', fallback: ['claude-sonnet', 'claude-haiku'] },
        auto: {
          strategy: 'content',
          tiers: { simple: { model: 'claude-haiku', fallback: ['nova-micro'] }, medium: { model: 'claude-sonnet', fallback: ['claude-haiku'] }, complex: { model: 'claude-opus', fallback: ['claude-sonnet'] } },
          classifier: { model: 'nova-micro' },
        },
        fastest: { strategy: 'metric', candidates: ['claude-haiku', 'nova-micro'], objective: 'latency' },
      })
      .describe('Routes: a name jobs ask for, the model that serves it and an optional static path'),
    defaultRoute: identifier.default('generate').describe('Route used by POST /jobs when the body names none'),
    api: z
      .object({
        rateLimit: z.number().positive().default(50).describe('Stage-wide steady-state requests per second'),
        burstLimit: z.number().int().positive().default(100).describe('Stage-wide burst capacity'),
        maxRequestBytes: z
          .number()
          .int()
          .min(1024)
          .max(350_000)
          .default(256_000)
          .describe('Largest accepted job request body in bytes (the request is stored in DynamoDB, 400 KB per item)'),
        invokeTimeoutSeconds: z
          .number()
          .int()
          .min(3)
          .max(29)
          .default(29)
          .describe(
            "Seconds POST /invoke may take: its API Gateway integration timeout (29 s is API Gateway's default limit). A call that cannot answer in time gets 504 INVOKE_TIMEOUT at least a second before the gateway would give up",
          ),
        streamTimeoutSeconds: z
          .number()
          .int()
          .min(3)
          .max(900)
          .default(300)
          .describe(
            'Seconds POST /invoke/stream may take, first byte to last: its streaming integration timeout (API Gateway streams for up to 15 minutes). Within it, retries and fallback happen only before the first token; a call that cannot finish in time ends the stream with an error event',
          ),
        webAclArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/.+$/, 'a regional WAFv2 web ACL ARN')
          .optional()
          .describe('Regional WAFv2 web ACL to associate with the API stage (none by default)'),
        cloudWatchRole: z
          .boolean()
          .default(false)
          .describe(
            "Create the account-level role API Gateway writes CloudWatch logs with (AWS::ApiGateway::Account: one per account and region, replacing any role set before, retained on delete), and log the stage: access logs and execution logs at ERROR. API Gateway refuses both kinds of stage logging in a region whose account has no such role, so without it the stage logs nothing (API metrics, X-Ray traces and the functions' logs remain)",
          ),
      })
      .strict()
      .prefault({}),
    plans: z
      .record(identifier, planSchema)
      .prefault({})
      .transform((plans): Record<string, Plan> => ({ default: DEFAULT_PLAN, ...plans }))
      .describe(`API usage plans by name: rate, burst and quota per API key. A \`default\` plan (${DEFAULT_PLAN.rateLimit}/s, burst ${DEFAULT_PLAN.burstLimit}, ${DEFAULT_PLAN.quota.limit}/${DEFAULT_PLAN.quota.period.toLowerCase()}) always exists; give one named \`default\` to change it`),
    tenants: z
      .record(identifier, tenantSchema)
      .prefault({ default: { plan: 'default' } })
      .refine((tenants) => Object.keys(tenants).length > 0, 'at least one tenant: every API call needs an API key')
      .describe("API callers by name: each gets its own API key (generated by API Gateway, never in the config) on its plan; the functions map the key's id to this name (QUARRY_TENANTS)"),
    worker: z
      .object({
        memorySize: z.number().int().min(128).max(10240).default(256).describe('Worker Lambda memory (MB): the worker mostly waits on the model, which more memory does not shorten (see Cost)'),
        timeoutSeconds: z
          .number()
          .int()
          .min(3)
          .max(900)
          .default(300)
          .describe(
            `Worker Lambda timeout (s); the queue visibility timeout is 6x this. Must fit one call producing maxOutputTokens of every model a route uses, at worker.assumedOutputTokensPerSecond after ${OUTPUT_RATE_ASSUMPTION.firstTokenSeconds} s to the first token, plus ${CALL_SAFETY_MARGIN_MS / 1000} s to record the outcome`,
          ),
        assumedOutputTokensPerSecond: z
          .number()
          .positive()
          .max(100_000)
          .default(OUTPUT_RATE_ASSUMPTION.outputTokensPerSecond)
          .describe('Output rate the worker-timeout check assumes of the slowest model a route uses (tokens/s); raise it to what you measured, or for the local simulator'),
        batchSize: z.number().int().min(1).max(100).default(10).describe('SQS records per worker invocation, processed concurrently: their model calls share one invocation\'s billed time (see Cost)'),
        maxBatchingWindowSeconds: z.number().int().min(0).max(300).default(0).describe('How long the event source mapping gathers a batch (s)'),
        maxConcurrency: z.number().int().min(2).max(1000).default(10).describe('Most concurrent worker invocations the event source mapping starts'),
        maxReceiveCount: z.number().int().min(1).max(1000).default(5).describe('Deliveries of a failing message before it moves to the DLQ'),
      })
      .strict()
      .prefault({}),
    results: z
      .object({
        inlineMaxBytes: z.number().int().min(0).max(300_000).default(32_768).describe('Results larger than this (UTF-8 bytes of the text) go to S3'),
        expirationDays: z.number().int().min(1).default(30).describe('Days before result objects in S3 expire'),
        presignedUrlSeconds: z
          .number()
          .int()
          .min(60)
          .max(604_800)
          .default(900)
          .describe(
            "Lifetime of the resultUrl returned by GET /jobs/{id}, capped at what the signing credentials allow: a URL signed with the status function's temporary role credentials stops working when they expire, so the function shortens it to their known expiry (less a minute)",
          ),
      })
      .strict()
      .prefault({}),
    inputs: z
      .object({
        expirationDays: z.number().int().min(1).default(7).describe("Days before objects in the inputs bucket (attachments named by s3Location) expire"),
        uploadUrlSeconds: z.number().int().min(60).max(3600).default(900).describe('Lifetime of the upload URL POST /inputs returns (s), capped as results.presignedUrlSeconds is'),
      })
      .strict()
      .prefault({}),
    guardrails: z
      .array(
        z
          .object({
            id: z.string().regex(/^[a-z0-9]+$/, 'a guardrail id (as in its ARN), not the ARN').describe('The guardrail id'),
            description: z.string().optional().describe('What it guards against (for the reader of the config)'),
          })
          .strict(),
      )
      .default([])
      .describe("Bedrock guardrails a request's guardrailConfig may name (any version); the functions that call models may apply only these (bedrock:ApplyGuardrail)"),
    jobs: z
      .object({
        ttlDays: z.number().int().min(1).default(30).describe('Days before a job record expires (DynamoDB TTL)'),
      })
      .strict()
      .prefault({}),
    batches: z
      .object({
        jobDeadlineSeconds: z.number().int().min(60).max(604_800).default(86_400).describe("Seconds a batch's job has to finish (paced by the models' quotas, a large batch takes hours); past it, JOB_DEADLINE_EXCEEDED"),
        inputMaxBytes: z.number().int().min(1024).max(1_000_000_000).default(100_000_000).describe('Largest JSONL input object (inputUri) POST /batches reads, in bytes'),
      })
      .strict()
      .prefault({}),
    removalPolicy: z
      .enum(['retain', 'destroy'])
      .default('retain')
      .describe('What `cdk destroy` does to the jobs table, results bucket and topic key: retain them (and protect the table from deletion) or delete them (sandboxes)'),
    logRetentionDays: z
      .number()
      .int()
      .refine((d) => LOG_RETENTION_DAYS.includes(d), `one of ${LOG_RETENTION_DAYS.join(', ')}`)
      .default(30)
      .describe('Retention of the functions\' and API access log groups (days)'),
    resilience: z
      .object({
        retry: z
          .object({
            attemptsPerModel: z.number().int().min(1).max(10).default(3).describe('Calls to one model within one delivery before moving down the fallback chain'),
            baseDelayMs: z.number().int().min(0).max(60_000).default(200).describe('First backoff between those calls; doubles per call, full jitter'),
            maxDelayMs: z.number().int().min(0).max(300_000).default(5_000).describe('Longest backoff between calls within one delivery'),
          })
          .strict()
          .prefault({}),
        requeue: z
          .object({
            baseDelaySeconds: z.number().int().min(0).max(900).default(5).describe('Delay before a job whose every model failed is tried again; doubles per requeue'),
            maxDelaySeconds: z.number().int().min(0).max(900).default(300).describe('Longest requeue delay (SQS allows 900)'),
            mode: z
              .enum(['requeue', 'redeliver'])
              .default('requeue')
              .describe(
                '"requeue": send the job again with a delay (spends no DLQ receive); "redeliver": leave it to SQS redelivery after the visibility timeout (the classic setup, spends a receive each time; kept for comparison)',
              ),
          })
          .strict()
          .prefault({}),
        sdkMaxAttempts: z.number().int().min(1).max(10).default(2).describe('Attempts the AWS SDK makes per Bedrock call (its own retries, standard mode) before the pipeline\'s policy takes over'),
        maxModelCalls: z.number().int().min(1).max(1000).default(30).describe('Model calls a job may make in all before it ends FAILED (ALL_MODELS_UNAVAILABLE)'),
        jobDeadlineSeconds: z.number().int().min(10).max(604_800).default(3600).describe('A job still unanswered this long after submission ends FAILED (ALL_MODELS_UNAVAILABLE)'),
        breaker: z
          .object({
            windowSeconds: z.number().int().min(5).max(3600).default(60).describe('Rolling window over which the failure rate is measured'),
            minimumCalls: z.number().int().min(1).max(10_000).default(10).describe('Calls in the window before the breaker may open'),
            failureRateThreshold: z.number().gt(0).max(1).default(0.5).describe('Share of retryable failures that opens the breaker'),
            cooldownSeconds: z.number().int().min(1).max(3600).default(30).describe('How long a breaker stays OPEN the first time; doubles per consecutive opening'),
            maxCooldownSeconds: z.number().int().min(1).max(86_400).default(600).describe('Longest OPEN period'),
            halfOpenProbes: z.number().int().min(1).max(100).default(1).describe('Concurrent probe calls admitted while HALF_OPEN'),
          })
          .strict()
          .prefault({}),
        cacheTtlSeconds: z.number().int().min(60).max(31_536_000).default(86_400).describe('Lifetime of a cached response (routes with cacheResponses)'),
        redelivery: z
          .object({
            baseDelaySeconds: z.number().int().min(0).max(43_200).default(60).describe('Delay before a delivery that crashed (an AWS error or a defect, not a model failure) comes back; doubles per receive, each spending one of worker.maxReceiveCount'),
            maxDelaySeconds: z.number().int().min(0).max(43_200).default(900).describe('Longest crash redelivery delay (SQS allows 12 hours)'),
          })
          .strict()
          .prefault({}),
        sweepGraceSeconds: z
          .number()
          .int()
          .min(1)
          .max(86_400)
          .default(300)
          .describe('How long past the moment a job off the normal path should have moved on (its lease end, requeue time or terminal write) the sweep waits before it looks at it: fails it at its deadline or announces it (keep it well above the time a worker takes to publish; short values are for tests)'),
        figuresBucketSeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(60)
          .describe("Length of a bucket of the models' recent figures (calls, errors, throttles, latency, tokens) that metric routes and GET /models read: the last five buckets, each weighing half the next, so a change shows within one bucket (short values are for tests)"),
        deadLetterRequeues: z.number().int().min(0).max(100).default(2).describe('Times a dead-lettered job still within its deadline goes back to the queue before it ends FAILED (DEAD_LETTERED)'),
      })
      .strict()
      .prefault({}),
    logPromptText: z.boolean().default(false).describe('Log prompt and completion text (off: logs hold ids, sizes and usage only)'),
    functions: z
      .object({
        sourceMaps: z
          .boolean()
          .default(false)
          .describe(
            'Ship a source map (1.3-1.8 MB) with every function and start Node.js with --enable-source-maps, so stack traces name the TypeScript sources; it adds 35-90 ms to each cold start (see Cold start). Off: stack traces name minified functions',
          ),
        tracing: z
          .boolean()
          .default(false)
          .describe(
            'X-Ray active tracing of every function and of the REST API stage (AWS SDK calls as subsegments). It costs $5 per million traces recorded beyond the free tier (about $6 per million jobs at the default sampling) and ~100 ms more cold start per function (the X-Ray SDK is then bundled); off: no traces, metrics and logs only (see Cost)',
          ),
        platformLogs: z
          .enum(['DEBUG', 'INFO', 'WARN'])
          .default('WARN')
          .describe(
            "Lambda's system log level (its JSON log format is always on): WARN logs the platform's lines only when an invocation fails, times out or runs out of memory; INFO adds the START and REPORT lines of every invocation (billed duration, max memory used: about 0.4 KB each, $0.20 per million invocations of log ingestion); DEBUG adds the init phase's lines",
          ),
      })
      .strict()
      .prefault({}),
    subscriptions: z.array(subscriptionSchema).default([]).describe('SNS subscriptions created with the stack'),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const [key, model] of Object.entries(config.models)) {
      if (model.profileDestinationRegions && !isSystemInferenceProfile(model.modelId)) {
        ctx.addIssue({ code: 'custom', path: ['models', key, 'profileDestinationRegions'], message: 'applies only to a cross-region inference profile (us./eu./apac./global. ... id or inference-profile ARN)' });
      }
      if (isPromptRouter(model.modelId) !== (model.promptRouterModels !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', key, 'promptRouterModels'],
          message: model.promptRouterModels ? 'applies only to a prompt router ARN (arn:aws:bedrock:<region>:<account>:default-prompt-router/... or prompt-router/...)' : 'required for a prompt router: the model or inference profile ids it routes between',
        });
      }
      if (model.async && model.invocation !== 'async') {
        ctx.addIssue({ code: 'custom', path: ['models', key, 'async'], message: 'applies only to a model with invocation "async"' });
      }
      if (model.invocation === 'async' && model.regions.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['models', key, 'regions'], message: 'an async model is invoked in the stack\'s region only (its invocation is followed there)' });
      }
      if (model.regions.length > 0 && model.modelId.startsWith('arn:')) {
        ctx.addIssue({ code: 'custom', path: ['models', key, 'regions'], message: 'an ARN names one region; give the model or inference profile id to fail over to other regions' });
      }
    }
    for (const [name, route] of Object.entries(config.routes)) checkRoute(name, route, config.models, ctx);
    for (const [name, tenant] of Object.entries(config.tenants)) {
      if (!(tenant.plan in config.plans)) {
        ctx.addIssue({ code: 'custom', path: ['tenants', name, 'plan'], message: `unknown plan "${tenant.plan}"; known: ${Object.keys(config.plans).join(', ')}` });
      }
    }
    for (const [name, plan] of Object.entries(config.plans)) {
      plan.routes?.forEach((route, i) => {
        if (!(route in config.routes)) ctx.addIssue({ code: 'custom', path: ['plans', name, 'routes', i], message: `unknown route "${route}"; known: ${Object.keys(config.routes).join(', ')}` });
      });
      plan.models?.forEach((model, i) => {
        if (!(model in config.models)) ctx.addIssue({ code: 'custom', path: ['plans', name, 'models', i], message: `unknown model "${model}"; known: ${Object.keys(config.models).join(', ')}` });
      });
      if (plan.models?.every((m) => m in config.models)) {
        for (const route of plan.routes ?? Object.keys(config.routes)) {
          for (const { keys: chain } of config.routes[route] ? routeChains(config.routes[route]) : []) {
            if (chain.length > 0 && !chain.some((m) => plan.models!.includes(m))) {
              ctx.addIssue({
                code: 'custom',
                path: ['plans', name, 'models'],
                message: `allows none of route ${route}'s models (${chain.join(', ')}): add one, or list in plans.${name}.routes only the routes its tenants may use`,
              });
            }
          }
        }
      }
    }
    if (!(config.defaultRoute in config.routes)) {
      ctx.addIssue({ code: 'custom', path: ['defaultRoute'], message: `unknown route "${config.defaultRoute}"` });
    }
    if (config.resilience.redelivery.maxDelaySeconds < config.resilience.redelivery.baseDelaySeconds) {
      ctx.addIssue({ code: 'custom', path: ['resilience', 'redelivery', 'maxDelaySeconds'], message: 'must be at least resilience.redelivery.baseDelaySeconds' });
    }
    if (config.worker.batchSize > 10 && config.worker.maxBatchingWindowSeconds < 1) {
      ctx.addIssue({ code: 'custom', path: ['worker', 'maxBatchingWindowSeconds'], message: 'must be at least 1 when worker.batchSize is above 10 (an SQS event source rule)' });
    }
    const paths = Object.values(config.routes).flatMap((r) => (r.path ? [r.path] : []));
    const duplicate = paths.find((p, i) => paths.indexOf(p) !== i);
    if (duplicate) ctx.addIssue({ code: 'custom', path: ['routes'], message: `path ${duplicate} is used by two routes` });
    if (paths.some((p) => p === '/jobs' || p.startsWith('/jobs/') || p === '/models')) {
      ctx.addIssue({ code: 'custom', path: ['routes'], message: 'route paths may not shadow /jobs or /models' });
    }
    if (Object.values(config.routes).every((r) => routeModelKeys(r).every((k) => k in config.models))) {
      checkJobItemFits(config, ctx);
      checkWorkerTimeout(config, ctx);
    }
  });

export type QuarryConfig = z.output<typeof configSchema>;
export type QuarryConfigInput = z.input<typeof configSchema>;

type ValidatedFields = Pick<QuarryConfig, 'api' | 'results' | 'resilience' | 'models' | 'routes' | 'worker'>;

/**
 * A conservative estimate of the largest job item the config allows, in bytes: the request as stored (up to
 * api.maxRequestBytes, counted 1:1 with its JSON text), the inline result (up to results.inlineMaxBytes), the
 * metadata, one attempts entry per model call (up to resilience.maxModelCalls) and the record's bookkeeping
 * ({@link JOB_ITEM_ASSUMPTIONS}).
 */
export function estimateJobItemBytes(config: Pick<ValidatedFields, 'api' | 'results' | 'resilience'>): number {
  const a = JOB_ITEM_ASSUMPTIONS;
  return config.api.maxRequestBytes + config.results.inlineMaxBytes + a.metadataBytes + config.resilience.maxModelCalls * a.attemptBytes + a.bookkeepingBytes;
}

function checkJobItemFits(config: ValidatedFields, ctx: z.RefinementCtx): void {
  const estimate = estimateJobItemBytes(config);
  if (estimate <= DYNAMODB_ITEM_LIMIT_BYTES) return;
  const a = JOB_ITEM_ASSUMPTIONS;
  const parts = [
    `request ${config.api.maxRequestBytes} (api.maxRequestBytes)`,
    `inline result ${config.results.inlineMaxBytes} (results.inlineMaxBytes)`,
    `metadata ${a.metadataBytes}`,
    `attempts ${config.resilience.maxModelCalls} x ${a.attemptBytes} (resilience.maxModelCalls)`,
    `bookkeeping ${a.bookkeepingBytes}`,
  ];
  const message = `a job item may reach ${estimate} bytes, over DynamoDB's ${DYNAMODB_ITEM_LIMIT_BYTES}-byte item limit (assumed: ${parts.join(' + ')}): lower api.maxRequestBytes, results.inlineMaxBytes or resilience.maxModelCalls`;
  // Blame what was raised above its default (the defaults fit); failing that, the largest share.
  const defaults = configSchema.parse({});
  const fields = [
    { path: ['api', 'maxRequestBytes'], bytes: config.api.maxRequestBytes, raised: config.api.maxRequestBytes > defaults.api.maxRequestBytes },
    { path: ['results', 'inlineMaxBytes'], bytes: config.results.inlineMaxBytes, raised: config.results.inlineMaxBytes > defaults.results.inlineMaxBytes },
    { path: ['resilience', 'maxModelCalls'], bytes: config.resilience.maxModelCalls * a.attemptBytes, raised: config.resilience.maxModelCalls > defaults.resilience.maxModelCalls },
  ];
  const raised = fields.filter((f) => f.raised);
  for (const field of raised.length > 0 ? raised : [fields.reduce((a, b) => (b.bytes > a.bytes ? b : a))]) ctx.addIssue({ code: 'custom', path: field.path, message });
}

/** Seconds one call producing `maxOutputTokens` may take, per {@link OUTPUT_RATE_ASSUMPTION}, plus the worker's safety margin. */
export function secondsForOneCall(model: Pick<QuarryConfig['models'][string], 'maxOutputTokens'>, outputTokensPerSecond: number = OUTPUT_RATE_ASSUMPTION.outputTokensPerSecond): number {
  return OUTPUT_RATE_ASSUMPTION.firstTokenSeconds + model.maxOutputTokens / outputTokensPerSecond + CALL_SAFETY_MARGIN_MS / 1000;
}

function checkWorkerTimeout(config: ValidatedFields, ctx: z.RefinementCtx): void {
  const used = new Map<string, string>();
  for (const [name, route] of Object.entries(config.routes)) for (const key of routeModelKeys(route)) if (!used.has(key)) used.set(key, name);
  const { firstTokenSeconds } = OUTPUT_RATE_ASSUMPTION;
  const outputTokensPerSecond = config.worker.assumedOutputTokensPerSecond;
  const slowest = [...used].map(([key, route]) => ({ key, route, needed: secondsForOneCall(config.models[key], outputTokensPerSecond) })).sort((a, b) => b.needed - a.needed)[0];
  if (slowest && slowest.needed > config.worker.timeoutSeconds) {
    const { key, route, needed } = slowest;
    const model = config.models[key];
    ctx.addIssue({
      code: 'custom',
      path: ['worker', 'timeoutSeconds'],
      message:
        `${config.worker.timeoutSeconds} s is too short for one call of model ${key} (route ${route}): ${model.maxOutputTokens} output tokens (models.${key}.maxOutputTokens) ` +
        `need ${Math.ceil(needed)} s, assuming ${outputTokensPerSecond} output tokens/s (worker.assumedOutputTokensPerSecond) after ${firstTokenSeconds} s to the first token, plus ${CALL_SAFETY_MARGIN_MS / 1000} s to record the outcome; ` +
        `raise worker.timeoutSeconds to at least ${Math.ceil(needed)} or lower models.${key}.maxOutputTokens`,
    });
  }
}

export class ConfigError extends Error {}

/** Validates a raw configuration; the message names every offending field. */
export function parseConfig(raw: unknown): QuarryConfig {
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid Quarry configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/**
 * Reads the configuration from, in order: the JSON file named by the `configFile` context key or the
 * QUARRY_CONFIG environment variable, then the `quarry` context object (cdk.json or `-c`), merged shallowly.
 */
export function loadConfig(tryGetContext: (key: string) => unknown): QuarryConfig {
  const contextFile = tryGetContext('configFile') as string | undefined;
  const file = contextFile ?? process.env.QUARRY_CONFIG;
  const origin = contextFile ? 'configFile context' : 'QUARRY_CONFIG';
  const fromFile = file ? parseJsonObject(readConfigFile(file, origin), `configuration file ${file} (${origin})`) : {};
  const context = tryGetContext('quarry');
  const fromContext = typeof context === 'string' ? parseJsonObject(context, 'context value quarry') : (context ?? {});
  return parseConfig({ ...fromFile, ...fromContext });
}

function readConfigFile(file: string, origin: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ConfigError(`Cannot read the Quarry configuration file ${file} (${origin}): ${reason}`);
  }
}

/** JSON.parse with a one-line error naming the source and the line and column of the fault. */
function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const offset = jsonErrorOffset(text);
    if (text.trim() === '') throw new ConfigError(`Invalid JSON in the Quarry ${source}: it is empty`);
    if (offset === undefined) throw new ConfigError(`Invalid JSON in the Quarry ${source} at ${lineAndColumn(text, text.length)}: unexpected end of input`);
    const message = (error as Error).message;
    const reason = /^Unexpected token/.test(message) || !/ in JSON at position/.test(message) ? `unexpected character ${JSON.stringify(text[offset])}` : message.replace(/ in JSON at position[\s\S]*$/, '');
    throw new ConfigError(`Invalid JSON in the Quarry ${source} at ${lineAndColumn(text, offset)}: ${reason}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`The Quarry ${source} must hold a JSON object, not ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

/**
 * Offset of the first character no JSON text could continue with, or undefined when the text just ends too early.
 * A prefix either still reads as (the start of) JSON or fails for good, so a binary search over prefixes finds it
 * without depending on the wording of the engine's messages.
 */
function jsonErrorOffset(text: string): number | undefined {
  const viable = (length: number) => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (error) {
      const message = (error as Error).message;
      const position = / at position (\d+)/.exec(message);
      return /end of JSON input/.test(message) || (position !== null && Number(position[1]) >= length);
    }
  };
  if (viable(text.length)) return undefined;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (viable(mid)) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}
