import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { errorResponse } from './errors';
import { OPERATION_IN_BODY, operationOf, type AwsService, type RequestHead } from './operations';
import type { AwsFaults } from './rules';

/** Headers that belong to one connection, not to the request: each side of the proxy has its own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);

function endToEnd(rawHeaders: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(rawHeaders[i].toLowerCase())) kept.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return kept;
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** A request whose body was already read, readable again for an in-process upstream. */
function replayed(request: http.IncomingMessage, body: Buffer): http.IncomingMessage {
  const copy = Readable.from([body]) as unknown as http.IncomingMessage;
  return Object.assign(copy, { headers: request.headers, rawHeaders: request.rawHeaders, method: request.method, url: request.url, httpVersion: request.httpVersion, socket: request.socket });
}

/** The service behind the proxy: an endpoint URL, or the request handler of an emulator in this process. */
export type ServiceUpstream = string | { url: string; handler: http.RequestListener };

export interface ServiceProxy {
  service: AwsService;
  url: string;
  stop(): Promise<void>;
}

/**
 * An HTTP/1.1 proxy in front of one service's endpoint. Requests go through unchanged (method, path, headers,
 * body streamed) on keep-alive connections, unless a fault rule decides otherwise; the body is read first only
 * when the operation is in it (query protocol) or a live rule filters on it. An emulator running in this process
 * (dynalite) is given its requests directly, with no second HTTP hop: half the sockets and parsing per call.
 */
export async function startServiceProxy(service: AwsService, upstream: ServiceUpstream, faults: AwsFaults, host = '127.0.0.1'): Promise<ServiceProxy> {
  const inProcess = typeof upstream === 'string' ? undefined : upstream.handler;
  const upstreamUrl = typeof upstream === 'string' ? upstream : upstream.url;
  const target = new URL(upstreamUrl);
  if (target.protocol !== 'http:') throw new Error(`the fault layer proxies http:// endpoints only, not ${upstreamUrl}`);
  const agent = new http.Agent({ keepAlive: true });
  const stopping = new AbortController();
  const held = new Set<Socket>();
  /** Waits for the first of `events`, or for the proxy to stop. */
  const firstOf = async (events: Array<Promise<void>>): Promise<void> => {
    let onStop!: () => void;
    const stopped = new Promise<void>((resolve) => (onStop = resolve));
    stopping.signal.addEventListener('abort', onStop, { once: true });
    try {
      await Promise.race([...events, stopped]);
    } finally {
      stopping.signal.removeEventListener('abort', onStop);
    }
  };

  const forward = (request: http.IncomingMessage, response: http.ServerResponse, body?: Buffer) => {
    if (inProcess) return inProcess(body ? replayed(request, body) : request, response);
    const outgoing = http.request({
      host: target.hostname,
      port: target.port || 80,
      method: request.method,
      path: request.url,
      headers: endToEnd(request.rawHeaders) as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      agent,
    });
    outgoing.on('response', (incoming) => {
      response.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, endToEnd(incoming.rawHeaders) as unknown as http.OutgoingHttpHeaders);
      incoming.pipe(response);
      incoming.on('error', () => response.destroy());
    });
    outgoing.on('error', (error) => {
      if (response.headersSent) response.destroy();
      else response.writeHead(502, { 'content-type': 'text/plain' }).end(`fault layer: ${service} endpoint ${upstreamUrl} failed: ${error.message}\n`);
    });
    response.on('close', () => {
      if (!response.writableFinished) outgoing.destroy();
    });
    if (body) outgoing.end(body);
    else request.pipe(outgoing);
  };

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    const head: RequestHead = { method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers };
    let body: Buffer | undefined;
    let operation = operationOf(service, head);
    if (operation === OPERATION_IN_BODY) {
      body = await readBody(request);
      operation = operationOf(service, head, body);
    }
    const name = operation === OPERATION_IN_BODY ? 'Unknown' : operation;
    if (!body && faults.needsBody(service, name)) body = await readBody(request);
    const decision = faults.decide(service, name, body);
    if (decision.latencyMs > 0) await firstOf([new Promise<void>((resolve) => setTimeout(resolve, decision.latencyMs).unref())]);
    if (stopping.signal.aborted || response.destroyed) return;
    switch (decision.fault) {
      case undefined:
        forward(request, response, body);
        return;
      case 'reset': {
        const socket = request.socket;
        if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
        else socket.destroy();
        return;
      }
      case 'timeout': {
        body ??= await readBody(request);
        const socket = request.socket;
        held.add(socket);
        const { released, cancel } = faults.whenReleased(decision.ruleId!);
        const clientGone = new Promise<void>((resolve) => response.once('close', () => resolve()));
        await firstOf([released, clientGone]);
        cancel();
        held.delete(socket);
        if (stopping.signal.aborted) socket.destroy();
        else if (!response.destroyed && !response.writableEnded) forward(request, response, body);
        return;
      }
      default: {
        if (!body) await readBody(request);
        const answer = errorResponse(service, decision.fault, head);
        response.writeHead(answer.status, answer.headers).end(answer.body);
      }
    }
  };

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: Error) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' }).end(`fault layer: ${error.message}\n`);
      else response.destroy();
    });
  });
  // Held requests ('timeout') and SQS long polls stay open as long as they need; idle client sockets stay warm.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    service,
    url: `http://${urlHost}:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        stopping.abort();
        for (const socket of held) socket.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
