import * as z from 'zod/mini';
import { BATCH_STATUSES, type BatchCounts } from './batch';
import { buildConverseFieldSchemas } from './converse-fields';
import { JOB_STATUSES, type Attempt, type JobError, type JobResult, type JobView, type Usage } from './job';
import type { JobSummary } from './job-listing';
import type { RecentFigures } from './model-stats';
import type { ModelStatus } from './model-status';
import type { Routing } from './route-decision';

/*
 * The schemas of what the API answers, for its OpenAPI document (lambda/core/openapi.ts): the requests' schemas are
 * the validators themselves; these describe the responses. Objects are closed (`additionalProperties: false` in the
 * document), so a field the document does not name fails the conformance test (test/integration/openapi.test.ts).
 * Each schema that mirrors a type of the code is checked against it at compile time (`Same` below), so the two
 * cannot drift apart.
 */

/** Compile-time check that a schema's output type and the code's type are the same (both ways assignable). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <A, B>(check: Same<A, B>) => check;

/** A schema with a description (and other JSON Schema keywords) in the document: give it a schema of its own, never a shared one. */
export function described<T extends z.ZodMiniType>(schema: T, description: string, extra: Record<string, unknown> = {}): T {
  z.globalRegistry.add(schema, { description, ...extra });
  return schema;
}

const isoTime = described(z.string(), 'ISO 8601 time (UTC)', { format: 'date-time' });
const jsonObjectOut = described(z.record(z.string(), z.unknown()), 'A JSON object');

export const errorBodySchema = z.object({
  error: z.object({
    code: described(z.string(), 'Stable, machine-readable code (README "Errors")'),
    message: z.string(),
    details: z.optional(z.array(z.object({ path: described(z.string(), 'The field, e.g. messages.0.content'), message: z.string() }))),
  }),
});

const usage = z.object({ inputTokens: z.number(), outputTokens: z.number() });
same<z.infer<typeof usage>, Usage>(true);

const attempt = z.object({
  modelId: z.string(),
  region: z.optional(z.string()),
  outcome: z.enum(['succeeded', 'failed', 'skipped']),
  errorCode: z.optional(z.string()),
  serviceTier: z.optional(z.string()),
  latencyMs: z.number(),
  startedAt: isoTime,
});
same<z.infer<typeof attempt>, Attempt>(true);

const routing = z.object({
  strategy: z.enum(['static', 'content', 'metric']),
  tier: z.optional(z.enum(['simple', 'medium', 'complex'])),
  score: z.optional(z.number()),
  candidates: z.array(z.string()),
  chosen: z.string(),
  reason: z.string(),
});
same<z.infer<typeof routing>, Routing>(true);

const toolUse = z.object({ toolUseId: z.string(), name: z.string(), input: jsonObjectOut });
const outputBlock = z.union([z.object({ text: z.string() }), z.object({ toolUse })]);

const asyncOutput = z.object({
  s3Uri: z.string(),
  files: z.array(z.object({ key: z.string(), bytes: z.number(), url: z.optional(described(z.string(), 'A download link (GET /jobs/{jobId} only; expires)')) })),
});

const jobResult = z.object({
  text: z.optional(described(z.string(), 'The answer; absent when it was offloaded (see resultUrl)')),
  content: z.optional(z.array(outputBlock)),
  stopReason: z.string(),
  usage,
  modelId: z.string(),
  serviceTier: z.optional(z.string()),
  trace: z.optional(jsonObjectOut),
  servedFrom: z.optional(z.enum(['model', 'cache'])),
  nativeResponse: z.optional(z.unknown()),
  output: z.optional(asyncOutput),
});
same<z.infer<typeof jobResult>, JobResult>(true);

const jobError = z.object({ code: z.string(), message: z.string() });
same<z.infer<typeof jobError>, JobError>(true);

const jobStatus = z.enum(JOB_STATUSES);

export const jobAcceptedSchema = z.object({ jobId: z.string(), status: jobStatus, createdAt: isoTime });

export const jobViewSchema = z.object({
  jobId: z.string(),
  status: jobStatus,
  createdAt: isoTime,
  updatedAt: isoTime,
  route: z.string(),
  modelId: z.string(),
  routing: z.optional(routing),
  attempts: z.array(attempt),
  result: z.optional(jobResult),
  resultUrl: z.optional(described(z.string(), 'A download link to an offloaded result (expires)')),
  error: z.optional(jobError),
  metadata: jsonObjectOut,
  batchId: z.optional(z.string()),
  customId: z.optional(z.string()),
  invocation: z.optional(z.object({ invocationArn: z.string(), startedAt: isoTime })),
});
same<z.infer<typeof jobViewSchema>, JobView>(true);

const jobSummary = z.object({
  jobId: z.string(),
  status: jobStatus,
  createdAt: isoTime,
  updatedAt: isoTime,
  route: z.string(),
  modelId: z.string(),
  metadata: jsonObjectOut,
  batchId: z.optional(z.string()),
  customId: z.optional(z.string()),
  error: z.optional(z.object({ code: z.string() })),
});
same<z.infer<typeof jobSummary>, JobSummary>(true);

export const jobListSchema = z.object({
  jobs: z.array(jobSummary),
  nextToken: z.optional(described(z.string(), 'Pass as nextToken for the next page; absent on the last one')),
});

