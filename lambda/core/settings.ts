import * as z from 'zod/mini';
import { jsonText as json } from './json-text';
import { tenantDirectorySchema } from './tenants';
import type { RequestPolicy } from './converse-fields';

/** Environment variable names: the contract between the stack (lib/) and the functions (lambda/). */
export const ENV = {
  jobsTable: 'JOBS_TABLE_NAME',
  jobsQueueUrl: 'JOBS_QUEUE_URL',
  eventsTopicArn: 'EVENTS_TOPIC_ARN',
  resultsBucket: 'RESULTS_BUCKET_NAME',
  routes: 'QUARRY_ROUTES',
  resultInlineMaxBytes: 'RESULT_INLINE_MAX_BYTES',
  resultUrlSeconds: 'RESULT_URL_SECONDS',
  jobTtlDays: 'JOB_TTL_DAYS',
  maxRequestBytes: 'MAX_REQUEST_BYTES',
  logPromptText: 'LOG_PROMPT_TEXT',
  resilience: 'QUARRY_RESILIENCE',
  /** Seconds a synchronous call (POST /invoke) may take: the API integration's timeout. */
  invokeTimeoutSeconds: 'INVOKE_TIMEOUT_SECONDS',
  /** The stack's inputs bucket: the one bucket a request's attachments may be read from. */
  inputsBucket: 'INPUTS_BUCKET_NAME',
  /** Seconds an upload URL of POST /inputs lasts. */
  inputUploadSeconds: 'INPUT_UPLOAD_SECONDS',
  /** JSON array of the guardrail ids (config `guardrails`) a request's guardrailConfig may name. */
  guardrails: 'QUARRY_GUARDRAILS',
  /** JSON {[apiKeyId]: {name, routes?, models?}}: each tenant's name and what its plan allows (lambda/core/tenants.ts). */
  tenants: 'QUARRY_TENANTS',
  /** The batch queue (fan-out, cancel walks, completion): lambda/core/batch-runner.ts. */
  batchesQueueUrl: 'BATCHES_QUEUE_URL',
  /** Largest JSONL input of POST /batches read, in bytes. */
  batchInputMaxBytes: 'BATCH_INPUT_MAX_BYTES',
  /** Seconds a batch's job has to finish. */
  batchJobDeadlineSeconds: 'BATCH_JOB_DEADLINE_SECONDS',
} as const;

/**
 * What the functions know of routing, serialized into QUARRY_ROUTES: each route's model id, fallback chain (model
 * ids), static POST path and cache opt-in; and per model id its context window and failover regions.
 */
/** A model's output limit when the config gives none (QUARRY_ROUTES leaves it out then). */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

/** A model and its fallback chain (model ids). */
const chainSchema = z.object({ modelId: z.string(), fallback: z._default(z.array(z.string()), []) });

export const routingTableSchema = z.object({
  defaultRoute: z.string(),
  routes: z.record(
    z.string(),
    z.object({
      modelId: z.string(),
      path: z.optional(z.string()),
      fallback: z._default(z.array(z.string()), []),
      cacheResponses: z._default(z.boolean(), false),
      fallbackWhenBusy: z._default(z.boolean(), false),
      strategy: z._default(z.enum(['static', 'content', 'metric']), 'static'),
      /** content: each tier's chain (model ids). */
      tiers: z.optional(z.object({ simple: chainSchema, medium: chainSchema, complex: chainSchema })),
      thresholds: z.optional(z.object({ medium: z.number(), complex: z.number() })),
      classifier: z.optional(z.object({ modelId: z.string(), band: z.number(), timeoutMs: z.number() })),
      /** metric: the candidates (model ids), the objective and exploration share. */
      candidates: z.optional(z.array(z.string())),
      objective: z.optional(z.union([z.enum(['latency', 'cost', 'errors']), z.object({ latency: z.number(), cost: z.number(), errors: z.number() })])),
      latencySloMs: z.optional(z.number()),
      exploration: z.optional(z.number()),
      /** The route's service tier, whether a refused or throttled tier continues on default, and after how many flex throttles. */
      serviceTier: z.optional(z.enum(['default', 'priority', 'flex'])),
      /** Absent: true. */
      serviceTierFallback: z.optional(z.boolean()),
      /** Absent: 2. */
      flexPatience: z.optional(z.number()),
    }),
  ),
  models: z._default(
    z.record(
      z.string(),
      z.object({
        /** The model's key in the config (`models.<key>`): a name callers may use for it (POST /chat/completions `model`). */
        key: z.optional(z.string()),
        contextWindow: z.optional(z.number().check(z.int(), z.positive())),
        regions: z._default(z.array(z.string()), []),
        quota: z.optional(z.object({ requestsPerMinute: z.optional(z.number().check(z.positive())), tokensPerMinute: z.optional(z.number().check(z.positive())) })),
        maxOutputTokens: z._default(z.number().check(z.int(), z.positive()), DEFAULT_MAX_OUTPUT_TOKENS),
        /** USD per million input and output tokens (list price), for the cost objective. */
        price: z.optional(z.object({ in: z.number(), out: z.number() })),
        /** `async`: served by StartAsyncInvoke only (jobs with modelInput, lambda/core/async-invocation.ts). Absent: sync. */
        invocation: z.optional(z.enum(['sync', 'async'])),
        /** An async model's deadline and poll intervals, where they differ from ASYNC_DEFAULTS. */
        async: z.optional(z.object({ deadlineSeconds: z.optional(z.number()), firstPollSeconds: z.optional(z.number()), maxPollSeconds: z.optional(z.number()) })),
      }),
    ),
    {},
  ),
});
export type RoutingTable = z.infer<typeof routingTableSchema>;
/** QUARRY_ROUTES as the stack writes it: fields with defaults may be left out. */
export type RoutingTableInput = z.input<typeof routingTableSchema>;
export type RouteEntry = RoutingTable['routes'][string];
export type MetricObjective = NonNullable<RouteEntry['objective']>;

