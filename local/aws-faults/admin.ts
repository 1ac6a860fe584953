import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultRuleError, type AwsFaults } from './rules';

export const FAULTS_PREFIX = '/_faults';

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function parseJson(body: Buffer): unknown {
  try {
    return body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw new FaultRuleError(400, 'Request body is not valid JSON');
  }
}

const notAllowed = (path: string, method: string, allow: string[]): Answer => ({
  status: 405,
  body: { message: `Method ${method} not allowed on ${path}` },
  headers: { allow: allow.join(', ') },
});

function route(faults: AwsFaults, method: string, path: string, body: Buffer): Answer {
  const rulePath = /^\/_faults\/rules\/([^/]+)$/.exec(path);
  if (rulePath) {
    const id = decodeURIComponent(rulePath[1]);
    if (method === 'GET') {
      const rule = faults.rule(id);
      return rule ? { status: 200, body: rule } : { status: 404, body: { message: `No rule ${id}` } };
    }
    if (method === 'DELETE') return faults.remove(id) ? { status: 200, body: { removed: id } } : { status: 404, body: { message: `No rule ${id}` } };
    return notAllowed(path, method, ['GET', 'DELETE']);
  }
  switch (path) {
    case FAULTS_PREFIX:
      if (method === 'GET') return { status: 200, body: { rules: faults.rules(), stats: faults.stats() } };
      if (method === 'DELETE') return { status: 200, body: { cleared: faults.clear() } };
      return notAllowed(path, method, ['GET', 'DELETE']);
    case `${FAULTS_PREFIX}/rules`:
      if (method === 'GET') return { status: 200, body: { rules: faults.rules() } };
      if (method === 'POST') {
        const id = faults.add(parseJson(body) as Parameters<AwsFaults['add']>[0]);
        return { status: 201, body: { id, rule: faults.rule(id) }, headers: { location: `${FAULTS_PREFIX}/rules/${encodeURIComponent(id)}` } };
      }
      return notAllowed(path, method, ['GET', 'POST']);
    case `${FAULTS_PREFIX}/stats`:
      if (method === 'GET') return { status: 200, body: faults.stats() };
      if (method === 'DELETE') {
        faults.resetStats();
        return { status: 200, body: { reset: true } };
      }
      return notAllowed(path, method, ['GET', 'DELETE']);
  }
  return { status: 404, body: { message: `No fault admin endpoint ${method} ${path}` } };
}

export interface FaultAdminServer {
  url: string;
  stop(): Promise<void>;
}

/** The fault layer's control API (JSON in, JSON out), as the Bedrock simulator's /_sim is. */
export async function startFaultAdmin(faults: AwsFaults, port = 0, host = '127.0.0.1'): Promise<FaultAdminServer> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let answer: Answer;
      try {
        answer = route(faults, request.method ?? 'GET', new URL(request.url ?? '/', 'http://local').pathname.replace(/\/+$/, '') || '/', Buffer.concat(chunks));
      } catch (error) {
        if (!(error instanceof FaultRuleError)) throw error;
        answer = { status: error.status, body: { message: error.message, ...(error.details && { details: error.details }) } };
      }
      const payload = Buffer.from(`${JSON.stringify(answer.body, null, 2)}\n`, 'utf8');
      response.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': String(payload.length), ...answer.headers }).end(payload);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
