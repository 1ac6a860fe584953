import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CLIENT_VERSION, Quarry } from '../client';
import { QuarryError } from '../errors';
import type { Batch, BatchRequest, InvokeRequest, Job, JobRequest, StreamEvent } from '../types';
import { readEndpointsFile, resolveConnection } from './config';
import { StatusLine, countsLine, progressBar, seconds } from './progress';

/** Exit codes: 0 ok, 1 an API error or a job/batch that did not succeed, 2 a usage error (bad flags, no API URL). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

class UsageError extends QuarryError {
  constructor(message: string, code = 'USAGE') {
    super({ code, status: 0, message });
  }
}

interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

interface RequestFlags {
  route?: string;
  model?: string;
  system?: string;
  maxTokens?: number;
  temperature?: number;
  metadata?: Record<string, never>;
  body?: string;
}

const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
const note = (text: string): void => {
  process.stderr.write(`${text}\n`);
};
const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));
const interactive = (globals: GlobalOptions) => Boolean(process.stderr.isTTY && process.stdout.isTTY && !globals.json);

function clientOf(command: Command): { quarry: Quarry; globals: GlobalOptions } {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const connection = resolveConnection({ flags: { url: globals.url, key: globals.key }, env: process.env, endpoints: readEndpointsFile() });
  if (!connection) throw new UsageError('no API URL: pass --url, set QUARRY_API_URL, or run beside `npm start` (.local/endpoints.json)', 'CONFIG_MISSING');
  return { quarry: new Quarry({ baseUrl: connection.url, apiKey: connection.apiKey }), globals };
}

const integer = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};
const decimal = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
};
const json = (value: string) => {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new InvalidArgumentError('must be JSON');
  }
};

function withRequestFlags(command: Command): Command {
  return command
    .option('-r, --route <route>', 'a configured route')
    .option('-m, --model <modelId>', "a configured model's key or id")
    .option('-s, --system <text>', 'the system prompt')
    .option('--max-tokens <n>', 'inferenceConfig.maxTokens', integer('--max-tokens'))
    .option('--temperature <t>', 'inferenceConfig.temperature', decimal)
    .option('--metadata <json>', 'metadata kept with the job', json)
    .option('--body <file>', 'the whole request body as a JSON file (- for stdin); the other flags are added to it');
}

/** The prompt argument, `-` or piped stdin when it is absent. */
function promptOf(prompt: string | undefined): string | undefined {
  if (prompt === '-' || (prompt === undefined && !process.stdin.isTTY)) return readFileSync(0, 'utf8').replace(/\n$/, '');
  return prompt;
}

