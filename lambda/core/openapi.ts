import * as z from 'zod/mini';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import * as api from './api-schemas';
import { described } from './api-schemas';
import { batchRequestSchema } from './batch-acceptance';
import { conversationRequestSchemas } from './conversation';
import { buildConverseFieldSchemas } from './converse-fields';
import { uploadRequestSchema } from './input-upload';
import { jobRequestSchema } from './job-request';
import { jobListQuerySchema } from './job-listing';
import { nativeBodyRequestSchema } from './native-body';
import { chatRequestSchema } from './openai-chat';
import type { RoutingTable } from './settings';

/*
 * The API's OpenAPI 3.1 document, generated from the zod schemas that validate its requests (the one validator of
 * each body: lambda/core/job-request.ts and its siblings) and those that describe its answers
 * (lambda/core/api-schemas.ts). GET /openapi.json serves it; `npm run docs:openapi` writes the default
 * configuration's to openapi.json, which a test keeps in sync. Rules a JSON schema cannot say (exactly one of
 * prompt and messages, alternating roles) are the validators' own, and answer 400 VALIDATION_ERROR naming the field.
 */

export interface OpenApiOptions {
  /** The static POST paths of the configured routes (e.g. /api/classify): each takes a job request like POST /jobs. */
  routePaths: readonly string[];
  /** The API's base URL (with its stage), when known: the document's `servers`. */
  serverUrl?: string;
  version?: string;
}

/** The static POST paths of a routing table's routes. */
export function routePathsOf(table: Pick<RoutingTable, 'routes'>): string[] {
  return Object.values(table.routes).flatMap((route) => (route.path ? [route.path] : []));
}

