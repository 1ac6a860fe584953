import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BedrockError } from './errors';
import { seededRandom, hashText } from './random';

/*
 * Bedrock's asynchronous invocations (StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes) for the models that only
 * that API serves (video generation). An invocation runs for its model's `async.durationMs`, then completes (the
 * output and a manifest are written to the S3 location it was given, on the local S3, as Bedrock writes them into
 * the caller's bucket: one folder per invocation id) or fails with `async.failureMessage` (probability
 * `async.failure`). A repeated clientRequestToken answers the invocation it started, as Bedrock's idempotency does.
 */

export type AsyncStatus = 'InProgress' | 'Completed' | 'Failed';

export interface AsyncInvocation {
  invocationArn: string;
  modelArn: string;
  clientRequestToken: string;
  status: AsyncStatus;
  failureMessage?: string;
  submitTime: Date;
  lastModifiedTime: Date;
  endTime?: Date;
  outputDataConfig: { s3OutputDataConfig: { s3Uri: string; kmsKeyId?: string; bucketOwner?: string } };
}

export interface AsyncRun {
  durationMs: number;
  /** Probability that the invocation fails. */
  failure: number;
  failureMessage: string;
}

/** Where invocations write their output; without it, StartAsyncInvoke is refused (nothing could be written). */
export interface OutputStore {
  client?: S3Client;
}

const S3_URI = /^s3:\/\/([a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])(\/.*)?$/;
const TOKEN = /^[!-~]{1,256}$/;
const ACCOUNT = '123456789012';
/** The smallest thing that reads as an MP4: its `ftyp` box. */
const MP4_HEADER = Buffer.from('00000018667479706d70343200000000697336366d703432', 'hex');

function parseS3Uri(uri: string): { bucket: string; prefix: string } | undefined {
  const match = S3_URI.exec(uri);
  if (!match) return undefined;
  const path = (match[2] ?? '').replace(/^\/+/, '');
  return { bucket: match[1], prefix: path === '' || path.endsWith('/') ? path : `${path}/` };
}

/** The invocations the simulator has started, by ARN, with their timers. */
export class AsyncInvocations {
  private readonly byArn = new Map<string, AsyncInvocation>();
  private readonly byToken = new Map<string, string>();
  private readonly endings = new Map<string, { timer: NodeJS.Timeout; dueAt: number; end: () => Promise<void> }>();
  private random: () => number;

  constructor(
    private readonly output: OutputStore,
    private readonly region: string,
    seed: number,
  ) {
    this.random = seededRandom(hashText(`${seed}\u0000async`));
  }

  /** StartAsyncInvoke: the invocation's ARN, the one already started when the token was seen before. */
  start(modelId: string, body: unknown, run: AsyncRun): string {
    const request = startRequest(body);
    if (request.modelId !== modelId) throw new BedrockError('ValidationException', 'The modelId in the body does not match the model of the request.');
    const earlier = this.byToken.get(request.clientRequestToken);
    if (earlier) {
      const existing = this.byArn.get(earlier)!;
      if (existing.modelArn !== modelArnOf(modelId, this.region)) throw new BedrockError('ConflictException', 'The clientRequestToken was used with another request.');
      return earlier;
    }
    const target = parseS3Uri(request.s3Uri);
    if (!target) throw new BedrockError('ValidationException', `1 validation error detected: Value '${request.s3Uri}' at 'outputDataConfig.s3OutputDataConfig.s3Uri' failed to satisfy constraint: it must be an S3 URI (s3://bucket/prefix).`);
    if (!this.output.client) throw new BedrockError('ValidationException', 'The simulator has no S3 to write the output to (set AWS_ENDPOINT_URL_S3 when running it on its own).');
    checkModelInput(request.modelInput);

    const id = randomBytes(6).toString('hex');
    const now = new Date();
    const invocation: AsyncInvocation = {
      invocationArn: `arn:aws:bedrock:${this.region}:${ACCOUNT}:async-invoke/${id}`,
      modelArn: modelArnOf(modelId, this.region),
      clientRequestToken: request.clientRequestToken,
      status: 'InProgress',
      submitTime: now,
      lastModifiedTime: now,
      outputDataConfig: { s3OutputDataConfig: { s3Uri: request.s3Uri, ...(request.kmsKeyId && { kmsKeyId: request.kmsKeyId }) } },
    };
    this.byArn.set(invocation.invocationArn, invocation);
    this.byToken.set(request.clientRequestToken, invocation.invocationArn);
    const fails = this.random() < run.failure;
    let ended: Promise<void> | undefined;
    const end = () => (ended ??= this.finish(invocation, { bucket: target.bucket, key: `${target.prefix}${id}/` }, fails ? run.failureMessage : undefined, modelId));
    const timer = setTimeout(() => void end(), run.durationMs);
    timer.unref();
    this.endings.set(invocation.invocationArn, { timer, dueAt: now.getTime() + run.durationMs, end });
    return invocation.invocationArn;
  }

