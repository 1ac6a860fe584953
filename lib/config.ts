import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isSystemInferenceProfile } from './bedrock-arns';

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
      .default(4096)
      .describe('Max tokens assumed for a job that sets none: what a call reserves against the tokens-per-minute quota'),
    regions: z
      .array(awsRegion)
      .max(5)
      .default([])
      .describe("Regions to fail over to, in order, when the model is unavailable in the stack's region (each has its own breaker)"),
    profileDestinationRegions: z
      .array(awsRegion)
      .min(1)
      .optional()
      .describe(
        "Destination regions of the model's cross-region inference profile, replacing Quarry's built-in list for its geography (for a region AWS added later; for a global. profile, replacing the any-region grant)",
      ),
  })
  .strict();

export const routeSchema = z
  .object({
    model: identifier.describe('Key of the model in `models` that serves this route'),
    path: z
      .string()
      .regex(/^\/[a-z0-9-]+(\/[a-z0-9-]+)*$/, 'an absolute path such as /api/classify')
      .optional()
      .describe('Static HTTP path that submits jobs to this route (POST), e.g. /api/classify'),
    fallback: z
      .array(identifier)
      .max(5)
      .default([])
      .describe('Models (keys of `models`) tried in order when the route\'s model is unavailable, throttled past its retries, or its circuit is open'),
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
  })
  .strict();

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
        'claude-haiku': { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' },
        'claude-sonnet': { modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0' },
        'claude-opus': { modelId: 'us.anthropic.claude-opus-4-1-20250805-v1:0' },
        'nova-micro': { modelId: 'amazon.nova-micro-v1:0', contextWindow: 128_000 },
      })
      .describe('Models the pipeline may call, by key'),
    routes: z
      .record(identifier, routeSchema)
      .prefault({
        classify: { model: 'claude-haiku', path: '/api/classify', fallback: ['nova-micro'] },
        generate: { model: 'claude-sonnet', path: '/api/generate', fallback: ['claude-haiku'] },
        analyze: { model: 'claude-opus', path: '/api/analyze', fallback: ['claude-sonnet', 'claude-haiku'] },
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
        webAclArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/.+$/, 'a regional WAFv2 web ACL ARN')
          .optional()
          .describe('Regional WAFv2 web ACL to associate with the API stage (none by default)'),
      })
      .strict()
      .prefault({}),
    plans: z
      .record(identifier, planSchema)
      .prefault({})
      .transform((plans) => ({ default: DEFAULT_PLAN, ...plans }))
      .describe(`API usage plans by name: rate, burst and quota per API key. A \`default\` plan (${DEFAULT_PLAN.rateLimit}/s, burst ${DEFAULT_PLAN.burstLimit}, ${DEFAULT_PLAN.quota.limit}/${DEFAULT_PLAN.quota.period.toLowerCase()}) always exists; give one named \`default\` to change it`),
    tenants: z
      .record(identifier, tenantSchema)
      .prefault({ default: { plan: 'default' } })
      .refine((tenants) => Object.keys(tenants).length > 0, 'at least one tenant: every API call needs an API key')
      .describe("API callers by name: each gets its own API key (generated by API Gateway, never in the config) on its plan; the tenant of a job is its key's id"),
    worker: z
      .object({
        memorySize: z.number().int().min(128).max(10240).default(512).describe('Worker Lambda memory (MB)'),
        timeoutSeconds: z.number().int().min(3).max(900).default(120).describe('Worker Lambda timeout (s); the queue visibility timeout is 6x this'),
        batchSize: z.number().int().min(1).max(100).default(5).describe('SQS records per worker invocation'),
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
        presignedUrlSeconds: z.number().int().min(60).max(604_800).default(900).describe('Lifetime of the resultUrl returned by GET /jobs/{id}'),
      })
      .strict()
      .prefault({}),
    jobs: z
      .object({
        ttlDays: z.number().int().min(1).default(30).describe('Days before a job record expires (DynamoDB TTL)'),
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
      })
      .strict()
      .prefault({}),
    logPromptText: z.boolean().default(false).describe('Log prompt and completion text (off: logs hold ids, sizes and usage only)'),
    subscriptions: z.array(subscriptionSchema).default([]).describe('SNS subscriptions created with the stack'),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const [key, model] of Object.entries(config.models)) {
      if (model.profileDestinationRegions && !isSystemInferenceProfile(model.modelId)) {
        ctx.addIssue({ code: 'custom', path: ['models', key, 'profileDestinationRegions'], message: 'applies only to a cross-region inference profile (us./eu./apac./global. ... id or inference-profile ARN)' });
      }
      if (model.regions.length > 0 && model.modelId.startsWith('arn:')) {
        ctx.addIssue({ code: 'custom', path: ['models', key, 'regions'], message: 'an ARN names one region; give the model or inference profile id to fail over to other regions' });
      }
    }
    for (const [name, route] of Object.entries(config.routes)) {
      if (!(route.model in config.models)) {
        ctx.addIssue({ code: 'custom', path: ['routes', name, 'model'], message: `unknown model "${route.model}"; known: ${Object.keys(config.models).join(', ')}` });
      }
      route.fallback.forEach((key, i) => {
        if (!(key in config.models)) {
          ctx.addIssue({ code: 'custom', path: ['routes', name, 'fallback', i], message: `unknown model "${key}"; known: ${Object.keys(config.models).join(', ')}` });
        } else if (key === route.model || route.fallback.indexOf(key) !== i) {
          ctx.addIssue({ code: 'custom', path: ['routes', name, 'fallback', i], message: `model "${key}" is already in the chain` });
        }
      });
    }
    for (const [name, tenant] of Object.entries(config.tenants)) {
      if (!(tenant.plan in config.plans)) {
        ctx.addIssue({ code: 'custom', path: ['tenants', name, 'plan'], message: `unknown plan "${tenant.plan}"; known: ${Object.keys(config.plans).join(', ')}` });
      }
    }
    if (!(config.defaultRoute in config.routes)) {
      ctx.addIssue({ code: 'custom', path: ['defaultRoute'], message: `unknown route "${config.defaultRoute}"` });
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
  });

export type QuarryConfig = z.output<typeof configSchema>;
export type QuarryConfigInput = z.input<typeof configSchema>;

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
  const file = (tryGetContext('configFile') as string | undefined) ?? process.env.QUARRY_CONFIG;
  const fromFile = file ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const context = tryGetContext('quarry');
  const fromContext = typeof context === 'string' ? JSON.parse(context) : (context ?? {});
  return parseConfig({ ...fromFile, ...fromContext });
}