const answerFields = {
  text: z.optional(z.string()),
  content: z.optional(z.array(outputBlock)),
  serviceTier: z.optional(z.string()),
  trace: z.optional(jsonObjectOut),
  nativeResponse: z.optional(described(z.unknown(), "A native body's answer, as the model gave it")),
  stopReason: z.string(),
  usage,
  modelId: z.string(),
  route: z.string(),
  routing,
  attempts: z.array(attempt),
  latencyMs: z.number(),
  servedFrom: z.optional(z.enum(['model', 'cache'])),
};
export const invokeAnswerSchema = z.object(answerFields);

export const conversationCreatedSchema = z.object({ conversationId: z.string() });
export const turnAcceptedSchema = z.object({ jobId: z.string(), turn: z.number() });
export const turnAnswerSchema = z.object({ ...answerFields, turn: z.number() });

/** A conversation's history: messages as posted, and as answered. */
export function conversationViewSchema() {
  const { content } = buildConverseFieldSchemas();
  return z.object({
    conversationId: z.string(),
    route: z.optional(z.string()),
    system: z.optional(z.string()),
    metadata: jsonObjectOut,
    createdAt: isoTime,
    updatedAt: isoTime,
    messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content, turn: z.number(), usage: z.optional(usage), jobId: z.optional(z.string()) })),
    pendingTurn: z.optional(z.object({ turn: z.number(), jobId: z.optional(z.string()) })),
  });
}

const batchCounts = z.object({ queued: z.number(), running: z.number(), succeeded: z.number(), failed: z.number(), cancelled: z.number() });
same<z.infer<typeof batchCounts>, BatchCounts>(true);
const batchStatus = z.enum(BATCH_STATUSES);

export const batchAcceptedSchema = z.object({ batchId: z.string(), status: batchStatus, total: z.number(), createdAt: isoTime });
export const batchViewSchema = z.object({
  batchId: z.string(),
  status: batchStatus,
  total: z.number(),
  counts: batchCounts,
  createdAt: isoTime,
  updatedAt: isoTime,
  completedAt: z.optional(isoTime),
  resultsUrl: z.optional(described(z.string(), 'A download link to the results JSONL, once COMPLETED or CANCELLED (expires)')),
  metadata: jsonObjectOut,
});

export const uploadPlaceSchema = z.object({
  s3Uri: described(z.string(), 'Name it as an s3Location.uri in a request once uploaded'),
  uploadUrl: z.string(),
  method: z.literal('PUT'),
  headers: described(z.record(z.string(), z.string()), 'Headers the upload must carry'),
  expiresAt: isoTime,
});

const recent = z.object({
  calls: z.number(),
  errorRate: z.number(),
  throttleRate: z.number(),
  p50Ms: z.optional(z.number()),
  p90Ms: z.optional(z.number()),
  meanInputTokens: z.optional(z.number()),
  meanOutputTokens: z.optional(z.number()),
});
same<z.infer<typeof recent>, RecentFigures>(true);

const modelStatus = z.object({
  modelId: z.string(),
  routes: z.array(z.string()),
  regions: z.array(
    z.object({
      region: z.string(),
      state: z.enum(['CLOSED', 'OPEN', 'HALF_OPEN']),
      errorRate: z.number(),
      calls: z.number(),
      failures: z.number(),
      openedAt: z.optional(isoTime),
      nextProbeAt: z.optional(isoTime),
      recent: z.optional(recent),
    }),
  ),
});
same<z.infer<typeof modelStatus>, ModelStatus>(true);
export const modelsSchema = z.object({ models: z.array(modelStatus) });

/** The events of POST /invoke/stream (and a streamed turn), by their `event:` name; each `data:` is one JSON object. */
export const streamEventSchemas = {
  start: z.object({ route: z.string(), modelId: z.string(), routing }),
  delta: z.object({ text: z.string() }),
  chunk: described(z.record(z.string(), z.unknown()), "A native body's stream chunk, as the model gave it"),
  fallback: z.object({ from: z.string(), to: z.string(), reason: z.string() }),
  stop: z.object({
    stopReason: z.string(),
    usage,
    modelId: z.string(),
    routing: z.optional(routing),
    latencyMs: z.number(),
    content: z.optional(z.array(outputBlock)),
    trace: z.optional(jsonObjectOut),
    servedFrom: z.optional(z.enum(['model', 'cache'])),
    turn: z.optional(described(z.number(), 'The turn answered (a conversation turn with mode "stream")')),
  }),
  error: z.object({
    code: z.string(),
    message: z.string(),
    incomplete: described(z.boolean(), 'Whether some of the answer had been sent'),
    retryAfterSeconds: z.optional(z.number()),
  }),
};

/** POST /chat/completions' answer: OpenAI's `chat.completion` object as Quarry fills it. */
export const chatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number(),
      message: z.object({
        role: z.literal('assistant'),
        content: z.nullable(z.string()),
        refusal: z.null(),
        tool_calls: z.optional(z.array(z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) }))),
      }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter']),
    }),
  ),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }),
});

// The document names these (components), so that each appears once.
for (const [id, schema] of Object.entries({ Usage: usage, Attempt: attempt, Routing: routing, OutputBlock: outputBlock, JobResult: jobResult, JobError: jobError, JobSummary: jobSummary, BatchCounts: batchCounts, RecentFigures: recent, Job: jobViewSchema, ErrorBody: errorBodySchema })) {
  z.globalRegistry.add(schema, { id });
}
