import { randomUUID } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { ADMIN_PREFIX, handleAdmin } from './admin';
import { ASYNC_INVOKE_PATH, handleAsyncInvoke } from './async-api';
import { BedrockError } from './errors';
import type { Exchange } from './exchange';
import { handleInvocation, OPERATIONS, type Operation } from './invocation';
import type { SimulatorState } from './simulator';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const INVOCATION_PATH = new RegExp(`^/model/([^/]+)/(${OPERATIONS.join('|')})$`);

function readBody(request: Request): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function createExchange(response: Response): Exchange {
  const requestId = randomUUID();
  let closed = false;
  response.on('close', () => {
    closed = true;
  });
  const writeHead = (status: number, headers: Record<string, string>) =>
    (response as http.ServerResponse).writeHead(status, { ...headers, 'x-amzn-requestid': requestId });
  const sendJson = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    writeHead(status, { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers });
    response.end(payload);
  };
  return {
    requestId,
    get closed() {
      return closed;
    },
    sendJson,
    sendError(error: BedrockError) {
      sendJson(error.status, { message: error.message }, { 'x-amzn-errortype': error.errorTypeHeader });
    },
    startStream(headers) {
      writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', ...headers });
    },
    write(chunk) {
      if (closed) return Promise.resolve();
      return new Promise((resolve) => {
        const flushed = (response as http.ServerResponse).write(chunk);
        if (flushed) resolve();
        else {
          const done = () => {
            response.off('drain', done);
            response.off('close', done);
            resolve();
          };
          response.on('drain', done);
          response.on('close', done);
        }
      });
    },
    end() {
      if (!closed) response.end();
    },
  };
}

async function handleRequest(state: SimulatorState, request: Request, response: Response): Promise<void> {
  const exchange = createExchange(response);
  const method = request.method ?? 'GET';
  const [path, search = ''] = (request.url ?? '/').split('?');
  const body = await readBody(request);
  if (path.startsWith(ADMIN_PREFIX)) {
    handleAdmin(state, method, path, body, exchange);
    return;
  }
  const asyncInvoke = ASYNC_INVOKE_PATH.exec(path);
  if (asyncInvoke) {
    await handleAsyncInvoke(state, method, asyncInvoke[1], new URLSearchParams(search), body, exchange);
    return;
  }
  const invocation = INVOCATION_PATH.exec(path);
  if (method === 'POST' && invocation) {
    await handleInvocation(state, invocation[2] as Operation, decodeURIComponent(invocation[1]), body, exchange);
    return;
  }
  exchange.sendError(new BedrockError('UnknownOperationException', `No operation matches ${method} ${path}`));
}

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** One TCP port for HTTP/1.1 and h2c: the HTTP/2 connection preface decides which server gets the socket. */
export async function listen(state: SimulatorState, port: number, host: string): Promise<RunningServer> {
  const onRequest = (request: Request, response: Response) => {
    handleRequest(state, request, response).catch((error: unknown) => {
      const exchange = createExchange(response);
      if (!response.headersSent) {
        exchange.sendJson(500, { message: `Simulator failure: ${(error as Error).message}` }, {
          'x-amzn-errortype': 'InternalServerException:http://internal.amazon.com/coral/com.amazon.bedrock/',
        });
      } else response.destroy();
    });
  };
  const http1 = http.createServer(onRequest);
  const h2c = http2.createServer(onRequest);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2c.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let received = Buffer.alloc(0);
    const sniff = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, HTTP2_PREFACE.length);
      const isPrefacePrefix = received.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
      if (isPrefacePrefix && received.length < HTTP2_PREFACE.length) return;
      socket.off('data', sniff);
      socket.pause();
      socket.unshift(received);
      // The HTTP/2 session reads the unshifted bytes itself (on next tick); resuming would hand them to no one.
      if (isPrefacePrefix) h2c.emit('connection', socket);
      else {
        http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', sniff);
    socket.on('error', () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });

  return {
    port: (tcp.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        tcp.close(() => resolve());
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
        http1.close();
        h2c.close();
      }),
  };
}
