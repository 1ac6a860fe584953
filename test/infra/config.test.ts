import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, DYNAMODB_ITEM_LIMIT_BYTES, estimateJobItemBytes, loadConfig, OUTPUT_RATE_ASSUMPTION, parseConfig, secondsForOneCall } from '../../lib/config';
import { CALL_SAFETY_MARGIN_MS } from '../../lambda/core/retry-policy';
import { createApp } from '../../lib/app';
import { configErrorOf } from './config-errors';

const root = path.resolve(__dirname, '..', '..');

const errorOf = configErrorOf;

describe('configuration', () => {
  it('names the field of an out-of-range value', () => {
    expect(errorOf({ worker: { timeoutSeconds: 2 } })).toMatch(/worker\.timeoutSeconds/);
  });

  it('names a route that points to an unknown model', () => {
    expect(errorOf({ routes: { classify: { model: 'nope' } }, defaultRoute: 'classify' })).toMatch(/routes\.classify\.model: unknown model "nope"/);
  });

  describe('routing strategies', () => {
    const tiers = { simple: 'claude-haiku', medium: 'claude-sonnet', complex: { model: 'claude-opus', fallback: ['claude-sonnet'] } };
    const route = (r: object) => ({ routes: { r }, defaultRoute: 'r' });

    it('accepts a content route (tiers as keys or chains) and a metric route', () => {
      const config = parseConfig({ routes: { c: { strategy: 'content', tiers, classifier: { model: 'nova-micro' } }, m: { strategy: 'metric', candidates: ['claude-haiku', 'nova-micro'], objective: { latency: 1, errors: 2 }, latencySloMs: 3000 } }, defaultRoute: 'c' });
      expect(config.routes.c.tiers?.simple).toEqual({ model: 'claude-haiku', fallback: [] });
      expect(config.routes.c.classifier).toEqual({ model: 'nova-micro', band: 0.03, timeoutMs: 2000 });
      expect(config.routes.m.objective).toEqual({ latency: 1, errors: 2, cost: 0 });
    });

    it.each([
      [{ strategy: 'fancy', model: 'claude-haiku' }, /routes\.r\.strategy/],
      [{ strategy: 'content' }, /routes\.r\.tiers: required with strategy "content"/],
      [{ strategy: 'metric', candidates: ['claude-haiku'] }, /routes\.r\.candidates/],
      [{ strategy: 'content', tiers: { ...tiers, medium: 'gpt-9' } }, /routes\.r\.tiers\.medium\.model: unknown model "gpt-9"/],
      [{ strategy: 'content', tiers, model: 'claude-haiku' }, /routes\.r\.model: applies only to strategy "static"/],
      [{ strategy: 'content', tiers, fallback: ['claude-haiku'] }, /routes\.r\.fallback: give each tier its own fallback/],
      [{ strategy: 'content', tiers, classifier: { model: 'nope' } }, /routes\.r\.classifier\.model: unknown model "nope"/],
      [{ strategy: 'content', tiers, thresholds: { medium: 0.5, complex: 0.4 } }, /routes\.r\.thresholds\.complex: must be above thresholds\.medium/],
      [{ strategy: 'content', tiers, candidates: ['claude-haiku', 'nova-micro'] }, /routes\.r\.candidates: applies only to strategy "metric"/],
      [{ model: 'claude-haiku', objective: 'latency' }, /routes\.r\.objective: applies only to strategy "metric"/],
      [{ strategy: 'metric', candidates: ['claude-haiku', 'claude-haiku'] }, /routes\.r\.candidates\.1: model "claude-haiku" is already in the chain/],
      [{ strategy: 'metric', candidates: ['claude-haiku', 'nova-micro'], objective: { latency: 0 } }, /routes\.r\.objective: give at least one of latency, cost, errors a weight above 0/],
      [{ strategy: 'metric', candidates: ['claude-haiku', 'nova-micro'], exploration: 0.9 }, /routes\.r\.exploration/],
    ])('fails synth naming the field of a bad strategy config: %j', (bad, message) => {
      expect(errorOf(route(bad))).toMatch(message);
      expect(() => createApp({ config: route(bad), bundling: false })).toThrow(message);
    });

    it('takes a prompt router as a model only with the models it routes between', () => {
      const router = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1';
      expect(errorOf({ models: { r: { modelId: router } }, routes: { x: { model: 'r' } }, defaultRoute: 'x' })).toMatch(/models\.r\.promptRouterModels: required for a prompt router/);
      expect(errorOf({ models: { r: { modelId: 'amazon.nova-micro-v1:0', promptRouterModels: ['x'] } }, routes: { x: { model: 'r' } }, defaultRoute: 'x' })).toMatch(/models\.r\.promptRouterModels: applies only to a prompt router ARN/);
      expect(() => parseConfig({ models: { r: { modelId: router, promptRouterModels: ['us.anthropic.claude-3-5-haiku-20241022-v1:0'] } }, routes: { x: { strategy: 'content', tiers: { simple: 'r', medium: 'r', complex: 'r' } } }, defaultRoute: 'x' })).not.toThrow();
    });
  });

  it('requires a batching window for batches above ten records', () => {
    expect(errorOf({ worker: { batchSize: 20 } })).toMatch(/worker\.maxBatchingWindowSeconds/);
    expect(() => parseConfig({ worker: { batchSize: 20, maxBatchingWindowSeconds: 1 } })).not.toThrow();
  });

  it('accepts only log retentions CloudWatch Logs offers', () => {
    expect(errorOf({ logRetentionDays: 10 })).toMatch(/logRetentionDays/);
  });

  it('rejects a web ACL that is not a regional WAFv2 ARN', () => {
    expect(errorOf({ api: { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/y' } })).toMatch(/api\.webAclArn/);
  });

  it('reads the `quarry` context, as a JSON string from -c too', () => {
    const context: Record<string, unknown> = { quarry: JSON.stringify({ worker: { memorySize: 1024 } }) };
    expect(loadConfig((key) => context[key]).worker.memorySize).toBe(1024);
  });

  it('fails createApp before building anything when the config is invalid', () => {
    expect(() => createApp({ config: { api: { rateLimit: -1 } }, bundling: false })).toThrow(/api\.rateLimit/);
  });

  const runApp = (context: Record<string, unknown>, env: Record<string, string> = {}) =>
    spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), ['bin/app.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CDK_OUTDIR: mkdtempSync(path.join(tmpdir(), 'quarry-bad-')), CDK_CONTEXT_JSON: JSON.stringify(context), ...env },
    });

  it('makes the CDK app exit non-zero with the field name on stderr', () => {
    const result = runApp({ quarry: { worker: { memorySize: 64 } } });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Invalid Quarry configuration:\n\s+- worker\.memorySize:/);
  });

  it('makes the CDK app exit non-zero with one line naming a config file that does not exist, without a stack trace', () => {
    const missing = path.join(tmpdir(), 'no-such-quarry-config.json');
    for (const result of [runApp({ configFile: missing }), runApp({}, { QUARRY_CONFIG: missing })]) {
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^Cannot read the Quarry configuration file ${missing} \\((configFile context|QUARRY_CONFIG)\\): no such file$`))]);
    }
  });

  it('makes the CDK app exit non-zero with one line naming the file, line and column of bad JSON', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'quarry-json-')), 'quarry.json');
    writeFileSync(file, '{\n  "worker": { "timeoutSeconds": 300 }\n  "api": {}\n}\n');
    const result = runApp({ configFile: file });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([`Invalid JSON in the Quarry configuration file ${file} (configFile context) at line 3, column 3: Expected ',' or '}' after property value`]);
  });
});

describe('configuration files and context values', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-config-'));
  const fromFile = (text: string) => {
    const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, text);
    try {
      loadConfig((key) => (key === 'configFile' ? file : undefined));
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message.replace(file, '<file>');
    }
    throw new Error('accepted');
  };

  it.each([
    ['{"a":1,}', 'at line 1, column 8: Expected double-quoted property name'],
    ['{\n "models": {"x": 1}}}', 'at line 2, column 21: unexpected character "}"'],
    ['nope', 'at line 1, column 2: unexpected character "o"'],
    ['{"worker": {', 'at line 1, column 13: unexpected end of input'],
  ])('reports %j with the position of the fault', (text, expected) => {
    expect(fromFile(text)).toBe(`Invalid JSON in the Quarry configuration file <file> (configFile context) ${expected}`);
  });

  it('reports an empty file, and a file that holds no JSON object', () => {
    expect(fromFile('')).toBe('Invalid JSON in the Quarry configuration file <file> (configFile context): it is empty');
    expect(fromFile('[1, 2]')).toBe('The Quarry configuration file <file> (configFile context) must hold a JSON object, not an array');
  });

  it('reports bad JSON in the `quarry` context value the same way', () => {
    expect(() => loadConfig((key) => (key === 'quarry' ? '{"worker": }' : undefined))).toThrow(/^Invalid JSON in the Quarry context value quarry at line 1, column 12: unexpected character "}"$/);
  });

  it('reads a good file, and lets the `quarry` context override its top-level keys', () => {
    const file = path.join(dir, 'good.json');
    writeFileSync(file, JSON.stringify({ worker: { memorySize: 1024 }, logPromptText: true }));
    const context: Record<string, unknown> = { configFile: file, quarry: { logPromptText: false } };
    const config = loadConfig((key) => context[key]);
    expect(config.worker.memorySize).toBe(1024);
    expect(config.logPromptText).toBe(false);
  });
});

describe('limits the config must respect', () => {
  it('estimates the largest job item from the request, inline result, metadata, attempts and bookkeeping', () => {
    const defaults = parseConfig({});
    expect(estimateJobItemBytes(defaults)).toBe(256_000 + 32_768 + 2048 + 30 * 200 + 8192);
    expect(estimateJobItemBytes(defaults)).toBeLessThanOrEqual(DYNAMODB_ITEM_LIMIT_BYTES);
    // The largest request with the default inline result still fits.
    expect(() => parseConfig({ api: { maxRequestBytes: 350_000 } })).not.toThrow();
  });

  it('rejects a request and inline result that cannot fit in one DynamoDB item, naming what it assumed', () => {
    const message = errorOf({ results: { inlineMaxBytes: 200_000 } });
    expect(message).toMatch(/results\.inlineMaxBytes: a job item may reach 472240 bytes, over DynamoDB's 409600-byte item limit/);
    expect(message).toMatch(/assumed: request 256000 \(api\.maxRequestBytes\) \+ inline result 200000 \(results\.inlineMaxBytes\) \+ metadata 2048 \+ attempts 30 x 200 \(resilience\.maxModelCalls\) \+ bookkeeping 8192/);
    expect(message).not.toMatch(/api\.maxRequestBytes:/);
  });

  it('counts the attempts a job may record: many model calls alone can overflow the item', () => {
    expect(errorOf({ resilience: { maxModelCalls: 1000 } })).toMatch(/resilience\.maxModelCalls: a job item may reach/);
  });

  it('names every raised field when several together overflow the item', () => {
    const message = errorOf({ api: { maxRequestBytes: 300_000 }, results: { inlineMaxBytes: 100_000 } });
    expect(message).toMatch(/- api\.maxRequestBytes: a job item/);
    expect(message).toMatch(/- results\.inlineMaxBytes: a job item/);
  });

  it('accepts the default worker timeout for the default models: one 4096-token answer at the assumed rate', () => {
    const defaults = parseConfig({});
    const needed = OUTPUT_RATE_ASSUMPTION.firstTokenSeconds + 4096 / OUTPUT_RATE_ASSUMPTION.outputTokensPerSecond + CALL_SAFETY_MARGIN_MS / 1000;
    expect(secondsForOneCall(defaults.models['claude-sonnet'])).toBe(needed);
    expect(defaults.worker.timeoutSeconds).toBeGreaterThanOrEqual(needed);
  });

  it('rejects a worker timeout too short for the largest answer of a model a route uses, saying what it assumed', () => {
    const message = errorOf({ worker: { timeoutSeconds: 120 } });
    expect(message).toMatch(
      /worker\.timeoutSeconds: 120 s is too short for one call of model \S+ \(route \w+\): 4096 output tokens \(models\.\S+\.maxOutputTokens\) need 209 s, assuming 20 output tokens\/s \(worker\.assumedOutputTokensPerSecond\) after 2 s to the first token, plus 1\.5 s to record the outcome; raise worker\.timeoutSeconds to at least 209/,
    );
    expect(message.match(/worker\.timeoutSeconds/g)).toHaveLength(2);
  });

  it('checks only the models routes use, with their own maxOutputTokens', () => {
    const models = { small: { modelId: 'amazon.nova-micro-v1:0', maxOutputTokens: 500 }, big: { modelId: 'amazon.nova-pro-v1:0', maxOutputTokens: 10_000 } };
    expect(() => parseConfig({ models, routes: { r: { model: 'small' } }, defaultRoute: 'r', worker: { timeoutSeconds: 30 } })).not.toThrow();
    expect(errorOf({ models, routes: { r: { model: 'small', fallback: ['big'] } }, defaultRoute: 'r', worker: { timeoutSeconds: 300 } })).toMatch(/model big \(route r\): 10000 output tokens .* need 504 s/);
  });

  it('makes the API Gateway CloudWatch role opt-in', () => {
    expect(parseConfig({}).api.cloudWatchRole).toBe(false);
    expect(parseConfig({ api: { cloudWatchRole: true } }).api.cloudWatchRole).toBe(true);
  });
});
