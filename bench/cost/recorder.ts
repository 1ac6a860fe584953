import { DescribeTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32, gunzipSync } from 'node:zlib';
import { AWS_SERVICES, operationOf, type AwsService } from '../../local/aws-faults';
import type { ServiceEndpoints } from '../../local/emulators';
import { localCredentials } from '../../local/topology';
import { indexWriteUnits, itemSize, messageRequests, readUnits, tableWriteUnits, type GlobalIndex, type Item } from './units';

/** Who made a request: a function's SDK client (Lambda's `exec-env/` user agent) or the local runtime itself (set-up, pollers). */
export type Caller = 'function' | 'runtime';

/** One AWS request as the recorder saw it on the wire, with the units AWS would bill for it. */
export interface RecordedCall {
  service: AwsService;
  operation: string;
  caller: Caller;
  status: number;
  /** Requests billed: SQS and SNS count one per started 64 KB chunk of payload; every other service one. */
  billedRequests: number;
  payloadBytes: number;
  readUnits: number;
  writeUnits: number;
  /** Write units the table's global secondary indexes add. */
  indexWriteUnits: number;
  /** The item kind (partition key prefix up to `#`) a DynamoDB item call touched. */
  itemKind?: string;
  /** Units estimated from what was returned rather than what was read (a filter or projection hid items). */
  approximate?: boolean;
  /** Milliseconds the recorder itself added before answering (sizing, and reading back an item an UPDATED_NEW-style update wrote). */
  addedMs: number;
}

interface TableShape {
  keys: string[];
  indexes: GlobalIndex[];
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'transfer-encoding', 'expect']);

function readBody(stream: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

const utf8 = (text: string | undefined) => (text ? Buffer.byteLength(text, 'utf8') : 0);

function isFunctionCall(headers: http.IncomingHttpHeaders): boolean {
  const agents = [headers['user-agent'], headers['x-amz-user-agent']].flat().filter(Boolean).join(' ');
  return agents.includes('exec-env/AWS_Lambda');
}

/** Raw headers with `set` replacing (or adding) the named ones and `drop` left out. */
function replaceHeaders(raw: string[], set: Record<string, string>, drop: string[] = []): string[] {
  const replaced = new Set([...Object.keys(set), ...drop]);
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!replaced.has(raw[i].toLowerCase())) kept.push(raw[i], raw[i + 1]);
  for (const [name, value] of Object.entries(set)) kept.push(name, value);
  return kept;
}