const json = (schema: z.ZodMiniType, description: string): ZodOpenApiResponseObject => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/responses/${name}` });

/** Answers any operation may give: a key refused, throttling or quota, our own failure. */
const COMMON = { '403': ref('InvalidApiKey'), '429': ref('TooManyRequests'), '500': ref('InternalError') };
const retryAfter = z.object({ 'Retry-After': z.optional(z.string()) });

const jobId = z.object({ jobId: z.string() });
const batchId = z.object({ batchId: z.string() });
const conversationId = z.object({ conversationId: z.string() });
const idempotencyKey = z.object({
  'Idempotency-Key': z.optional(z.string().check(z.maxLength(255))),
});

const STREAM_DESCRIPTION =
  'Server-sent events: `start`, then `delta` {text} (or `chunk` for a native body), `fallback` before the first delta, and `stop` or `error`; ' +
  'each `data:` is one JSON object, described by the StreamEvent* schemas.';

/** A `text/event-stream` body (OpenAPI 3.1 cannot type its events: the description names them). */
function eventStream(description: string) {
  return { 'text/event-stream': { schema: described(z.string(), description) } } as const;
}

function submitOperation(summary: string, operationId: string): ZodOpenApiOperationObject {
  return {
    summary,
    operationId,
    requestParams: { header: idempotencyKey },
    requestBody: { required: true, content: { 'application/json': { schema: jobRequestSchema } } },
    responses: {
      '202': { ...json(api.jobAcceptedSchema, 'Accepted: poll GET /jobs/{jobId}'), headers: z.object({ Location: z.string() }) },
      '200': { ...json(api.jobAcceptedSchema, 'An Idempotency-Key replay of the same body: the job it created'), headers: z.object({ Location: z.string() }) },
      '400': ref('ValidationError'),
      '409': ref('Conflict'),
      '413': ref('PayloadTooLarge'),
      '415': ref('UnsupportedMediaType'),
      '422': ref('Unprocessable'),
      ...COMMON,
      '503': ref('Unavailable'),
    },
  };
}

function paths(routePaths: readonly string[]): ZodOpenApiPathsObject {
  const conversation = conversationRequestSchemas();
  const invokeBody = z.union([jobRequestSchema, nativeBodyRequestSchema()]);
  const result: ZodOpenApiPathsObject = {
    '/jobs': {
      post: submitOperation('Submit a job', 'submitJob'),
      get: {
        summary: 'List jobs',
        operationId: 'listJobs',
        description: "The caller's jobs, newest first.",
        requestParams: { query: jobListQuerySchema },
        responses: { '200': json(api.jobListSchema, 'A page of jobs'), '400': ref('ValidationError'), ...COMMON },
      },
    },
    '/jobs/{jobId}': {
      get: {
        summary: 'Get a job',
        operationId: 'getJob',
        requestParams: { path: jobId },
        responses: {
          '200': { ...json(api.jobViewSchema, 'The job; `Retry-After` (seconds) while it is not terminal'), headers: retryAfter },
          '404': ref('NotFound'),
          ...COMMON,
        },
      },
      delete: {
        summary: 'Cancel a job that has not started',
        operationId: 'cancelJob',
        requestParams: { path: jobId },
        responses: { '200': json(api.jobViewSchema, 'The job, CANCELLED'), '404': ref('NotFound'), '409': ref('Conflict'), ...COMMON },
      },
    },
    '/invoke': {
      post: {
        summary: 'Answer a request synchronously',
        operationId: 'invoke',
        requestBody: { required: true, content: { 'application/json': { schema: invokeBody } } },
        responses: {
          '200': json(api.invokeAnswerSchema, 'The answer'),
          '400': ref('ValidationError'),
          '413': ref('PayloadTooLarge'),
          '415': ref('UnsupportedMediaType'),
          '422': ref('Unprocessable'),
          ...COMMON,
          '502': ref('ModelError'),
          '503': ref('Unavailable'),
          '504': ref('Timeout'),
        },
      },
    },
    '/invoke/stream': {
      post: {
        summary: 'Stream an answer',
        operationId: 'invokeStream',
        requestBody: { required: true, content: { 'application/json': { schema: invokeBody } } },
        responses: {
          '200': { description: STREAM_DESCRIPTION, content: eventStream(STREAM_DESCRIPTION) },
          '400': ref('ValidationError'),
          '413': ref('PayloadTooLarge'),
          '415': ref('UnsupportedMediaType'),
          '422': ref('Unprocessable'),
          ...COMMON,
          '502': ref('ModelError'),
          '503': ref('Unavailable'),
        },
      },
    },
    '/chat/completions': {
      post: {
        summary: 'OpenAI-compatible chat completion',
        operationId: 'createChatCompletion',
        description: 'The `openai` client works with `baseURL: <api>/v1` and the key in `x-api-key`; `details` paths name the chat request\'s fields.',
        requestBody: { required: true, content: { 'application/json': { schema: chatRequestSchema() } } },
        responses: {
          '200': { description: 'A chat.completion, or with `stream: true` chat.completion.chunk events', content: { 'application/json': { schema: api.chatCompletionSchema }, ...eventStream('chat.completion.chunk events, then `data: [DONE]`') } },
          '400': ref('ValidationError'),
          '413': ref('PayloadTooLarge'),
          '422': ref('Unprocessable'),
          ...COMMON,
          '502': ref('ModelError'),
          '503': ref('Unavailable'),
        },
      },
    },
    '/conversations': {
      post: {
        summary: 'Start a conversation',
        operationId: 'createConversation',
        requestBody: { content: { 'application/json': { schema: conversation.create } } },
        responses: { '201': { ...json(api.conversationCreatedSchema, 'Created'), headers: z.object({ Location: z.string() }) }, '400': ref('ValidationError'), ...COMMON },
      },
    },
    '/conversations/{conversationId}': {
      get: {
        summary: "A conversation's history",
        operationId: 'getConversation',
        requestParams: { path: conversationId },
        responses: { '200': json(api.conversationViewSchema(), 'The conversation'), '404': ref('NotFound'), ...COMMON },
      },
      delete: {
        summary: 'Delete a conversation',
        operationId: 'deleteConversation',
        requestParams: { path: conversationId },
        responses: { '204': { description: 'Deleted' }, '404': ref('NotFound'), ...COMMON },
      },
    },
    '/conversations/{conversationId}/messages': {
      post: {
        summary: 'Send a turn',
        operationId: 'sendTurn',
        description: '`mode` "job" (default) answers 202 with the job; "sync" 200 with the answer; "stream" server-sent events (the `stop` event carries `turn`).',
        requestParams: { path: conversationId },
        requestBody: { required: true, content: { 'application/json': { schema: conversation.turn } } },
        responses: {
          '202': { ...json(api.turnAcceptedSchema, 'mode "job": the turn\'s job'), headers: z.object({ Location: z.string() }) },
          '200': { description: 'mode "sync": the answer; mode "stream": its events', content: { 'application/json': { schema: api.turnAnswerSchema }, ...eventStream(STREAM_DESCRIPTION) } },
          '400': ref('ValidationError'),
          '404': ref('NotFound'),
          '409': ref('Conflict'),
          '422': ref('Unprocessable'),
          ...COMMON,
          '502': ref('ModelError'),
          '503': ref('Unavailable'),
          '504': ref('Timeout'),
        },
      },
    },
    '/batches': {
      post: {
        summary: 'Submit a batch',
        operationId: 'submitBatch',
        description: 'Each of `requests` is a job request with its `customId` (or an OpenAI Batch API line); or `inputUri`: a JSONL object in the inputs bucket.',
        requestParams: { header: idempotencyKey },
        requestBody: { required: true, content: { 'application/json': { schema: batchRequestSchema() } } },
        responses: {
          '202': { ...json(api.batchAcceptedSchema, 'Accepted'), headers: z.object({ Location: z.string() }) },
          '200': { ...json(api.batchAcceptedSchema, 'An Idempotency-Key replay of the same body: the batch it created'), headers: z.object({ Location: z.string() }) },
          '400': ref('ValidationError'),
          '409': ref('Conflict'),
          '413': ref('PayloadTooLarge'),
          ...COMMON,
        },
      },
    },
    '/batches/{batchId}': {
      get: {
        summary: 'Get a batch',
        operationId: 'getBatch',
        requestParams: { path: batchId },
        responses: { '200': json(api.batchViewSchema, 'The batch'), '404': ref('NotFound'), ...COMMON },
      },
      delete: {
        summary: 'Cancel what has not started of a batch',
        operationId: 'cancelBatch',
        requestParams: { path: batchId },
        responses: { '200': json(api.batchViewSchema, 'The batch, CANCELLING or CANCELLED'), '404': ref('NotFound'), '409': ref('Conflict'), ...COMMON },
      },
    },
    '/inputs': {
      post: {
        summary: 'Where to upload an attachment',
        operationId: 'createUpload',
        requestBody: { content: { 'application/json': { schema: uploadRequestSchema() } } },
        responses: { '201': json(api.uploadPlaceSchema, 'A presigned upload'), '400': ref('ValidationError'), '404': ref('NotFound'), ...COMMON },
      },
    },
    '/models': {
      get: {
        summary: 'The models, their routes and circuit breakers',
        operationId: 'listModels',
        responses: { '200': json(api.modelsSchema, 'The models'), ...COMMON, '503': ref('Unavailable') },
      },
    },
    '/openapi.json': {
      get: {
        summary: 'This document',
        operationId: 'getOpenApi',
        responses: { '200': { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } }, ...COMMON },
      },
    },
  };
  for (const path of routePaths) {
    if (!(path in result)) result[path] = { post: submitOperation(`Submit a job to the route of ${path}`, `submitJobTo${path.replace(/(^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_m, _sep, c: string) => c.toUpperCase())}`) };
  }
  return result;
}

function errorResponse(description: string, headers?: z.ZodMiniObject): ZodOpenApiResponseObject {
  return { description, content: { 'application/json': { schema: api.errorBodySchema } }, ...(headers && { headers }) };
}

/** The OpenAPI 3.1 document of the API as configured. */
export function openApiDocument(options: OpenApiOptions) {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Quarry',
      version: options.version ?? '1',
      description: 'Asynchronous (and synchronous, streaming, multi-turn, batch) Amazon Bedrock invocations. Every call needs a tenant\'s API key in `x-api-key`.',
    },
    ...(options.serverUrl && { servers: [{ url: options.serverUrl }] }),
    security: [{ apiKey: [] }],
    paths: paths(options.routePaths),
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: {
        JobRequest: jobRequestSchema,
        Content: buildConverseFieldSchemas().content,
        ...Object.fromEntries(Object.entries(api.streamEventSchemas).map(([name, schema]) => [`StreamEvent${name[0].toUpperCase()}${name.slice(1)}`, schema])),
      },
      responses: {
        ValidationError: errorResponse('VALIDATION_ERROR (or another 400 code): `details` names each field'),
        InvalidApiKey: errorResponse('INVALID_API_KEY: no key, or not a key of this API; or ROUTE_NOT_IN_PLAN / MODEL_NOT_IN_PLAN'),
        NotFound: errorResponse('Not found (or another tenant\'s)'),
        Conflict: errorResponse('A conflict with the current state (e.g. IDEMPOTENCY_CONFLICT, JOB_NOT_CANCELLABLE, TURN_IN_PROGRESS)'),
        PayloadTooLarge: errorResponse('PAYLOAD_TOO_LARGE: the body is over the size limit'),
        UnsupportedMediaType: errorResponse('UNSUPPORTED_MEDIA_TYPE: send Content-Type: application/json'),
        Unprocessable: errorResponse('Valid, but not for this deployment or model (UNKNOWN_ROUTE, MODEL_NOT_ALLOWED, CONTEXT_WINDOW_EXCEEDED, INPUT_NOT_READABLE, MODEL_REJECTED_REQUEST)'),
        TooManyRequests: errorResponse('Throttled, over quota, or the model has no room soon (MODEL_BUSY): retry after `Retry-After` seconds', retryAfter),
        InternalError: errorResponse('INTERNAL_ERROR: can be retried'),
        ModelError: errorResponse('MODEL_FAILED, MODEL_STREAM_INTERRUPTED: no model could answer'),
        Unavailable: errorResponse('A dependency is unavailable now: retry', retryAfter),
        Timeout: errorResponse('INVOKE_TIMEOUT: the answer did not come in time; POST /jobs instead'),
      },
    },
  }, {
    // The custom schemas are JSON objects checked in code (metadata, nativeBody, modelInput: lambda/core/json-text.ts).
    allowEmptySchema: { custom: true },
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema._zod.def.type === 'custom') jsonSchema.type = 'object';
    },
  });
}