const atLeast = (min: number) => z.number().check(z.gte(min));
const wholeAtLeast = (min: number) => z.number().check(z.int(), z.gte(min));
const positive = () => z.number().check(z.positive());

/** The worker's retry, requeue, breaker and cache policy (config.resilience), serialized into QUARRY_RESILIENCE. */
export const resiliencePolicySchema = z.object({
  retry: z.object({ attemptsPerModel: wholeAtLeast(1), baseDelayMs: atLeast(0), maxDelayMs: atLeast(0) }),
  requeue: z.object({ baseDelaySeconds: atLeast(0), maxDelaySeconds: atLeast(0).check(z.lte(900)), mode: z._default(z.enum(['requeue', 'redeliver']), 'requeue') }),
  sdkMaxAttempts: z._default(wholeAtLeast(1), 2),
  maxModelCalls: wholeAtLeast(1),
  jobDeadlineSeconds: atLeast(1),
  breaker: z.object({
    windowSeconds: positive(),
    minimumCalls: wholeAtLeast(1),
    failureRateThreshold: z.number().check(z.gt(0), z.lte(1)),
    cooldownSeconds: positive(),
    maxCooldownSeconds: positive(),
    halfOpenProbes: wholeAtLeast(1),
  }),
  cacheTtlSeconds: positive(),
  /** Delays before a crashed delivery comes back (each spends one receive): minutes, so an AWS blip does not dead-letter a job. */
  redelivery: z._default(z.object({ baseDelaySeconds: atLeast(0), maxDelaySeconds: atLeast(0).check(z.lte(43_200)) }), { baseDelaySeconds: 60, maxDelaySeconds: 900 }),
  /** How long past the time a job was due to move (lease end, requeue time, terminal write) the sweep waits before it steps in. */
  sweepGraceSeconds: z._default(atLeast(1), 300),
  /** Length of a bucket of the models' recent figures (lambda/core/model-stats.ts); readers weigh the last five. */
  figuresBucketSeconds: z._default(positive(), 60),
  /** Times a dead-lettered job still within its deadline goes back to the queue before it is failed as poison. */
  deadLetterRequeues: z._default(wholeAtLeast(0), 2),
});
export type ResiliencePolicy = z.infer<typeof resiliencePolicySchema>;

/** Defaults equal to lib/config.ts's, for functions deployed without QUARRY_RESILIENCE. */
export const DEFAULT_RESILIENCE: ResiliencePolicy = {
  retry: { attemptsPerModel: 3, baseDelayMs: 200, maxDelayMs: 5000 },
  requeue: { baseDelaySeconds: 5, maxDelaySeconds: 300, mode: 'requeue' },
  sdkMaxAttempts: 2,
  maxModelCalls: 30,
  jobDeadlineSeconds: 3600,
  breaker: { windowSeconds: 60, minimumCalls: 10, failureRateThreshold: 0.5, cooldownSeconds: 30, maxCooldownSeconds: 600, halfOpenProbes: 1 },
  cacheTtlSeconds: 86_400,
  redelivery: { baseDelaySeconds: 60, maxDelaySeconds: 900 },
  sweepGraceSeconds: 300,
  figuresBucketSeconds: 60,
  deadLetterRequeues: 2,
};

const positiveInt = z.coerce.number().check(z.int(), z.nonnegative());
const name = z.string().check(z.minLength(1));
const resilience = z._default(json(resiliencePolicySchema), DEFAULT_RESILIENCE);

const tenants = z._default(json(tenantDirectorySchema), {});
/** What a request may name beyond routes and models (lambda/core/converse-fields.ts RequestPolicy). */
const requestPolicy = {
  [ENV.inputsBucket]: z.optional(name),
  [ENV.guardrails]: z._default(json(z.array(z.string())), []),
};

/** The request policy in a function's parsed settings. */
export function requestPolicyOf(settings: { [ENV.inputsBucket]?: string; [ENV.guardrails]: string[] }): RequestPolicy {
  return { ...(settings[ENV.inputsBucket] !== undefined && { inputsBucket: settings[ENV.inputsBucket] }), guardrailIds: settings[ENV.guardrails] };
}

