import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadConfig, parseConfig } from '../../lib/config';
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

  it('makes the CDK app exit non-zero with the field name on stderr', () => {
    const result = spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), ['bin/app.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_OUTDIR: mkdtempSync(path.join(tmpdir(), 'quarry-bad-')),
        CDK_CONTEXT_JSON: JSON.stringify({ quarry: { worker: { memorySize: 64 } } }),
      },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Invalid Quarry configuration:\n\s+- worker\.memorySize:/);
  });
});
