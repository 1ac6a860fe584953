'use strict';
// One warm "container" of a Lambda function: loads the bundled handler once, then runs invocations one at a time.
// Plain CommonJS so it runs as is under node, tsx and jest alike.
const { parentPort, workerData } = require('node:worker_threads');
const dns = require('node:dns');
const { pathToFileURL } = require('node:url');

// fauxqs answers queue URLs on sqs.<region>.localhost; resolve *.localhost here as a browser or systemd would.
const lookup = dns.lookup;
dns.lookup = function localhostAwareLookup(hostname, options, callback) {
  if (typeof hostname === 'string' && hostname.endsWith('.localhost')) {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'object' && options !== null ? options : {};
    if (opts.all) process.nextTick(cb, null, [{ address: '127.0.0.1', family: 4 }]);
    else process.nextTick(cb, null, '127.0.0.1', 4);
    return {};
  }
  return lookup.apply(this, arguments);
};

if (/--enable-source-maps/.test(process.env.NODE_OPTIONS || '')) process.setSourceMapsEnabled(true);

const { file, exportName, functionName, functionArn, memoryMb, discardOutput } = workerData;

// Nobody reads this function's logs: drop them where they are written rather than ship each line to the host thread.
if (discardOutput) {
  for (const stream of [process.stdout, process.stderr]) {
    stream.write = function discard(_chunk, encoding, callback) {
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
}

// This thread's CPU time in ms (Linux's per-thread scheduler figure; undefined elsewhere), reported with each result.
const { readFileSync } = require('node:fs');
function threadCpuMs() {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

function serializeError(error, fallbackType) {
  if (error instanceof Error) {
    return { errorType: error.name || fallbackType, errorMessage: error.message, trace: String(error.stack || '').split('\n') };
  }
  return { errorType: fallbackType, errorMessage: typeof error === 'string' ? error : JSON.stringify(error) };
}

// Lambda's response-streaming globals, as the Node.js runtime defines them: streamifyResponse marks a handler as
// streaming (it is then called with a writable stream), HttpResponseStream.from writes the HTTP prelude (JSON status
// and headers, then eight NUL bytes) before the body, as API Gateway's streaming integration reads it.
const { Writable } = require('node:stream');
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const PRELUDE_DELIMITER = new Uint8Array(8);
globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = 'response';
    return handler;
  },
  HttpResponseStream: {
    from(stream, prelude) {
      stream.setContentType?.('application/vnd.awslambda.http-integration-response');
      stream.write(JSON.stringify(prelude));
      stream.write(PRELUDE_DELIMITER);
      return stream;
    },
  },
};

/** The stream a streaming handler writes to: each chunk goes to the host as it is written. */
function responseStreamFor(id) {
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      parentPort.postMessage({ type: 'chunk', id, data: chunk });
      callback();
    },
  });
  stream.setContentType = () => {};
  return stream;
}

let current;
process.on('unhandledRejection', (reason) => {
  if (current) current.reject(Object.assign(new Error(String(reason && reason.message ? reason.message : reason)), { name: 'Runtime.UnhandledPromiseRejection' }));
});

async function load() {
  const mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  const handler = mod[exportName] ?? (mod.default && mod.default[exportName]);
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${file} does not export a function named ${exportName}`), { name: 'Runtime.HandlerNotFound' });
  }
  return handler;
}

const loading = load();
loading.then(
  () => parentPort.postMessage({ type: 'ready', cpuMs: threadCpuMs() }),
  (error) => parentPort.postMessage({ type: 'init-error', error: serializeError(error, 'Runtime.ImportModuleError'), cpuMs: threadCpuMs() }),
);

parentPort.on('message', async (message) => {
  if (message.type !== 'invoke') return;
  const { id, event, requestId, deadline } = message;
  let handler;
  try {
    handler = await loading;
  } catch (error) {
    parentPort.postMessage({ type: 'result', id, ok: false, error: serializeError(error, 'Runtime.ImportModuleError'), cpuMs: threadCpuMs() });
    return;
  }
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${process.pid}-${require('node:worker_threads').threadId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (error, value) => current && (error ? current.reject(error) : current.resolve(value)),
    fail: (error) => current && current.reject(error),
    succeed: (value) => current && current.resolve(value),
  };
  try {
    const value = await new Promise((resolve, reject) => {
      current = { resolve, reject };
      const callback = (error, result) => (error ? reject(error) : resolve(result));
      if (handler[STREAMING] === 'response') {
        // Done when the handler's promise settles and its stream has ended (as the runtime waits for both).
        const stream = responseStreamFor(id);
        const ended = new Promise((done) => stream.once('finish', done));
        Promise.resolve(handler(event, stream, context)).then(() => (stream.writableEnded ? ended : (stream.end(), ended))).then(() => resolve(null), reject);
        return;
      }
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
      else if (handler.length < 3) resolve(returned);
    });
    parentPort.postMessage({ type: 'result', id, ok: true, value: value === undefined ? null : value, cpuMs: threadCpuMs() });
  } catch (error) {
    parentPort.postMessage({ type: 'result', id, ok: false, error: serializeError(error, 'Error'), cpuMs: threadCpuMs() });
  } finally {
    current = undefined;
  }
});
