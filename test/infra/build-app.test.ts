import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildApp, type QuarryBuild } from '../../lib/app';

let build: QuarryBuild;
const outdir = mkdtempSync(path.join(tmpdir(), 'quarry-build-test-'));

beforeAll(() => {
  build = buildApp({ config: {}, nag: false, outdir });
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('buildApp (in-process synth with bundling, as the local runtime uses it)', () => {
  const roles = ['submit', 'status', 'worker', 'deadLetter'] as const;

  it.each(roles)('bundles %s with the local esbuild into a minified index.js, without a source map by default', (role) => {
    const { assetDir, handler, logicalId } = build.functions[role];
    expect(handler).toBe('index.handler');
    expect(assetDir && path.isAbsolute(assetDir)).toBe(true);
    const code = readFileSync(path.join(assetDir!, 'index.js'), 'utf8');
    expect(existsSync(path.join(assetDir!, 'index.js.map'))).toBe(false);
    expect(code).not.toMatch(/sourceMappingURL/);
    expect(code.length / code.split('\n').length).toBeGreaterThan(1000); // minified: long lines
    // The AWS SDK clients are bundled, not left to the runtime's copy (signature-v4-crt is an optional, guarded require).
    expect(code).not.toMatch(/require\("@aws-sdk\/(client|lib)-/);
    expect(build.template.Resources[logicalId].Type).toBe('AWS::Lambda::Function');
  });

  it('gives each function its own bundle', () => {
    expect(new Set(roles.map((r) => build.functions[r].assetDir)).size).toBe(4);
  });

  it('returns the template it wrote and the logical ids of the emulated resources', () => {
    expect(JSON.parse(readFileSync(build.templatePath, 'utf8'))).toEqual(build.template);
    const types = Object.fromEntries(Object.entries(build.resources).map(([name, id]) => [name, build.template.Resources[id]?.Type]));
    expect(types).toEqual({
      jobsTable: 'AWS::DynamoDB::Table',
      jobsQueue: 'AWS::SQS::Queue',
      deadLetterQueue: 'AWS::SQS::Queue',
      eventsTopic: 'AWS::SNS::Topic',
      resultsBucket: 'AWS::S3::Bucket',
      inputsBucket: 'AWS::S3::Bucket',
      restApi: 'AWS::ApiGateway::RestApi',
    });
  });
});
