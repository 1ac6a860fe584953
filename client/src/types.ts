/*
 * Every wire type of the Quarry HTTP API (v1), hand-written from the README's API reference. They live in this one
 * file so that they can be swapped for types generated from GET /openapi.json.
 */

export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface DocumentSource {
  bytes?: string;
  s3Location?: { uri: string; bucketOwner?: string };
}

export type ContentBlock =
  | { text: string }
  | { image: { format: 'png' | 'jpeg' | 'gif' | 'webp'; source: DocumentSource } }
  | { document: { format: 'pdf' | 'csv' | 'doc' | 'docx' | 'xls' | 'xlsx' | 'html' | 'txt' | 'md'; name: string; source: DocumentSource } }
  | { toolUse: { toolUseId: string; name: string; input: JsonValue } }
  | { toolResult: { toolUseId: string; content: ({ text: string } | { json: JsonValue } | Record<string, unknown>)[]; status?: 'success' | 'error' } };

export interface Message {
  role: 'user' | 'assistant';
  content: string | ContentBlock[];
}

export interface InferenceConfig {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
}

/** The fields every request path shares besides its input (POST /jobs, /invoke, /invoke/stream, batch lines). */
export interface RequestOptions {
  system?: string;
  route?: string;
  /** A configured model's key or its Bedrock id. */
  modelId?: string;
  inferenceConfig?: InferenceConfig;
  toolConfig?: Record<string, unknown>;
  guardrailConfig?: Record<string, unknown>;
  additionalModelRequestFields?: Record<string, unknown>;
  serviceTier?: { type: 'flex' | 'default' | 'priority' | 'reserved' } | 'flex' | 'default' | 'priority';
  metadata?: Record<string, JsonValue>;
  callback?: { url: string };
}

/** Exactly one of `prompt`, `messages` or (for an async model) `modelInput`. */
export type JobRequest =
  | (RequestOptions & { prompt: string; messages?: never; modelInput?: never })
  | (RequestOptions & { messages: Message[]; prompt?: never; modelInput?: never })
  | { modelId: string; modelInput: Record<string, JsonValue>; route?: string; metadata?: Record<string, JsonValue>; callback?: { url: string } };

/** POST /invoke with a model's own body instead of a Converse request. */
export interface NativeInvokeRequest {
  modelId: string;
  nativeBody: Record<string, unknown>;
  route?: string;
}

export type InvokeRequest = Exclude<JobRequest, { modelInput: Record<string, JsonValue> }> | NativeInvokeRequest;

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  [key: string]: number;
}

export interface Routing {
  strategy: 'static' | 'content' | 'metric' | string;
  tier?: 'simple' | 'medium' | 'complex' | string;
  score?: number;
  candidates: string[];
  chosen: string;
  reason: string;
}

export interface Attempt {
  modelId: string;
  region?: string;
  outcome: string;
  errorCode?: string;
  latencyMs?: number;
  startedAt?: string;
}

export interface ApiErrorDetail {
  path: string;
  message: string;
  line?: number;
}

/** The body of every error answer. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: ApiErrorDetail[] };
}

export interface SubmittedJob {
  jobId: string;
  status: JobStatus;
  createdAt: string;
}

export interface AsyncOutputFile {
  key: string;
  bytes?: number;
  url?: string;
}

export interface JobResult {
  text?: string;
  stopReason: string;
  usage: Usage;
  modelId: string;
  content?: ContentBlock[];
  output?: { s3Uri: string; files: AsyncOutputFile[] };
  [key: string]: unknown;
}

/** GET /jobs/{jobId}, DELETE /jobs/{jobId}. */
export interface Job {
  jobId: string;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  route: string;
  modelId: string;
  routing?: Routing;
  attempts?: Attempt[];
  result?: JobResult;
  /** A presigned URL to `{jobId, text}` when the result was larger than the inline limit. */
  resultUrl?: string;
  error?: { code: string; message: string };
  metadata: Record<string, JsonValue>;
  batchId?: string;
  customId?: string;
  invocation?: { invocationArn: string; startedAt: string };
}

/** An entry of GET /jobs: a job without its result. */
export type JobSummary = Pick<Job, 'jobId' | 'status' | 'createdAt' | 'updatedAt' | 'route' | 'modelId' | 'metadata' | 'batchId' | 'customId'> & {
  error?: { code: string; message?: string };
};