  /** GetAsyncInvoke. An invocation past its duration is ended before it is answered (the timer may lag). */
  async get(invocationArn: string): Promise<AsyncInvocation> {
    const invocation = this.byArn.get(invocationArn);
    if (!invocation) throw new BedrockError('ValidationException', `The async invocation ${invocationArn} was not found.`);
    const ending = this.endings.get(invocationArn);
    if (ending && invocation.status === 'InProgress' && Date.now() >= ending.dueAt) await ending.end();
    return invocation;
  }

  /** ListAsyncInvokes: newest first unless asked otherwise, filtered, paged by an opaque token. */
  list(query: URLSearchParams): { asyncInvokeSummaries: AsyncInvocation[]; nextToken?: string } {
    const after = query.get('submitTimeAfter');
    const before = query.get('submitTimeBefore');
    const status = query.get('statusEquals');
    const ascending = query.get('sortOrder') === 'Ascending';
    const maxResults = Number(query.get('maxResults') ?? 1000);
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 1000) throw new BedrockError('ValidationException', 'maxResults must be between 1 and 1000.');
    if (status !== null && !['InProgress', 'Completed', 'Failed'].includes(status)) throw new BedrockError('ValidationException', `statusEquals must be one of InProgress, Completed, Failed.`);
    const matching = [...this.byArn.values()]
      .filter((i) => (after === null || i.submitTime.getTime() > Date.parse(after)) && (before === null || i.submitTime.getTime() < Date.parse(before)) && (status === null || i.status === status))
      .sort((a, b) => (ascending ? 1 : -1) * (a.submitTime.getTime() - b.submitTime.getTime()));
    const offset = query.get('nextToken') ? Number(Buffer.from(query.get('nextToken')!, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw new BedrockError('ValidationException', 'The nextToken is not valid.');
    const page = matching.slice(offset, offset + maxResults);
    const next = offset + maxResults < matching.length ? Buffer.from(String(offset + maxResults)).toString('base64url') : undefined;
    return { asyncInvokeSummaries: page, ...(next && { nextToken: next }) };
  }

  /** How many invocations were started (a repeated token starts none). */
  get started(): number {
    return this.byArn.size;
  }

  reseed(seed: number): void {
    this.random = seededRandom(hashText(`${seed}\u0000async`));
  }

  clear(): void {
    for (const { timer } of this.endings.values()) clearTimeout(timer);
    this.endings.clear();
    this.byArn.clear();
    this.byToken.clear();
  }

  private async finish(invocation: AsyncInvocation, folder: { bucket: string; key: string }, failureMessage: string | undefined, modelId: string): Promise<void> {
    if (invocation.status !== 'InProgress') return;
    if (failureMessage === undefined) {
      try {
        await this.writeOutput(invocation, folder, modelId);
      } catch (error) {
        failureMessage = `Failed to write the output to ${invocation.outputDataConfig.s3OutputDataConfig.s3Uri}: ${(error as Error).name}`;
      }
    }
    const now = new Date();
    invocation.status = failureMessage === undefined ? 'Completed' : 'Failed';
    if (failureMessage !== undefined) invocation.failureMessage = failureMessage;
    invocation.lastModifiedTime = now;
    invocation.endTime = now;
  }

  private async writeOutput(invocation: AsyncInvocation, folder: { bucket: string; key: string }, modelId: string): Promise<void> {
    const client = this.output.client!;
    const video = Buffer.concat([MP4_HEADER, createHash('sha256').update(invocation.invocationArn).digest()]);
    await client.send(new PutObjectCommand({ Bucket: folder.bucket, Key: `${folder.key}output.mp4`, Body: video, ContentType: 'video/mp4' }));
    const manifest = { schemaVersion: '1.0', invocationArn: invocation.invocationArn, modelId, outputs: [{ uri: `s3://${folder.bucket}/${folder.key}output.mp4`, contentType: 'video/mp4', bytes: video.length }] };
    await client.send(new PutObjectCommand({ Bucket: folder.bucket, Key: `${folder.key}manifest.json`, Body: JSON.stringify(manifest), ContentType: 'application/json' }));
  }
}

function modelArnOf(modelId: string, region: string): string {
  return modelId.startsWith('arn:') ? modelId : `arn:aws:bedrock:${region}::foundation-model/${modelId}`;
}

interface StartRequest {
  modelId: string;
  modelInput: unknown;
  clientRequestToken: string;
  s3Uri: string;
  kmsKeyId?: string;
}

function startRequest(body: unknown): StartRequest {
  const b = (body ?? {}) as Record<string, unknown>;
  const output = (b.outputDataConfig as { s3OutputDataConfig?: { s3Uri?: unknown; kmsKeyId?: unknown } } | undefined)?.s3OutputDataConfig;
  const missing = ['modelId', 'modelInput'].filter((k) => b[k] === undefined);
  if (!output || typeof output.s3Uri !== 'string') missing.push('outputDataConfig.s3OutputDataConfig.s3Uri');
  if (missing.length > 0) throw new BedrockError('ValidationException', `${missing.length} validation error${missing.length > 1 ? 's' : ''} detected: ${missing.map((m) => `Value null at '${m}' failed to satisfy constraint: Member must not be null`).join('; ')}`);
  const token = typeof b.clientRequestToken === 'string' ? b.clientRequestToken : '';
  if (!TOKEN.test(token)) throw new BedrockError('ValidationException', `1 validation error detected: Value '${token}' at 'clientRequestToken' failed to satisfy constraint: Member must satisfy regular expression pattern: ${TOKEN.source}`);
  return { modelId: String(b.modelId), modelInput: b.modelInput, clientRequestToken: token, s3Uri: output!.s3Uri as string, ...(typeof output!.kmsKeyId === 'string' && { kmsKeyId: output!.kmsKeyId }) };
}

const TASK_PARAMS: Record<string, string> = { TEXT_VIDEO: 'textToVideoParams', MULTI_SHOT_AUTOMATED: 'multiShotAutomatedParams', MULTI_SHOT_MANUAL: 'multiShotManualParams' };

/** Nova Reel's input, as far as the simulator checks it: a known task type with its parameters and their text. */
function checkModelInput(input: unknown): void {
  const bad = (detail: string) => new BedrockError('ValidationException', `Malformed input request: ${detail}, please reformat your input and try again.`);
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw bad('#: expected type: JSONObject');
  const { taskType } = input as { taskType?: unknown };
  const paramsKey = typeof taskType === 'string' ? TASK_PARAMS[taskType] : undefined;
  if (!paramsKey) throw bad(`#/taskType: ${JSON.stringify(taskType ?? null)} is not a valid enum value (${Object.keys(TASK_PARAMS).join(', ')})`);
  const params = (input as Record<string, unknown>)[paramsKey] as Record<string, unknown> | undefined;
  if (!params || typeof params !== 'object') throw bad(`#: required key [${paramsKey}] not found`);
  if (paramsKey === 'multiShotManualParams') {
    if (!Array.isArray(params.shots) || params.shots.length === 0) throw bad(`#/${paramsKey}: required key [shots] not found`);
    return;
  }
  if (typeof params.text !== 'string' || params.text.length === 0) throw bad(`#/${paramsKey}: required key [text] not found`);
  const limit = paramsKey === 'textToVideoParams' ? 512 : 4000;
  if (params.text.length > limit) throw bad(`#/${paramsKey}/text: expected maxLength: ${limit}, actual: ${params.text.length}`);
}
