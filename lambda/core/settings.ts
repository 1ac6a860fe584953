import { z } from 'zod';
import { tenantDirectorySchema } from './tenants';

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
  /** JSON {[apiKeyId]: {name, routes?, models?}}: each tenant's name and what its plan allows (lambda/core/tenants.ts). */
  tenants: 'QUARRY_TENANTS',
} as const;

/**
 * What the functions know of routing, serialized into QUARRY_ROUTES: each route's model id, fallback chain (model
 * ids), static POST path and cache opt-in; and per model id its context window and failover regions.
 */
export const routingTableSchema = z.object({
  defaultRoute: z.string(),
  routes: z.record(
    z.string(),
    z.object({
      modelId: z.string(),
      path: z.string().optional(),
      fallback: z.array(z.string()).default([]),
      cacheResponses: z.boolean().default(false),
      fallbackWhenBusy: z.boolean().default(false),
    }),
  ),
  models: z
    .record(
      z.string(),
      z.object({
        contextWindow: z.number().int().positive().optional(),
        regions: z.array(z.string()).default([]),
        quota: z.object({ requestsPerMinute: z.number().positive().optional(), tokensPerMinute: z.number().positive().optional() }).optional(),
        maxOutputTokens: z.number().int().positive().default(4096),
      }),
    )
    .default({}),
});
export type RoutingTable = z.infer<typeof routingTableSchema>;

/** The worker's retry, requeue, breaker and cache policy (config.resilience), serialized into QUARRY_RESILIENCE. */
export const resiliencePolicySchema = z.object({
  retry: z.object({ attemptsPerModel: z.number().int().min(1), baseDelayMs: z.number().min(0), maxDelayMs: z.number().min(0) }),
  requeue: z.object({ baseDelaySeconds: z.number().min(0), maxDelaySeconds: z.number().min(0).max(900), mode: z.enum(['requeue', 'redeliver']).default('requeue') }),
  sdkMaxAttempts: z.number().int().min(1).default(2),
  maxModelCalls: z.number().int().min(1),
  jobDeadlineSeconds: z.number().min(1),
  breaker: z.object({
    windowSeconds: z.number().positive(),
    minimumCalls: z.number().int().min(1),
    failureRateThreshold: z.number().gt(0).max(1),
    cooldownSeconds: z.number().positive(),
    maxCooldownSeconds: z.number().positive(),
    halfOpenProbes: z.number().int().min(1),
  }),
  cacheTtlSeconds: z.number().positive(),
  /** Delays before a crashed delivery comes back (each spends one receive): minutes, so an AWS blip does not dead-letter a job. */
  redelivery: z.object({ baseDelaySeconds: z.number().min(0), maxDelaySeconds: z.number().min(0).max(43_200) }).default({ baseDelaySeconds: 60, maxDelaySeconds: 900 }),
  /** How long past the time a job was due to move (lease end, requeue time, terminal write) the sweep waits before it steps in. */
  sweepGraceSeconds: z.number().min(1).default(300),
  /** Times a dead-lettered job still within its deadline goes back to the queue before it is failed as poison. */
  deadLetterRequeues: z.number().int().min(0).default(2),
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
  deadLetterRequeues: 2,
};

const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  }).pipe(schema);

const positiveInt = z.coerce.number().int().nonnegative();

const tenants = json(tenantDirectorySchema).default({});

export const submitSettingsSchema = z.object({
  [ENV.tenants]: tenants,
  [ENV.resilience]: json(resiliencePolicySchema).default(DEFAULT_RESILIENCE),
  [ENV.jobsTable]: z.string().min(1),
  [ENV.jobsQueueUrl]: z.string().min(1),
  [ENV.routes]: json(routingTableSchema),
  [ENV.jobTtlDays]: positiveInt.default(30),
  [ENV.maxRequestBytes]: positiveInt.default(256_000),
});

export const workerSettingsSchema = z.object({
  [ENV.tenants]: tenants,
  [ENV.jobsTable]: z.string().min(1),
  [ENV.jobsQueueUrl]: z.string().min(1),
  [ENV.eventsTopicArn]: z.string().min(1),
  [ENV.resultsBucket]: z.string().min(1),
  [ENV.routes]: json(routingTableSchema),
  [ENV.resultInlineMaxBytes]: positiveInt.default(32_768),
  [ENV.logPromptText]: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  [ENV.resilience]: json(resiliencePolicySchema).default(DEFAULT_RESILIENCE),
});

export const statusSettingsSchema = z.object({
  [ENV.tenants]: tenants,
  [ENV.jobsTable]: z.string().min(1),
  [ENV.resultUrlSeconds]: positiveInt.default(900),
  [ENV.resilience]: json(resiliencePolicySchema).default(DEFAULT_RESILIENCE),
});

/** Dead-letter handler: fails poison messages and jobs past their deadline, requeues the rest. */
export const deadLetterSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.jobsQueueUrl]: z.string().min(1),
  [ENV.eventsTopicArn]: z.string().min(1),
  [ENV.resilience]: json(resiliencePolicySchema).default(DEFAULT_RESILIENCE),
});

/** Sweep (scheduled): re-enqueues jobs nothing would move on, fails those past their deadline, announces owed events. */
export const sweepSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.jobsQueueUrl]: z.string().min(1),
  [ENV.eventsTopicArn]: z.string().min(1),
  [ENV.resilience]: json(resiliencePolicySchema).default(DEFAULT_RESILIENCE),
  [ENV.tenants]: tenants,
});

/** GET /models: the configured models (QUARRY_ROUTES), their breakers' table and settings, and the home region. */
export const modelsSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.routes]: json(routingTableSchema),
  [ENV.resilience]: json(resiliencePolicySchema).default(DEFAULT_RESILIENCE),
  AWS_REGION: z.string().min(1),
});

/** Parses a function's environment once at cold start; a missing variable is a deployment error, named here. */
export function readSettings<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>): z.output<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function environment: ${names}`);
  }
  return parsed.data;
}
