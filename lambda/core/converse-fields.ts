import * as z from 'zod/mini';
import './schema-config';
import { isWellFormedText, jsonObjectIssues, storableNumberProblem, type JsonObjectLimits, type RequestIssue } from './request-issues';

/*
 * The parts of a request that are Converse's own, shared by every path that takes one (POST /jobs, /invoke, the
 * turns of a conversation): content blocks (text, image, document, tool use, tool result), `inferenceConfig`,
 * `toolConfig`, `guardrailConfig`, `additionalModelRequestFields` and `serviceTier`, in the shapes Converse takes
 * them, so that a caller who knows Converse knows these. A Bedrock union (a block, a source, a tool choice) is an
 * object with exactly one member, as in the API: the error then names the member that is wrong.
 */

/** Characters per text field (prompt, system, each message or text block). */
export const MAX_TEXT_CHARS = 200_000;
/** Content blocks per message. */
export const MAX_CONTENT_BLOCKS = 100;
/** Bedrock's limits per Converse request: images (3.75 MB each) and documents (4.5 MB each). */
export const ATTACHMENT_LIMITS = { images: 20, documents: 5, imageBytes: 3_750_000, documentBytes: 4_500_000 } as const;
export const IMAGE_FORMATS = ['png', 'jpeg', 'gif', 'webp'] as const;
export const DOCUMENT_FORMATS = ['pdf', 'csv', 'doc', 'docx', 'xls', 'xlsx', 'html', 'txt', 'md'] as const;
export const SERVICE_TIERS = ['default', 'priority', 'flex'] as const;
export const GUARDRAIL_TRACES = ['enabled', 'disabled', 'enabled_full'] as const;
/** Tools per request. */
export const MAX_TOOLS = 64;
/** A tool's input schema, a tool call's input, a tool result's JSON, `additionalModelRequestFields`. */
export const TOOL_JSON_LIMITS: JsonObjectLimits = { maxBytes: 32_768, maxDepth: 16, maxKeys: 256, maxKeyLength: 256 };

export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export type DocumentFormat = (typeof DOCUMENT_FORMATS)[number];
export type ServiceTier = (typeof SERVICE_TIERS)[number];

/** Where an attachment's bytes are: inline (base64), or an object of the stack's inputs bucket. */
export type AttachmentSource = { bytes: string } | { s3Location: { uri: string; bucketOwner?: string } };
export interface ImageBlock {
  format: ImageFormat;
  source: AttachmentSource;
}
export interface DocumentBlock {
  format: DocumentFormat;
  name: string;
  source: AttachmentSource;
}
export interface ToolUseBlock {
  toolUseId: string;
  name: string;
  input: Record<string, unknown>;
}
export type ToolResultContent = { text: string } | { json: Record<string, unknown> } | { image: ImageBlock } | { document: DocumentBlock };
export interface ToolResultBlock {
  toolUseId: string;
  content: ToolResultContent[];
  status?: 'success' | 'error';
}
export type ContentBlock = { text: string } | { image: ImageBlock } | { document: DocumentBlock } | { toolUse: ToolUseBlock } | { toolResult: ToolResultBlock };

/** What a model answers with: text, and tool calls (`stopReason: "tool_use"`), which the caller answers next turn. */
export type OutputBlock = { text: string } | { toolUse: ToolUseBlock };

export interface ToolConfig {
  tools: { toolSpec: { name: string; description?: string; inputSchema: { json: Record<string, unknown> } } }[];
  toolChoice?: { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };
}
export interface GuardrailConfig {
  guardrailIdentifier: string;
  guardrailVersion: string;
  trace?: (typeof GUARDRAIL_TRACES)[number];
}
export interface InferenceConfig {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
}

/** The Converse fields of a request beside its messages. */
export interface ConverseOptions {
  inferenceConfig?: InferenceConfig;
  toolConfig?: ToolConfig;
  guardrailConfig?: GuardrailConfig;
  additionalModelRequestFields?: Record<string, unknown>;
  serviceTier?: ServiceTier;
}
export const CONVERSE_OPTION_KEYS = ['inferenceConfig', 'toolConfig', 'guardrailConfig', 'additionalModelRequestFields', 'serviceTier'] as const;