export const submitSettingsSchema = z.object({
  ...requestPolicy,
  [ENV.inputUploadSeconds]: z._default(positiveInt, 900),
  [ENV.tenants]: tenants,
  [ENV.resilience]: resilience,
  [ENV.jobsTable]: name,
  [ENV.jobsQueueUrl]: name,
  [ENV.routes]: json(routingTableSchema),
  [ENV.jobTtlDays]: z._default(positiveInt, 30),
  [ENV.maxRequestBytes]: z._default(positiveInt, 256_000),
});

export const workerSettingsSchema = z.object({
  [ENV.inputsBucket]: z.optional(name),
  [ENV.tenants]: tenants,
  [ENV.jobsTable]: name,
  [ENV.jobsQueueUrl]: name,
  [ENV.eventsTopicArn]: name,
  [ENV.resultsBucket]: name,
  [ENV.routes]: json(routingTableSchema),
  [ENV.resultInlineMaxBytes]: z._default(positiveInt, 32_768),
  [ENV.logPromptText]: z.pipe(
    z._default(z.enum(['true', 'false']), 'false'),
    z.transform((v: 'true' | 'false') => v === 'true'),
  ),
  [ENV.resilience]: resilience,
});

/** POST /batches, GET and DELETE /batches/{batchId}. */
export const batchesSettingsSchema = z.object({
  ...requestPolicy,
  [ENV.tenants]: tenants,
  [ENV.jobsTable]: name,
  [ENV.batchesQueueUrl]: name,
  [ENV.resultsBucket]: name,
  [ENV.routes]: json(routingTableSchema),
  [ENV.jobTtlDays]: z._default(positiveInt, 30),
  [ENV.batchInputMaxBytes]: z._default(positiveInt, 100_000_000),
  [ENV.resultUrlSeconds]: z._default(positiveInt, 900),
});

/** The batch runner: fans batches out into jobs, walks cancels, writes results. */
export const batchRunnerSettingsSchema = z.object({
  [ENV.jobsTable]: name,
  [ENV.jobsQueueUrl]: name,
  [ENV.batchesQueueUrl]: name,
  [ENV.eventsTopicArn]: name,
  [ENV.resultsBucket]: name,
  [ENV.jobTtlDays]: z._default(positiveInt, 30),
  [ENV.batchJobDeadlineSeconds]: z._default(positiveInt, 86_400),
  [ENV.resilience]: resilience,
});

/** POST /invoke: what a worker needs to call models (routes, resilience, breakers, quotas), but no queue or topic. */
export const invokeSettingsSchema = z.object({
  ...requestPolicy,
  [ENV.tenants]: tenants,
  [ENV.resilience]: resilience,
  [ENV.jobsTable]: name,
  [ENV.routes]: json(routingTableSchema),
  [ENV.maxRequestBytes]: z._default(positiveInt, 256_000),
  [ENV.invokeTimeoutSeconds]: z._default(positiveInt, 29),
});

/** Conversations (on the streaming function): a turn in job mode is submitted as POST /jobs would. */
export const conversationSettingsSchema = z.object({
  [ENV.jobsTable]: name,
  [ENV.jobsQueueUrl]: name,
  [ENV.jobTtlDays]: z._default(positiveInt, 30),
});

export const statusSettingsSchema = z.object({
  [ENV.tenants]: tenants,
  [ENV.jobsTable]: name,
  [ENV.resultUrlSeconds]: z._default(positiveInt, 900),
  [ENV.resilience]: resilience,
});

/** DELETE /jobs/{jobId}: cancels a queued job and announces it. */
export const cancelSettingsSchema = z.object({
  [ENV.tenants]: tenants,
  [ENV.jobsTable]: name,
  [ENV.eventsTopicArn]: name,
  [ENV.resilience]: resilience,
});

/** Dead-letter handler: fails poison messages and jobs past their deadline, requeues the rest. */
export const deadLetterSettingsSchema = z.object({
  [ENV.jobsTable]: name,
  [ENV.jobsQueueUrl]: name,
  [ENV.eventsTopicArn]: name,
  [ENV.resilience]: resilience,
});

/** Sweep (scheduled): re-enqueues jobs nothing would move on, fails those past their deadline, announces owed events. */
export const sweepSettingsSchema = z.object({
  [ENV.jobsTable]: name,
  [ENV.jobsQueueUrl]: name,
  [ENV.eventsTopicArn]: name,
  [ENV.resilience]: resilience,
  [ENV.tenants]: tenants,
});

/** GET /models: the configured models (QUARRY_ROUTES), their breakers' table and settings, and the home region. */
export const modelsSettingsSchema = z.object({
  [ENV.jobsTable]: name,
  [ENV.routes]: json(routingTableSchema),
  [ENV.resilience]: resilience,
  AWS_REGION: name,
});

/** Parses a function's environment once at cold start; a missing variable is a deployment error, named here. */
export function readSettings<T extends z.ZodMiniType>(schema: T, env: Record<string, string | undefined>): z.output<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function environment: ${names}`);
  }
  return parsed.data;
}