function parseJson(buffer: Buffer): any {
  try {
    return buffer.length ? JSON.parse(buffer.toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

/** Payload bytes of SQS message attributes (names, types and values), as SQS counts them toward a message's size. */
function attributeBytes(attributes: Record<string, any> | undefined): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(attributes ?? {})) {
    bytes += utf8(name) + utf8(value?.DataType) + utf8(value?.StringValue) + (value?.BinaryValue ? Buffer.from(value.BinaryValue, 'base64').length : 0);
  }
  return bytes;
}

/**
 * An HTTP proxy per service between the local runtime (its fault layer, its pollers) and the emulators that records
 * every request with its billed units. It sees exactly what AWS would: each SDK call as sent, retries included, from
 * product code that is not changed in any way for it.
 *
 * DynamoDB units follow the item sizes: a shadow of every item written through the recorder gives each write's item
 * before it (the recorder starts before the tables exist, so it sees every write); the item after comes from the
 * request (PutItem) or the answer of the UpdateItem (which the recorder asks for `ReturnValues: ALL_NEW` when the
 * caller asked for none, and hands back without them); only an update that asks for other values is read back
 * with one GetItem on the emulator before the answer goes back (its time is in `addedMs`).
 */
export class CallRecorder {
  readonly calls: RecordedCall[] = [];
  private inFlight = 0;
  private lastActivity = Date.now();
  private readonly servers: http.Server[] = [];
  private readonly dynamo: DynamoDBClient;
  private readonly shapes = new Map<string, Promise<TableShape>>();
  private readonly shadow = new Map<string, Item | undefined>();
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(
    private readonly upstream: ServiceEndpoints,
    region: string,
  ) {
    this.dynamo = new DynamoDBClient({ endpoint: upstream.dynamodb, region, credentials: localCredentials, maxAttempts: 2 });
  }

  /** Starts the proxies; the endpoints to give the local runtime (as AWS_ENDPOINT_URL_*). */
  async start(): Promise<ServiceEndpoints> {
    const endpoints = { ...this.upstream };
    for (const service of AWS_SERVICES) endpoints[service] = await this.listen(service);
    return endpoints;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.agent.destroy();
    this.dynamo.destroy();
  }

  /** Position to take the calls made from now on with `since`. */
  mark(): number {
    return this.calls.length;
  }

  since(mark: number): RecordedCall[] {
    return this.calls.slice(mark);
  }

  /** No function request in flight and none finished within `quietMs` (the runtime's own long polls do not count). */
  idle(quietMs: number): boolean {
    return this.inFlight === 0 && Date.now() - this.lastActivity >= quietMs;
  }

  private async listen(service: AwsService): Promise<string> {
    const target = new URL(this.upstream[service]);
    const server = http.createServer((request, response) => {
      const counted = isFunctionCall(request.headers);
      if (counted) this.inFlight++;
      this.handle(service, target, request, response)
        .catch((error: Error) => {
          if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' }).end(`cost recorder: ${error.message}\n`);
          else response.destroy();
        })
        .finally(() => {
          if (!counted) return;
          this.inFlight--;
          this.lastActivity = Date.now();
        });
    });
    // SQS long polls stay open up to 20 s.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async handle(service: AwsService, target: URL, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const body = await readBody(request);
    const head = { method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers };
    const found = operationOf(service, head, body);
    const operation = typeof found === 'string' ? found : 'Unknown';
    const caller: Caller = isFunctionCall(request.headers) ? 'function' : 'runtime';
    const requestJson = service === 'dynamodb' || (service === 'sqs' && !String(request.headers['content-type'] ?? '').includes('form')) ? parseJson(body) : undefined;

    // The item after an UpdateItem comes with its answer: asked for here, and taken out again before the caller
    // sees the answer (checksum included), so the caller gets exactly what it asked for, with no extra round trip.
    const askAllNew = service === 'dynamodb' && operation === 'UpdateItem' && requestJson && (!requestJson.ReturnValues || requestJson.ReturnValues === 'NONE');
    const sent = askAllNew ? Buffer.from(JSON.stringify({ ...requestJson, ReturnValues: 'ALL_NEW' })) : body;
    const upstream = await this.forward(target, request, sent);
    const started = Date.now();
    let answer = upstream.headers['content-encoding'] === 'gzip' ? gunzipSync(upstream.body) : upstream.body;
    let answerJson = service === 'dynamodb' || service === 'sqs' ? parseJson(answer) : undefined;
    let returned = upstream.body;
    let headers = upstream.rawHeaders;
    let afterUpdate: Item | undefined;
    if (askAllNew && upstream.status === 200 && answerJson) {
      afterUpdate = answerJson.Attributes;
      const { Attributes: _asked, ...rest } = answerJson;
      answerJson = rest;
      answer = returned = Buffer.from(JSON.stringify(rest));
      headers = replaceHeaders(headers, { 'content-length': String(returned.length), 'x-amz-crc32': String(crc32(returned) >>> 0) }, ['content-encoding']);
    }
    const call: RecordedCall = { service, operation, caller, status: upstream.status, billedRequests: 1, payloadBytes: 0, readUnits: 0, writeUnits: 0, indexWriteUnits: 0, addedMs: 0 };
    try {
      if (service === 'dynamodb') await this.dynamoUnits(call, requestJson, answerJson, afterUpdate);
      else if (service === 'sqs') this.sqsUnits(call, requestJson, answerJson, body);
      else if (service === 'sns') this.snsUnits(call, body);
      else call.payloadBytes = operation === 'GetObject' ? answer.length : body.length;
    } finally {
      call.addedMs = Date.now() - started;
    }
    this.calls.push(call);
    response.writeHead(upstream.status, upstream.statusMessage, headers as unknown as http.OutgoingHttpHeaders);
    response.end(returned);
  }

  private forward(target: URL, request: http.IncomingMessage, body: Buffer): Promise<{ status: number; statusMessage?: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }> {
    const headers: string[] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i].toLowerCase();
      if (!HOP_BY_HOP.has(name) && name !== 'content-length') headers.push(request.rawHeaders[i], request.rawHeaders[i + 1]);
    }
    headers.push('content-length', String(body.length));
    return new Promise((resolve, reject) => {
      const outgoing = http.request(
        { host: target.hostname, port: target.port || 80, method: request.method, path: request.url, headers: headers as unknown as http.OutgoingHttpHeaders, setHost: false, agent: this.agent },
        (incoming) => {
          readBody(incoming).then((answer) => {
            const rawHeaders: string[] = [];
            for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
              const name = incoming.rawHeaders[i].toLowerCase();
              if (!HOP_BY_HOP.has(name) && name !== 'content-length') rawHeaders.push(incoming.rawHeaders[i], incoming.rawHeaders[i + 1]);
            }
            rawHeaders.push('content-length', String(answer.length));
            resolve({ status: incoming.statusCode ?? 502, statusMessage: incoming.statusMessage, headers: incoming.headers, rawHeaders, body: answer });
          }, reject);
        },
      );
      outgoing.on('error', reject);
      request.on('close', () => {
        if (!request.complete) outgoing.destroy();
      });
      outgoing.end(body);
    });
  }

  private shape(table: string): Promise<TableShape> {
    let shape = this.shapes.get(table);
    if (!shape) {
      shape = this.dynamo.send(new DescribeTableCommand({ TableName: table })).then(({ Table }) => ({
        keys: (Table?.KeySchema ?? []).map((k) => k.AttributeName!),
        indexes: (Table?.GlobalSecondaryIndexes ?? []).map((g) => ({
          name: g.IndexName!,
          keys: (g.KeySchema ?? []).map((k) => k.AttributeName!),
          projection: { type: (g.Projection?.ProjectionType ?? 'ALL') as GlobalIndex['projection']['type'], attributes: g.Projection?.NonKeyAttributes },
        })),
      }));
      shape.catch(() => this.shapes.delete(table));
      this.shapes.set(table, shape);
    }
    return shape;
  }

  private async dynamoUnits(call: RecordedCall, req: any, res: any, afterUpdate: Item | undefined): Promise<void> {
    if (!req) return;
    const ok = call.status === 200;
    const conditionFailed = call.status === 400 && String(res?.__type ?? '').endsWith('ConditionalCheckFailedException');
    const keyOf = (shape: TableShape, item: Item): Item => Object.fromEntries(shape.keys.map((k) => [k, item[k]]));
    const shadowKey = (table: string, key: Item) => `${table}\u0000${JSON.stringify(Object.keys(key).sort().map((k) => [k, key[k]]))}`;
    const kindOf = (key: Item) => {
      const first = Object.values(key)[0] as { S?: string } | undefined;
      return first?.S?.includes('#') ? first.S.slice(0, first.S.indexOf('#') + 1) : undefined;
    };
    const write = async (table: string, key: Item, after: Item | undefined, deleted = false) => {
      const shape = await this.shape(table);
      const before = this.shadow.get(shadowKey(table, key));
      call.itemKind = kindOf(key);
      if (conditionFailed) {
        call.writeUnits += tableWriteUnits({ before, conditionFailed: true });
        return;
      }
      call.writeUnits += tableWriteUnits({ before, after });
      for (const index of shape.indexes) call.indexWriteUnits += indexWriteUnits(before, after, index, shape.keys);
      this.shadow.set(shadowKey(table, key), deleted ? undefined : after);
    };

    switch (call.operation) {
      case 'PutItem': {
        if (!ok && !conditionFailed) return;
        const shape = await this.shape(req.TableName);
        await write(req.TableName, keyOf(shape, req.Item), req.Item);
        return;
      }
      case 'UpdateItem': {
        if (!ok && !conditionFailed) return;
        let after: Item | undefined;
        if (ok) {
          after = req.ReturnValues === 'ALL_NEW' ? res?.Attributes : afterUpdate;
          // UPDATED_NEW, ALL_OLD and the like: the item is read back before the caller gets its answer.
          after ??= (await this.dynamo.send(new GetItemCommand({ TableName: req.TableName, Key: req.Key, ConsistentRead: true }))).Item as Item | undefined;
        }
        await write(req.TableName, req.Key, after);
        return;
      }
      case 'DeleteItem':
        if (ok || conditionFailed) await write(req.TableName, req.Key, undefined, true);
        return;
      case 'BatchWriteItem': {
        if (!ok) return;
        const unprocessed = JSON.stringify(res?.UnprocessedItems ?? {});
        for (const [table, requests] of Object.entries(req.RequestItems ?? {}) as Array<[string, any[]]>) {
          const shape = await this.shape(table);
          for (const r of requests) {
            const key = r.PutRequest ? keyOf(shape, r.PutRequest.Item) : r.DeleteRequest?.Key;
            if (!key || unprocessed.includes(JSON.stringify(key))) continue;
            await write(table, key, r.PutRequest?.Item, !r.PutRequest);
          }
        }
        return;
      }
      case 'GetItem': {
        if (!ok) return;
        call.itemKind = kindOf(req.Key);
        // A projection does not make a read cheaper: the whole item is read.
        const item = req.ProjectionExpression || req.AttributesToGet ? this.shadow.get(shadowKey(req.TableName, req.Key)) : res?.Item;
        call.payloadBytes = itemSize(item);
        call.readUnits = readUnits(itemSize(item), req.ConsistentRead === true);
        return;
      }
      case 'BatchGetItem': {
        if (!ok) return;
        for (const [table, items] of Object.entries(res?.Responses ?? {}) as Array<[string, Item[]]>) {
          const shape = await this.shape(table);
          const consistent = req.RequestItems?.[table]?.ConsistentRead === true;
          for (const item of items) {
            const full = this.shadow.get(shadowKey(table, keyOf(shape, item))) ?? item;
            call.readUnits += readUnits(itemSize(full), consistent);
          }
        }
        return;
      }
      case 'Query':
      case 'Scan': {
        if (!ok) return;
        const items = (res?.Items ?? []) as Item[];
        call.approximate = Boolean(req.FilterExpression || req.ScanFilter || req.QueryFilter || req.ProjectionExpression || req.AttributesToGet || req.Select === 'COUNT');
        const bytes = items.reduce((sum, item) => sum + itemSize(item), 0);
        call.payloadBytes = bytes;
        call.readUnits = readUnits(bytes, req.ConsistentRead === true);
        return;
      }
      default:
        return;
    }
  }

  private sqsUnits(call: RecordedCall, req: any, res: any, raw: Buffer): void {
    if (call.status !== 200) return;
    if (!req) {
      call.payloadBytes = raw.length;
      call.billedRequests = messageRequests(raw.length);
      return;
    }
    const messageBytes = (m: any) => utf8(m?.MessageBody ?? m?.Body) + attributeBytes(m?.MessageAttributes);
    switch (call.operation) {
      case 'SendMessage':
        call.payloadBytes = messageBytes(req);
        break;
      case 'SendMessageBatch':
        call.payloadBytes = (req.Entries ?? []).reduce((sum: number, e: any) => sum + messageBytes(e), 0);
        break;
      case 'ReceiveMessage':
        call.payloadBytes = (res?.Messages ?? []).reduce((sum: number, m: any) => sum + messageBytes(m), 0);
        break;
      default:
        call.payloadBytes = 0;
    }
    call.billedRequests = messageRequests(call.payloadBytes);
  }

  private snsUnits(call: RecordedCall, raw: Buffer): void {
    if (call.status !== 200) return;
    const form = new URLSearchParams(raw.toString('utf8'));
    let bytes = 0;
    for (const [name, value] of form) {
      // The message and its attributes; Action, Version, TopicArn and the like are not payload.
      if (/^(Message|Subject)$|^PublishBatchRequestEntries\.member\.\d+\.(Message|Subject)$|MessageAttributes\.entry\.\d+\.(Name|Value\.DataType|Value\.StringValue|Value\.BinaryValue)$/.test(name)) bytes += utf8(value);
    }
    call.payloadBytes = bytes;
    call.billedRequests = messageRequests(bytes);
  }
}