/** An object whose keys are a Bedrock union's members: exactly one of them is given. */
function exactlyOne<T extends Record<string, unknown>>(shape: z.ZodMiniObject, members: readonly string[]): z.ZodMiniType<T> {
  const one = shape.check(
    z.superRefine((value: Record<string, unknown>, ctx) => {
      const given = members.filter((m) => value[m] !== undefined);
      if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of ${members.map((m) => `"${m}"`).join(', ')}${given.length > 1 ? `; got ${given.join(', ')}` : ''}` });
    }),
  ) as unknown as z.ZodMiniType<T>;
  // The API's document (lambda/core/openapi.ts) says it too: the object is closed, so one property is exactly one member.
  z.globalRegistry.add(one, { override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => Object.assign(jsonSchema, { minProperties: 1, maxProperties: 1 }) });
  return one;
}

/** Free-form JSON (a tool's schema or input, model-specific fields): an object within `limits`, storable as given. */
export function jsonObject(limits: JsonObjectLimits, description: string) {
  return z
    // A custom type, not z.record: the record would copy the object and silently drop a "__proto__" key.
    .custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value), 'Invalid input: expected object')
    .check(
      z.superRefine((value: Record<string, unknown>, ctx) => {
        for (const issue of jsonObjectIssues(value, limits)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      }),
      z.describe(description),
    );
}

/** Base64 (standard alphabet, padded): the `bytes` of an attachment, as Converse's JSON carries them. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Bedrock's rule for a document's name: letters, digits, single spaces, hyphens, parentheses and brackets. */
const DOCUMENT_NAME = /^(?:[A-Za-z0-9\-()[\]]| (?! ))+$/;

let converseFieldSchemas: ReturnType<typeof build> | undefined;

/** The schemas of the Converse fields, built on first use (zod schemas are a cold start's cost), once. */
export function buildConverseFieldSchemas() {
  return (converseFieldSchemas ??= build());
}

function build() {
  const text = z.string().check(z.minLength(1), z.maxLength(MAX_TEXT_CHARS), z.refine(isWellFormedText, 'contains an unpaired UTF-16 surrogate'));
  const storable = (schema: z.ZodMiniNumber) =>
    schema.check(
      z.superRefine((value: number, ctx) => {
        const problem = storableNumberProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    );
  const fraction = () => storable(z.number().check(z.gte(0), z.lte(1)));
  const identifier = (what: string) => z.string().check(z.regex(NAME, `${what}: 1-64 letters, digits, "_" or "-"`));

  const source = exactlyOne<AttachmentSource>(
    z.strictObject({
      bytes: z.optional(z.string().check(z.minLength(1), z.regex(BASE64, 'must be base64 (standard alphabet, padded)'))),
      s3Location: z.optional(
        z.strictObject({
          uri: z.string().check(z.maxLength(1024), z.regex(S3_URI, 'must be an s3://bucket/key URI')),
          bucketOwner: z.optional(z.string().check(z.regex(/^[0-9]{12}$/, 'a 12-digit account id'))),
        }),
      ),
    }),
    ['bytes', 's3Location'],
  );
  const image = z.strictObject({ format: z.enum(IMAGE_FORMATS), source });
  const document = z.strictObject({
    format: z.enum(DOCUMENT_FORMATS),
    name: z.string().check(z.minLength(1), z.maxLength(200), z.regex(DOCUMENT_NAME, 'letters, digits, single spaces, hyphens, parentheses and square brackets')),
    source,
  });
  const toolJson = (description: string) => jsonObject(TOOL_JSON_LIMITS, description);
  const toolUse = z.strictObject({ toolUseId: identifier('toolUseId'), name: identifier('tool name'), input: toolJson("The tool's input, as the model gave it") });
  const toolResultContent = exactlyOne<ToolResultContent>(
    z.strictObject({ text: z.optional(text), json: z.optional(toolJson('The result as JSON')), image: z.optional(image), document: z.optional(document) }),
    ['text', 'json', 'image', 'document'],
  );
  const toolResult = z.strictObject({
    toolUseId: identifier('toolUseId'),
    content: z.array(toolResultContent).check(z.minLength(1), z.maxLength(MAX_CONTENT_BLOCKS)),
    status: z.optional(z.enum(['success', 'error'])),
  });
  const contentBlock = exactlyOne<ContentBlock>(
    z.strictObject({ text: z.optional(text), image: z.optional(image), document: z.optional(document), toolUse: z.optional(toolUse), toolResult: z.optional(toolResult) }),
    ['text', 'image', 'document', 'toolUse', 'toolResult'],
  ).check(z.describe('A content block, as in the Converse API: exactly one of text, image, document, toolUse, toolResult'));
  const content = z.union([text, z.array(contentBlock).check(z.minLength(1), z.maxLength(MAX_CONTENT_BLOCKS))]);

  const inferenceConfig = z.strictObject({
    maxTokens: z.optional(z.number().check(z.int(), z.gte(1), z.lte(200_000))),
    temperature: z.optional(fraction()),
    topP: z.optional(fraction()),
    stopSequences: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(100))).check(z.maxLength(4))),
  });
  const empty = z.strictObject({});
  const toolConfig = z.strictObject({
    tools: z
      .array(
        z.strictObject({
          toolSpec: z.strictObject({
            name: identifier('tool name'),
            description: z.optional(z.string().check(z.minLength(1), z.maxLength(10_000))),
            inputSchema: z.strictObject({ json: toolJson("The tool's input as a JSON Schema") }),
          }),
        }),
      )
      .check(z.minLength(1), z.maxLength(MAX_TOOLS)),
    toolChoice: z.optional(
      exactlyOne<NonNullable<ToolConfig['toolChoice']>>(
        z.strictObject({ auto: z.optional(empty), any: z.optional(empty), tool: z.optional(z.strictObject({ name: identifier('tool name') })) }),
        ['auto', 'any', 'tool'],
      ),
    ),
  });
  const guardrailConfig = z.strictObject({
    guardrailIdentifier: z.string().check(z.regex(/^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail\/[a-z0-9]+))$/, 'a guardrail id or ARN')),
    guardrailVersion: z.string().check(z.regex(/^(([1-9][0-9]{0,7})|(DRAFT))$/, 'a version number or "DRAFT"')),
    trace: z.optional(z.enum(GUARDRAIL_TRACES)),
  });
  return {
    text,
    content,
    fields: {
      inferenceConfig: z.optional(inferenceConfig),
      toolConfig: z.optional(toolConfig),
      guardrailConfig: z.optional(guardrailConfig),
      additionalModelRequestFields: z.optional(toolJson('Model-specific request fields Converse passes to the model as given')),
      serviceTier: z.optional(z.enum(SERVICE_TIERS)),
    },
  };
}

/** A message in Converse's shape: its content always as blocks. */
export interface ConverseMessage {
  role: 'user' | 'assistant';
  content: ContentBlock[];
}

/** The guardrails a request may name, and where its attachments may be: the stack's, from the functions' settings. */
export interface RequestPolicy {
  /** The stack's inputs bucket: the only bucket an `s3Location` may name. */
  inputsBucket?: string;
  /** Guardrail ids (not ARNs) the config lists; a request naming another one is refused. */
  guardrailIds: string[];
}

/** The key prefix of a tenant's objects in the inputs bucket; an `s3Location` of another tenant's object is refused. */
export function inputsPrefix(tenant: string): string {
  return `${tenant}/`;
}

/**
 * What a request's Converse fields must satisfy beyond their shapes, as Bedrock would say it (before a model call is
 * spent on it), each issue naming its field: tool use in assistant turns and tool results in user turns, answering
 * the tool calls of the turn before, with a `toolConfig`; attachments in user turns, within Bedrock's counts and
 * sizes, in this tenant's part of the inputs bucket; a guardrail the config lists.
 */
export function converseIssues(
  messages: readonly ConverseMessage[],
  options: ConverseOptions,
  context: { policy: RequestPolicy; tenant: string; messagesPath?: string; firstIndex?: number },
): RequestIssue[] {
  const issues: RequestIssue[] = [];
  const base = context.messagesPath ?? 'messages';
  const at = (i: number, j: number) => `${base}.${i + (context.firstIndex ?? 0)}.content.${j}`;
  let images = 0;
  let documents = 0;
  let usesTools = false;
  messages.forEach((message, i) => {
    const previousCalls = i > 0 ? toolUseIds(messages[i - 1]) : [];
    const answered = new Set<string>();
    message.content.forEach((block, j) => {
      if ('toolUse' in block || 'toolResult' in block) usesTools = true;
      if ('toolUse' in block && message.role !== 'assistant') issues.push({ path: `${at(i, j)}.toolUse`, message: 'tool use comes from the assistant: it may only appear in an "assistant" message' });
      if ('toolResult' in block) {
        if (message.role !== 'user') issues.push({ path: `${at(i, j)}.toolResult`, message: 'a tool result may only appear in a "user" message' });
        else if (!previousCalls.includes(block.toolResult.toolUseId)) {
          issues.push({ path: `${at(i, j)}.toolResult.toolUseId`, message: `answers no tool use of the message before${previousCalls.length > 0 ? ` (its tool uses: ${previousCalls.join(', ')})` : ''}` });
        } else answered.add(block.toolResult.toolUseId);
      }
      for (const { attachment, path, kind } of attachmentsOf(block, at(i, j))) {
        if (message.role !== 'user') issues.push({ path, message: `an ${kind} may only appear in a "user" message` });
        if (kind === 'image') images += 1;
        else documents += 1;
        issues.push(...sourceIssues(attachment, kind, `${path}.source`, context));
      }
    });
    // Bedrock refuses a turn after tool use that does not answer every call.
    const unanswered = message.role === 'user' ? previousCalls.filter((id) => !answered.has(id)) : [];
    if (unanswered.length > 0) issues.push({ path: `${base}.${i + (context.firstIndex ?? 0)}.content`, message: `must give a toolResult for each tool use of the message before; missing: ${unanswered.join(', ')}` });
  });
  if (usesTools && !options.toolConfig) issues.push({ path: 'toolConfig', message: 'is required when the messages hold toolUse or toolResult blocks' });
  if (images > ATTACHMENT_LIMITS.images) issues.push({ path: base, message: `hold ${images} images; a request may carry at most ${ATTACHMENT_LIMITS.images}` });
  if (documents > ATTACHMENT_LIMITS.documents) issues.push({ path: base, message: `hold ${documents} documents; a request may carry at most ${ATTACHMENT_LIMITS.documents}` });
  const choice = options.toolConfig?.toolChoice;
  if (choice && 'tool' in choice && !options.toolConfig!.tools.some((t) => t.toolSpec.name === choice.tool.name)) {
    issues.push({ path: 'toolConfig.toolChoice.tool.name', message: `names no tool of toolConfig.tools (${options.toolConfig!.tools.map((t) => t.toolSpec.name).join(', ')})` });
  }
  const names = options.toolConfig?.tools.map((t) => t.toolSpec.name) ?? [];
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) issues.push({ path: `toolConfig.tools.${i}.toolSpec.name`, message: `"${name}" is already the name of another tool` });
  });
  if (options.guardrailConfig) {
    const id = guardrailId(options.guardrailConfig.guardrailIdentifier);
    if (!context.policy.guardrailIds.includes(id)) {
      issues.push({
        path: 'guardrailConfig.guardrailIdentifier',
        message: context.policy.guardrailIds.length === 0 ? 'no guardrail is configured (config `guardrails`)' : `is not a configured guardrail (${context.policy.guardrailIds.join(', ')})`,
      });
    }
  }
  return issues;
}

/** A guardrail's id, from its id or ARN. */
export function guardrailId(identifier: string): string {
  return identifier.slice(identifier.lastIndexOf('/') + 1);
}

function toolUseIds(message: ConverseMessage): string[] {
  return message.role === 'assistant' ? message.content.flatMap((b) => ('toolUse' in b ? [b.toolUse.toolUseId] : [])) : [];
}

type Attachment = { attachment: ImageBlock | DocumentBlock; path: string; kind: 'image' | 'document' };

/** The images and documents of a block, including those inside a tool result, with their paths. */
export function attachmentsOf(block: ContentBlock, path: string): Attachment[] {
  if ('image' in block) return [{ attachment: block.image, path: `${path}.image`, kind: 'image' }];
  if ('document' in block) return [{ attachment: block.document, path: `${path}.document`, kind: 'document' }];
  if ('toolResult' in block) {
    return block.toolResult.content.flatMap((c, k): Attachment[] =>
      'image' in c ? [{ attachment: c.image, path: `${path}.toolResult.content.${k}.image`, kind: 'image' }] : 'document' in c ? [{ attachment: c.document, path: `${path}.toolResult.content.${k}.document`, kind: 'document' }] : [],
    );
  }
  return [];
}

function sourceIssues(attachment: ImageBlock | DocumentBlock, kind: 'image' | 'document', path: string, context: { policy: RequestPolicy; tenant: string }): RequestIssue[] {
  const limit = kind === 'image' ? ATTACHMENT_LIMITS.imageBytes : ATTACHMENT_LIMITS.documentBytes;
  if ('bytes' in attachment.source) {
    const bytes = base64Bytes(attachment.source.bytes);
    return bytes > limit ? [{ path: `${path}.bytes`, message: `is ${bytes} bytes; an ${kind} may be at most ${limit}` }] : [];
  }
  const { bucket, key } = parseS3Uri(attachment.source.s3Location.uri)!;
  if (!context.policy.inputsBucket || bucket !== context.policy.inputsBucket) {
    return [{ path: `${path}.s3Location.uri`, message: context.policy.inputsBucket ? `must be in the stack's inputs bucket (s3://${context.policy.inputsBucket}/${inputsPrefix(context.tenant)}...)` : 'this deployment has no inputs bucket' }];
  }
  if (!key.startsWith(inputsPrefix(context.tenant)) || key.split('/').includes('..')) {
    return [{ path: `${path}.s3Location.uri`, message: `must be under this tenant's prefix: s3://${bucket}/${inputsPrefix(context.tenant)}...` }];
  }
  return [];
}

/** The bucket and key of an `s3://bucket/key` URI, or undefined if it is not one. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const match = S3_URI.exec(uri);
  return match ? { bucket: match[1], key: match[2] } : undefined;
}

/** Decoded size of padded base64 text. */
export function base64Bytes(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

/** Whether any attachment of the messages is an object in the inputs bucket (read when the model is called). */
export function referencesInputs(messages: readonly ConverseMessage[]): boolean {
  return messages.some((m) => m.content.some((b, j) => attachmentsOf(b, String(j)).some((a) => 's3Location' in a.attachment.source)));
}

/** The blocks of a content given as a string or as blocks. */
export function contentBlocks(content: string | ContentBlock[]): ContentBlock[] {
  return typeof content === 'string' ? [{ text: content }] : content;
}

/** Tokens Bedrock counts for an image: at most its cap after resizing (1568 px on the long edge, ~1,600 tokens). */
export const IMAGE_TOKENS_ESTIMATE = 1_600;
/** Tokens assumed for a document in the inputs bucket, whose size is not known before the call. */
export const STORED_DOCUMENT_TOKENS_ESTIMATE = 8_000;
const CHARS_PER_TOKEN = 4;

/**
 * Input tokens of one message, as Bedrock's quota and a context window count them, estimated: about four characters
 * a token for text and JSON, an image at its resized cap, a document at a token per four bytes.
 */
export function estimateBlockTokens(block: ContentBlock | ToolResultContent): number {
  if ('text' in block) return Math.ceil(block.text.length / CHARS_PER_TOKEN);
  if ('image' in block) return IMAGE_TOKENS_ESTIMATE;
  if ('document' in block) {
    const { source } = block.document;
    return 'bytes' in source ? Math.ceil(base64Bytes(source.bytes) / CHARS_PER_TOKEN) : STORED_DOCUMENT_TOKENS_ESTIMATE;
  }
  if ('json' in block) return Math.ceil(JSON.stringify(block.json).length / CHARS_PER_TOKEN);
  if ('toolUse' in block) return Math.ceil((block.toolUse.name.length + JSON.stringify(block.toolUse.input).length) / CHARS_PER_TOKEN);
  return block.toolResult.content.reduce((n, c) => n + estimateBlockTokens(c), 0);
}

export function estimateMessageTokens(message: Pick<ConverseMessage, 'content'>): number {
  return message.content.reduce((n, b) => n + estimateBlockTokens(b), 0);
}

/** The tokens of a request's system prompt and tool definitions, which every call sends. */
export function estimateOverheadTokens(request: { system?: string; toolConfig?: ToolConfig }): number {
  return Math.ceil(((request.system?.length ?? 0) + (request.toolConfig ? JSON.stringify(request.toolConfig).length : 0)) / CHARS_PER_TOKEN);
}
