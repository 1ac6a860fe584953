import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeEndpointsFile, type LocalRuntime } from '../../local/runtime';
import { MODELS, finished, http, simulator, startPipeline } from './harness';

/*
 * The `quarry` binary (node_modules/.bin/quarry, linked by npm ci from the client workspace) run as a child process
 * against the local runtime: output, one-line errors and exit codes (0 ok, 1 API error or failed job, 2 usage).
 */

const BIN = resolve(__dirname, '../../node_modules/.bin/quarry');
let runtime: LocalRuntime;
let dir: string;

beforeAll(async () => {
  runtime = await startPipeline({
    models: { 'claude-haiku': { modelId: MODELS.haiku }, 'claude-sonnet': { modelId: MODELS.sonnet } },
    routes: { generate: { model: 'claude-sonnet' }, classify: { model: 'claude-haiku' } },
  });
  dir = mkdtempSync(join(tmpdir(), 'quarry-cli-test-'));
}, 120_000);
afterAll(() => runtime?.stop());
afterEach(() => simulator(runtime, 'POST', '/_sim/reset'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the binary (asynchronously: the runtime answers from this process), in a directory with no endpoints file. */
function quarry(args: string[], options: { input?: string; env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<Run> {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, QUARRY_API_URL: runtime.apiUrl, QUARRY_API_KEY: runtime.apiKey, ...options.env };
  const child = spawn(BIN, args, { cwd: options.cwd ?? dir, env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

/** An error as the CLI prints it: one line on stderr, its code first, no stack. */
function expectOneLineError(run: Run, code: string, exitCode = 1) {
  expect(run.code).toBe(exitCode);
  const lines = run.stderr.trim().split('\n');
  expect(lines.at(-1)).toMatch(new RegExp(`^quarry: ${code}: \\S`));
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

it('submit --wait prints the text (status lines on stderr, plain off a terminal); get and ls find the job', async () => {
  const run = await quarry(['submit', '--wait', 'Explain RAG in one line.']);
  expect(run.code).toBe(0);
  expect(run.stdout.trim()).toMatch(/\w+/);
  expect(run.stderr).toMatch(/^job \S+ (QUEUED|RUNNING) \(\d+\.\ds\)$/m);
  expect(run.stderr).toMatch(/^job \S+ SUCCEEDED/m);
  expect(run.stdout + run.stderr).not.toContain('\x1b');
  const jobId = /^job (\S+) SUCCEEDED/m.exec(run.stderr)![1];

  const shown = await quarry(['get', jobId]);
  expect(shown).toMatchObject({ code: 0, stdout: run.stdout });
  const asJson = await quarry(['--json', 'get', jobId]);
  expect(JSON.parse(asJson.stdout)).toMatchObject({ jobId, status: 'SUCCEEDED', route: 'generate', result: { text: run.stdout.trim() } });
  const listed = await quarry(['ls', '--limit', '5']);
  expect(listed.code).toBe(0);
  expect(listed.stdout.split('\n')[0]).toMatch(new RegExp(`^${jobId}\\s+SUCCEEDED\\s+generate`));
});

it('submit prints the job id for scripts, and --wait --out saves the text', async () => {
  const submitted = await quarry(['submit', '--route', 'classify', '--metadata', '{"ticket":"T-9"}', 'Is this spam?']);
  expect(submitted.code).toBe(0);
  const jobId = submitted.stdout.trim();
  expect(jobId).toMatch(/^\S+$/);
  expect((await http(runtime, 'GET', `/jobs/${jobId}`)).json).toMatchObject({ route: 'classify', metadata: { ticket: 'T-9' } });

  const file = join(dir, 'answer.txt');
  const saved = await quarry(['submit', '--wait', '--out', file, '--max-tokens', '20', 'Write something.']);
  expect(saved.code).toBe(0);
  expect(saved.stdout).toBe('');
  expect(readFileSync(file, 'utf8')).toMatch(/\w+/);
});

it('ends 1 with the job\'s error code when the job fails, and 1 with the API\'s code for a refused call', async () => {
  await simulator(runtime, 'PUT', `/_sim/models/${encodeURIComponent(MODELS.haiku)}`, { available: false });
  expectOneLineError(await quarry(['submit', '--wait', '--route', 'classify', 'x']), 'MODEL_ACCESS_DENIED');
  expectOneLineError(await quarry(['get', 'no-such-job']), 'JOB_NOT_FOUND');
  expectOneLineError(await quarry(['models'], { env: { QUARRY_API_KEY: 'wrong' } }), 'INVALID_API_KEY');
  const invalid = await quarry(['invoke', '--temperature', '3', 'x']);
  expectOneLineError(invalid, 'VALIDATION_ERROR');
  expect(invalid.stderr).toContain('inferenceConfig.temperature');
  expectOneLineError(await quarry(['submit', '--route', 'nowhere', 'x']), 'UNKNOWN_ROUTE');
});

it('ends 2 for usage errors: an unknown command, a bad flag, no API URL', async () => {
  expectOneLineError(await quarry(['frobnicate']), 'USAGE', 2);
  expectOneLineError(await quarry(['ls', '--limit', 'many']), 'USAGE', 2);
  expectOneLineError(await quarry(['models'], { env: { QUARRY_API_URL: undefined, QUARRY_API_KEY: undefined } }), 'CONFIG_MISSING', 2);
  expect((await quarry(['--help'])).code).toBe(0);
});

it('reads the URL and key from .local/endpoints.json beside npm start', async () => {
  const here = mkdtempSync(join(tmpdir(), 'quarry-cli-endpoints-'));
  writeEndpointsFile(runtime, join(here, '.local', 'endpoints.json'));
  const run = await quarry(['models'], { cwd: here, env: { QUARRY_API_URL: undefined, QUARRY_API_KEY: undefined } });
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(new RegExp(`^${MODELS.sonnet.replace(/\./g, '\\.')}  routes: generate  \\S+:CLOSED$`, 'm'));
});

it('cancel refuses a finished job with JOB_NOT_CANCELLABLE', async () => {
  const { json } = await http(runtime, 'POST', '/jobs', { prompt: 'quick', route: 'classify' });
  expect((await finished(runtime, json.jobId)).json.status).toBe('SUCCEEDED');
  const run = await quarry(['cancel', json.jobId]);
  expectOneLineError(run, 'JOB_NOT_CANCELLABLE');
  expect(run.stderr).toContain('status: SUCCEEDED');
});

it('invoke prints the answer and stream prints the same text as it comes', async () => {
  const invoked = await quarry(['invoke', 'Say hello.']);
  expect(invoked.code).toBe(0);
  const streamed = await quarry(['stream', 'Say hello.']);
  expect(streamed).toMatchObject({ code: 0, stdout: invoked.stdout });
  const events = await quarry(['--json', 'stream', 'Say hello.']);
  expect(events.stdout.trim().split('\n').map((line) => JSON.parse(line).event)).toEqual(expect.arrayContaining(['start', 'delta', 'stop']));
});

it('chat answers one turn per line of piped input, in one conversation', async () => {
  const run = await quarry(['chat', '--system', 'You are terse.'], { input: 'My name is Ada.\n\nWhat is my name?\n' });
  expect(run.code).toBe(0);
  const conversationId = /^conversation (\S+)/m.exec(run.stderr)![1];
  const answers = run.stdout.trim().split('\n');
  expect(answers).toHaveLength(2);
  const history = (await http(runtime, 'GET', `/conversations/${conversationId}`)).json;
  expect(history.messages.map((m: any) => m.content)).toEqual(['My name is Ada.', answers[0], 'What is my name?', answers[1]]);
});

it('batch submit --wait shows progress and writes the results JSONL in input order', async () => {
  const input = join(dir, 'tickets.jsonl');
  writeFileSync(input, ['{"customId":"t-1","prompt":"Classify: invoice wrong"}', '{"prompt":"Classify: app crashes"}', '', '{"customId":"t-3","prompt":"Classify: thanks!","route":"classify"}', ''].join('\n'));
  const run = await quarry(['batch', 'submit', input, '--wait']);
  expect(run.code).toBe(0);
  expect(run.stderr).toMatch(/^batch \S+ (IN_PROGRESS|COMPLETED) {2}succeeded \d+ {2}failed 0/m);
  const output = join(dir, 'tickets.results.jsonl');
  expect(run.stdout.trim()).toMatch(new RegExp(`^batch \\S+ COMPLETED: succeeded 3  failed 0  running 0  queued 0  cancelled 0; results in ${output.replace(/[.]/g, '\\.')}$`));
  expect(existsSync(output)).toBe(true);
  const lines = readFileSync(output, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  expect(lines.map((l) => [l.customId, l.status])).toEqual([['t-1', 'SUCCEEDED'], ['line-2', 'SUCCEEDED'], ['t-3', 'SUCCEEDED']]);
  expect(lines[0].result.text).toMatch(/\w+/);

  expectOneLineError(await quarry(['batch', 'submit', join(dir, 'missing.jsonl')]), 'USAGE', 2);
});
