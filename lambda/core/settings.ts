import { z } from 'zod';

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
  retryDelaySeconds: 'RETRY_DELAY_SECONDS',
  visibilityTimeoutSeconds: 'VISIBILITY_TIMEOUT_SECONDS',
  logPromptText: 'LOG_PROMPT_TEXT',
} as const;

/** What the functions know of routing: route name -> Bedrock model id (and its static POST path). Serialized into QUARRY_ROUTES. */
export const routingTableSchema = z.object({
  defaultRoute: z.string(),
  routes: z.record(z.string(), z.object({ modelId: z.string(), path: z.string().optional() })),
});
export type RoutingTable = z.infer<typeof routingTableSchema>;

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

export const submitSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.jobsQueueUrl]: z.string().min(1),
  [ENV.routes]: json(routingTableSchema),
  [ENV.jobTtlDays]: positiveInt.default(30),
  [ENV.maxRequestBytes]: positiveInt.default(256_000),
});

export const workerSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.jobsQueueUrl]: z.string().min(1),
  [ENV.eventsTopicArn]: z.string().min(1),
  [ENV.resultsBucket]: z.string().min(1),
  [ENV.routes]: json(routingTableSchema),
  [ENV.resultInlineMaxBytes]: positiveInt.default(32_768),
  [ENV.retryDelaySeconds]: positiveInt.default(10),
  [ENV.visibilityTimeoutSeconds]: positiveInt.default(720),
  [ENV.logPromptText]: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export const statusSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.resultUrlSeconds]: positiveInt.default(900),
});

export const deadLetterSettingsSchema = z.object({
  [ENV.jobsTable]: z.string().min(1),
  [ENV.eventsTopicArn]: z.string().min(1),
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