export interface JobList {
  jobs: JobSummary[];
  nextToken?: string;
}

export interface ListJobsQuery {
  status?: JobStatus;
  batchId?: string;
  limit?: number;
  nextToken?: string;
}

/** POST /invoke. */
export interface InvokeResponse {
  text?: string;
  nativeResponse?: unknown;
  content?: ContentBlock[];
  stopReason: string;
  usage: Usage;
  modelId: string;
  route: string;
  routing: Routing;
  attempts: Attempt[];
  latencyMs: number;
  servedFrom?: 'model' | 'cache';
  /** Only on a conversation's synchronous turn. */
  turn?: number;
}

/** The events of POST /invoke/stream (and a conversation's streamed turn), by their `event:` name. */
export type StreamEvent =
  | { event: 'start'; data: { route: string; modelId: string; routing?: Routing; turn?: number } }
  | { event: 'delta'; data: { text: string } }
  | { event: 'chunk'; data: unknown }
  | { event: 'fallback'; data: { from: string; to: string; reason: string } }
  | { event: 'stop'; data: { stopReason: string; usage: Usage; modelId: string; routing?: Routing; latencyMs: number; servedFrom?: 'model' | 'cache'; turn?: number } }
  | { event: 'error'; data: { code: string; message: string; incomplete: boolean; retryAfterSeconds?: number } };

export type StreamEventName = StreamEvent['event'];

export interface CreateConversationRequest {
  route?: string;
  system?: string;
  metadata?: Record<string, JsonValue>;
}

export interface ConversationTurnRequest {
  content: string | ContentBlock[];
  inferenceConfig?: InferenceConfig;
  toolConfig?: Record<string, unknown>;
  guardrailConfig?: Record<string, unknown>;
  additionalModelRequestFields?: Record<string, unknown>;
  serviceTier?: RequestOptions['serviceTier'];
}

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: string | ContentBlock[];
  turn: number;
  usage?: Usage;
  jobId?: string;
}

export interface Conversation {
  conversationId: string;
  route?: string;
  system?: string;
  metadata: Record<string, JsonValue>;
  createdAt: string;
  updatedAt: string;
  messages: ConversationMessage[];
  pendingTurn?: { turn: number; jobId?: string };
}

export type BatchStatus = 'IN_PROGRESS' | 'CANCELLING' | 'COMPLETED' | 'CANCELLED';
export const TERMINAL_BATCH_STATUSES: readonly BatchStatus[] = ['COMPLETED', 'CANCELLED'];

/** A line of a batch: a job request with its caller-chosen id. */
export type BatchLine = JobRequest & { customId: string };

/** An OpenAI Batch API line, taken as it is. */
export interface OpenAIBatchLine {
  custom_id: string;
  method: 'POST';
  url: string;
  body: Record<string, unknown>;
}

export type BatchRequest =
  | { requests: (BatchLine | OpenAIBatchLine)[]; route?: string; modelId?: string; metadata?: Record<string, JsonValue> }
  | { inputUri: string; route?: string; modelId?: string; metadata?: Record<string, JsonValue> };

export interface SubmittedBatch {
  batchId: string;
  status: BatchStatus;
  total: number;
  createdAt: string;
}

export interface BatchCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface Batch {
  batchId: string;
  status: BatchStatus;
  total: number;
  counts: BatchCounts;
  resultsUrl?: string;
  createdAt: string;
  completedAt?: string;
  metadata?: Record<string, JsonValue>;
}

/** A line of a batch's results file, in input order. */
export interface BatchResultLine {
  customId: string;
  jobId: string;
  status: JobStatus;
  result?: JobResult;
  error?: { code: string; message: string };
}

export interface ModelRegionState {
  region: string;
  state: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
  errorRate: number;
  calls: number;
  failures: number;
  openedAt?: string;
  nextProbeAt?: string;
  recent?: { calls: number; errorRate: number; throttleRate: number; p50Ms?: number; p90Ms?: number; meanInputTokens?: number; meanOutputTokens?: number };
}

export interface ModelStatus {
  modelId: string;
  routes: string[];
  regions: ModelRegionState[];
}

export interface ModelList {
  models: ModelStatus[];
}
