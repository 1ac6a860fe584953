// Runs fauxqs (ESM only) in a child process the local runtime owns, so CommonJS callers (jest) never import ESM.
import { startFauxqs } from 'fauxqs';

const port = Number(process.env.FAUXQS_PORT ?? 0);
const defaultRegion = process.env.FAUXQS_DEFAULT_REGION ?? 'us-east-1';

const server = await startFauxqs({ port, logger: false, defaultRegion });

// State is in memory only: nothing to flush, and a graceful close would wait out open long polls (up to 20 s).
const stop = () => process.exit(0);
// The IPC channel closes when the parent dies, however it dies: never outlive it.
process.on('disconnect', stop);
process.on('SIGTERM', stop);
// Ctrl-C reaches the whole process group: let the parent stop its pollers first, then SIGTERM this child.
process.on('SIGINT', () => undefined);
process.send?.({ ready: true, port: server.port, address: server.address });