function requestOf(prompt: string | undefined, flags: RequestFlags): JobRequest {
  let body: Record<string, unknown> = {};
  if (flags.body) {
    try {
      body = JSON.parse(readFileSync(flags.body === '-' ? 0 : flags.body, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--body ${flags.body}: ${(error as Error).message}`);
    }
  } else {
    const text = promptOf(prompt);
    if (text === undefined) throw new UsageError('give a prompt (an argument, - for stdin) or --body <file>');
    body.prompt = text;
  }
  const inferenceConfig = { ...(body.inferenceConfig as object), ...(flags.maxTokens !== undefined && { maxTokens: flags.maxTokens }), ...(flags.temperature !== undefined && { temperature: flags.temperature }) };
  return {
    ...body,
    ...(flags.route && { route: flags.route }),
    ...(flags.model && { modelId: flags.model }),
    ...(flags.system && { system: flags.system }),
    ...(flags.metadata && { metadata: flags.metadata }),
    ...(Object.keys(inferenceConfig).length && { inferenceConfig }),
  } as JobRequest;
}

/** Polls a job with a spinner (a terminal) or a line per status change (anything else, on stderr). */
async function waitWithStatus(quarry: Quarry, jobId: string, globals: GlobalOptions, timeoutSeconds?: number): Promise<Job> {
  const line = new StatusLine(process.stderr, interactive(globals));
  let last = '';
  line.start();
  try {
    return await quarry.jobs.waitFor(jobId, {
      timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
      onStatus: (job, elapsed) => {
        line.update(`${jobId} ${job.status}`);
        if (!interactive(globals) && !globals.json && job.status !== last) note(`job ${jobId} ${job.status} (${seconds(elapsed)})`);
        last = job.status;
      },
    });
  } finally {
    line.stop();
  }
}

function jobFailure(job: Job): QuarryError {
  return new QuarryError({ code: job.error?.code ?? `JOB_${job.status}`, status: 0, message: job.error?.message ?? `job ${job.jobId} ended ${job.status}` });
}

async function showJob(quarry: Quarry, job: Job, globals: GlobalOptions, file?: string): Promise<void> {
  if (globals.json) printJson(job);
  if (job.status === 'FAILED' || job.status === 'CANCELLED') throw jobFailure(job);
  if (job.status !== 'SUCCEEDED') {
    if (!globals.json) out(`${job.jobId} ${job.status} ${job.route} ${job.modelId}`);
    return;
  }
  const text = (await quarry.jobs.text(job)) ?? JSON.stringify(job.result?.output ?? job.result);
  if (file) {
    writeFileSync(file, text);
    note(`saved ${job.jobId} to ${file}`);
  } else if (!globals.json) out(text);
}

/** Writes a stream's text as it comes (events as JSON lines with --json); an `error` event becomes the command's error. */
async function printStream(events: AsyncIterable<StreamEvent>, globals: GlobalOptions): Promise<void> {
  let wrote = false;
  for await (const event of events) {
    if (globals.json) {
      out(JSON.stringify(event));
      if (event.event === 'error') throw new QuarryError({ ...event.data, status: 0 });
      continue;
    }
    if (event.event === 'delta') {
      process.stdout.write(event.data.text);
      wrote = true;
    } else if (event.event === 'fallback') note(`(fallback from ${event.data.from} to ${event.data.to}: ${event.data.reason})`);
    else if (event.event === 'error') {
      if (wrote) process.stdout.write('\n');
      throw new QuarryError({ code: event.data.code, message: event.data.message, status: 0, retryAfter: event.data.retryAfterSeconds });
    }
  }
  if (!globals.json) process.stdout.write('\n');
}

/** A JSONL file's lines as batch lines; a line without an id gets `line-<n>`. */
function batchLinesOf(file: string): BatchRequest & { requests: unknown[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  const requests = text.split('\n').flatMap((line, index) => {
    if (line.trim() === '') return [];
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UsageError(`${file}:${index + 1}: not JSON`);
    }
    return [parsed.customId === undefined && parsed.custom_id === undefined ? { customId: `line-${index + 1}`, ...parsed } : parsed];
  });
  if (!requests.length) throw new UsageError(`${file}: no lines`);
  return { requests } as BatchRequest & { requests: unknown[] };
}

const defaultResultsFile = (input: string) => join(dirname(input), `${basename(input).replace(/\.jsonl?$/i, '')}.results.jsonl`);

export function program(): Command {
  const root = new Command('quarry')
    .description('The Quarry API from the command line. API URL and key: --url/--key, QUARRY_API_URL/QUARRY_API_KEY, or .local/endpoints.json (npm start).')
    .version(CLIENT_VERSION)
    .option('--url <url>', 'the API URL (default: $QUARRY_API_URL, then .local/endpoints.json)')
    .option('--key <key>', "the tenant's API key (default: $QUARRY_API_KEY, then .local/endpoints.json)")
    .option('--json', 'print JSON answers (for scripts) instead of text')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`quarry: USAGE: ${text.replace(/^error: /, '')}`) })
    .addHelpText('after', '\nExit codes: 0 ok, 1 API error or a job that did not succeed, 2 usage error.');

  withRequestFlags(root.command('submit [prompt]').description('submit a job (POST /jobs); prints its id, or with --wait its text'))
    .option('-w, --wait', 'wait for the job to end and print its text')
    .option('-o, --out <file>', 'with --wait, save the text to a file instead')
    .option('--timeout <seconds>', 'with --wait, give up after this long (WAIT_TIMEOUT)', integer('--timeout'))
    .option('--idempotency-key <key>', 'the Idempotency-Key (default: a random one, so retries are safe)')
    .action(async (prompt: string | undefined, flags: RequestFlags & { wait?: boolean; out?: string; timeout?: number; idempotencyKey?: string }, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const submitted = await quarry.jobs.submit(requestOf(prompt, flags), { idempotencyKey: flags.idempotencyKey });
      if (!flags.wait) return globals.json ? printJson(submitted) : out(submitted.jobId);
      await showJob(quarry, await waitWithStatus(quarry, submitted.jobId, globals, flags.timeout), globals, flags.out);
    });

  root.command('get <jobId>').description('show a job (GET /jobs/{jobId}): its text once it succeeded')
    .option('-o, --out <file>', 'save the text to a file')
    .action(async (jobId: string, flags: { out?: string }, command: Command) => {
      const { quarry, globals } = clientOf(command);
      await showJob(quarry, await quarry.jobs.get(jobId), globals, flags.out);
    });

  root.command('ls').description('list jobs, newest first (GET /jobs)')
    .option('--status <status>', 'QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED')
    .option('--batch <batchId>', "a batch's jobs, in input order")
    .option('-n, --limit <n>', 'jobs per page (1-100)', integer('--limit'), 20)
    .option('--next-token <token>', 'the page after the one that gave this token')
    .action(async (flags: { status?: Job['status']; batch?: string; limit: number; nextToken?: string }, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const page = await quarry.jobs.list({ status: flags.status, batchId: flags.batch, limit: flags.limit, nextToken: flags.nextToken });
      if (globals.json) return printJson(page);
      for (const job of page.jobs) out([job.jobId, job.status.padEnd(9), job.route, job.createdAt, job.customId ?? '', job.error?.code ?? ''].join('  ').trimEnd());
      if (page.nextToken) note(`more: quarry ls --next-token ${page.nextToken}`);
    });

  root.command('cancel <jobId>').description('cancel a job that has not started (DELETE /jobs/{jobId})')
    .action(async (jobId: string, _flags: unknown, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const job = await quarry.jobs.cancel(jobId);
      return globals.json ? printJson(job) : out(`${job.jobId} ${job.status}`);
    });

  withRequestFlags(root.command('invoke [prompt]').description('answer synchronously (POST /invoke) and print the text'))
    .action(async (prompt: string | undefined, flags: RequestFlags, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const answer = await quarry.invoke(requestOf(prompt, flags) as InvokeRequest);
      return globals.json ? printJson(answer) : out(answer.text ?? JSON.stringify(answer.nativeResponse));
    });

  withRequestFlags(root.command('stream [prompt]').description('stream an answer (POST /invoke/stream), printing the text as it comes'))
    .action(async (prompt: string | undefined, flags: RequestFlags, command: Command) => {
      const { quarry, globals } = clientOf(command);
      await printStream(quarry.stream(requestOf(prompt, flags) as InvokeRequest), globals);
    });

  root.command('chat').description('an interactive conversation: one line a turn from stdin (works piped); /exit or end of input ends it')
    .option('-r, --route <route>', "the conversation's route")
    .option('-s, --system <text>', 'the system prompt')
    .option('--sync', 'answer each turn whole instead of streamed')
    .action(async (flags: { route?: string; system?: string; sync?: boolean }, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const { conversationId } = await quarry.conversations.create({ ...(flags.route && { route: flags.route }), ...(flags.system && { system: flags.system }) });
      note(`conversation ${conversationId}${process.stdin.isTTY ? ' (/exit to leave)' : ''}`);
      const lines = createInterface({ input: process.stdin, terminal: false });
      const ask = () => process.stdin.isTTY && process.stderr.write('> ');
      let failed = false;
      ask();
      for await (const line of lines) {
        const content = line.trim();
        if (content === '/exit') break;
        if (content !== '') {
          try {
            if (flags.sync || globals.json) {
              const answer = await quarry.conversations.send(conversationId, { content }, { mode: 'sync' });
              out(globals.json ? JSON.stringify({ conversationId, turn: answer.turn, text: answer.text, usage: answer.usage, modelId: answer.modelId }) : (answer.text ?? ''));
            } else await printStream(quarry.conversations.stream(conversationId, { content }), globals);
          } catch (error) {
            failed = true;
            note(errorLine(error));
          }
        }
        ask();
      }
      lines.close();
      if (failed) process.exitCode = EXIT.FAILED;
    });

  const batch = root.command('batch').description('batches of requests (POST /batches)');
  batch.command('submit <file>').description('submit a JSONL file of requests ({customId?, prompt | messages, ...} a line); prints the batch id, or with --wait writes the results JSONL')
    .option('-w, --wait', 'wait for the batch to end, showing progress, and write its results')
    .option('-o, --out <file>', 'where --wait writes the results (default: <file>.results.jsonl)')
    .option('-r, --route <route>', 'the route of lines that name none')
    .option('-m, --model <modelId>', 'the model of lines that name none')
    .option('--timeout <seconds>', 'with --wait, give up after this long (WAIT_TIMEOUT)', integer('--timeout'))
    .action(async (file: string, flags: { wait?: boolean; out?: string; route?: string; model?: string; timeout?: number }, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const request = { ...batchLinesOf(file), ...(flags.route && { route: flags.route }), ...(flags.model && { modelId: flags.model }) } as BatchRequest;
      const submitted = await quarry.batches.submit(request);
      if (!flags.wait) return globals.json ? printJson(submitted) : out(submitted.batchId);
      const line = new StatusLine(process.stderr, interactive(globals));
      let last = '';
      line.start();
      let done: Batch;
      try {
        done = await quarry.batches.waitFor(submitted.batchId, {
          timeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
          onProgress: (b) => {
            line.update(`${b.batchId} ${progressBar(b.counts, b.total)}`);
            const plain = `batch ${b.batchId} ${b.status}  ${countsLine(b.counts)}`;
            if (!interactive(globals) && !globals.json && plain !== last) note(plain);
            last = plain;
          },
        });
      } finally {
        line.stop();
      }
      const target = flags.out ?? defaultResultsFile(file);
      writeFileSync(target, await quarry.batches.resultsText(done));
      if (globals.json) printJson({ ...done, resultsFile: target });
      else out(`batch ${done.batchId} ${done.status}: ${countsLine(done.counts)}; results in ${target}`);
      if (done.counts.failed + done.counts.cancelled > 0) process.exitCode = EXIT.FAILED;
    });
  batch.command('get <batchId>').description('a batch with its counts (GET /batches/{id})')
    .action(async (batchId: string, _flags: unknown, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const b = await quarry.batches.get(batchId);
      return globals.json ? printJson(b) : out(`${b.batchId} ${b.status} ${progressBar(b.counts, b.total)}`);
    });
  batch.command('cancel <batchId>').description('cancel what has not started (DELETE /batches/{id})')
    .action(async (batchId: string, _flags: unknown, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const b = await quarry.batches.cancel(batchId);
      return globals.json ? printJson(b) : out(`${b.batchId} ${b.status}`);
    });
  batch.command('results <batchId>').description("a finished batch's results JSONL (to stdout, or --out)")
    .option('-o, --out <file>', 'write them to a file')
    .action(async (batchId: string, flags: { out?: string }, command: Command) => {
      const { quarry } = clientOf(command);
      const text = await quarry.batches.resultsText(batchId);
      if (flags.out) writeFileSync(flags.out, text);
      else process.stdout.write(text);
    });

  root.command('models').description('the configured models, their routes and circuit breakers (GET /models)')
    .action(async (_flags: unknown, command: Command) => {
      const { quarry, globals } = clientOf(command);
      const { models } = await quarry.models.list();
      if (globals.json) return printJson({ models });
      for (const model of models) out(`${model.modelId}  routes: ${model.routes.join(',') || '-'}  ${model.regions.map((r) => `${r.region}:${r.state}`).join(' ')}`);
    });

  return root;
}

/** One line for any error: `quarry: <CODE>: <message>` (with the fields `details` names), never a stack. */
export function errorLine(error: unknown): string {
  if (error instanceof QuarryError) {
    const details = error.details.filter((d) => d.path !== 'status' || error.code === 'JOB_NOT_CANCELLABLE' || error.code === 'BATCH_NOT_CANCELLABLE');
    const named = details.length ? ` (${details.map((d) => `${d.line !== undefined ? `line ${d.line} ` : ''}${d.path}: ${d.message}`).join('; ')})` : '';
    const retry = error.retryAfter !== undefined ? ` [retry after ${error.retryAfter}s]` : '';
    return `quarry: ${error.code}: ${error.message}${named}${retry}`.replace(/\s*\n\s*/g, ' ');
  }
  return `quarry: ERROR: ${error instanceof Error ? error.message : String(error)}`.replace(/\s*\n\s*/g, ' ');
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv);
    return Number(process.exitCode ?? EXIT.OK);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    note(errorLine(error));
    return error instanceof UsageError ? EXIT.USAGE : EXIT.FAILED;
  }
}

/** The bin's entry: runs the command line and sets the exit code (no process.exit, so output is flushed). */
export function run(): void {
  void main().then((code) => {
    process.exitCode = code;
  });
}
