import { fork, type ChildProcess } from 'node:child_process';
import type { RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { memoizeDynaliteExpressions } from './dynalite-expressions';

export interface ServiceEndpoints {
  dynamodb: string;
  sqs: string;
  sns: string;
  s3: string;
}

export interface Emulators {
  endpoints: ServiceEndpoints;
  /** Which endpoints came from AWS_ENDPOINT_URL_* rather than an emulator this runtime started. */
  external: Partial<Record<keyof ServiceEndpoints, boolean>>;
  /** The request handlers of the emulators running in this process (dynalite), which a proxy may call directly. */
  handlers: Partial<Record<keyof ServiceEndpoints, RequestListener>>;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  region: string;
  env?: Record<string, string | undefined>;
}

/** How long stop() lets the operations dynalite has started finish before it closes the database anyway. */
const DRAIN_TIMEOUT_MS = 5_000;

const children = new Set<ChildProcess>();
// Whatever way this process ends, the emulator children end with it.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * Starts dynalite (in-process) and fauxqs (a child process: it is ESM only) on ephemeral ports on 127.0.0.1, unless
 * AWS_ENDPOINT_URL_<SERVICE> names an endpoint to use instead. 127.0.0.1 rather than localhost: the S3 client then
 * addresses buckets path-style on its own (no virtual-host DNS needed).
 */
export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const env = options.env ?? process.env;
  const given = {
    dynamodb: env.AWS_ENDPOINT_URL_DYNAMODB,
    sqs: env.AWS_ENDPOINT_URL_SQS,
    sns: env.AWS_ENDPOINT_URL_SNS,
    s3: env.AWS_ENDPOINT_URL_S3,
  };
  const stops: Array<() => Promise<void>> = [];
  try {
    const dynalite = given.dynamodb ? undefined : await startDynalite(stops);
    const needsFauxqs = !given.sqs || !given.sns || !given.s3;
    const fauxqs = needsFauxqs ? await startFauxqs(options.region, stops) : undefined;
    return {
      endpoints: { dynamodb: given.dynamodb ?? dynalite!.url, sqs: given.sqs ?? fauxqs!, sns: given.sns ?? fauxqs!, s3: given.s3 ?? fauxqs! },
      external: { dynamodb: !!given.dynamodb, sqs: !!given.sqs, sns: !!given.sns, s3: !!given.s3 },
      handlers: dynalite ? { dynamodb: dynalite.handler } : {},
      stop: () => stopAll(stops),
    };
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
}

async function stopAll(stops: Array<() => Promise<void>>): Promise<void> {
  await Promise.allSettled(stops.splice(0).reverse().map((stop) => stop()));
}

async function startDynalite(stops: Array<() => Promise<void>>): Promise<{ url: string; handler: RequestListener }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
  memoizeDynaliteExpressions();
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // Idle client sockets stay open (Node closes them after 5 s): a client reusing one just as it closes sees ECONNRESET.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Every operation dynalite has started finishes before its database closes: closing it under one still queued (on
  // an item's lock, say) makes the operation's callback throw "Database is closed" out of a timer, which ends the
  // process. An operation is done when dynalite answers it, not when its caller hangs up (a stopped function's
  // socket closes at once while dynalite goes on); it never starts when the caller hangs up before the body is read.
  const dynaliteHandler = server.listeners('request')[0] as RequestListener;
  let stopping = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const handler: RequestListener = (request, response) => {
    if (stopping) {
      response.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'dynalite is stopping' }));
      return;
    }
    inFlight += 1;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    };
    let bodyRead = false;
    request.once('end', () => (bodyRead = true));
    response.once('close', () => {
      if (!bodyRead) finish();
    });
    const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
    response.end = ((...args: unknown[]) => {
      finish();
      return end(...args);
    }) as ServerResponse['end'];
    dynaliteHandler(request, response);
  };
  server.removeAllListeners('request');
  server.on('request', handler);
  stops.push(async () => {
    stopping = true;
    if (inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (drained = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    });
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handler };
}

async function startFauxqs(region: string, stops: Array<() => Promise<void>>): Promise<string> {
  const child = fork(join(__dirname, 'fauxqs-launcher.mjs'), [], {
    execArgv: [],
    env: { ...process.env, FAUXQS_PORT: '0', FAUXQS_DEFAULT_REGION: region, FAUXQS_LOGGER: 'false' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  stops.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    children.delete(child);
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error('fauxqs did not report its port'))));
    child.once('exit', (code) => reject(new Error(`fauxqs exited with code ${code} before it was ready`)));
    child.once('error', reject);
  });
  return `http://127.0.0.1:${port}`;
}
