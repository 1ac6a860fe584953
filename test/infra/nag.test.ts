import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { buildApp, createApp } from '../../lib/app';
import type { QuarryConfigInput } from '../../lib/config';

interface ValidationReport {
  pluginReports: { pluginName: string; violations?: { ruleName: string; severity?: string; violatingConstructs?: { constructPath?: string }[] }[] }[];
}

/** Every AwsSolutions finding left unacknowledged (errors and warnings) in an assembly's validation report. */
function findingsIn(assemblyDir: string): string[] {
  const report = JSON.parse(readFileSync(path.join(assemblyDir, 'validation-report.json'), 'utf8')) as ValidationReport;
  return report.pluginReports
    .filter((p) => p.pluginName === 'AwsSolutions')
    .flatMap((p) => p.violations ?? [])
    .map((v) => `${v.severity} ${v.ruleName} ${(v.violatingConstructs ?? []).map((r) => r.constructPath).join(', ')}`);
}

function unacknowledgedFindings(config: QuarryConfigInput): string[] {
  return findingsIn(buildApp({ config, bundling: false, nag: true }).assembly.directory);
}

describe('cdk-nag AwsSolutions checks', () => {
  it('leave nothing unacknowledged on the default stack', () => {
    expect(unacknowledgedFindings({})).toEqual([]);
  });

  it('leave nothing unacknowledged with subscriptions, a web ACL and every kind of model id', () => {
    expect(
      unacknowledgedFindings({
        models: {
          a: { modelId: 'global.anthropic.claude-sonnet-4-20250514-v1:0' },
          b: { modelId: 'eu.amazon.nova-pro-v1:0' },
          c: { modelId: 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/x1' },
        },
        routes: { one: { model: 'a', path: '/one' }, two: { model: 'b' }, three: { model: 'c' } },
        defaultRoute: 'one',
        api: { webAclArn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/q/1' },
        subscriptions: [
          { protocol: 'sqs', endpoint: 'arn:aws:sqs:eu-west-1:123456789012:events' },
          { protocol: 'email', endpoint: 'ops@example.com', filter: { status: ['FAILED'] } },
        ],
      }),
    ).toEqual([]);
  });

  it('leave nothing unacknowledged with the API Gateway CloudWatch role and stage logging', () => {
    expect(unacknowledgedFindings({ api: { cloudWatchRole: true } })).toEqual([]);
  });

  it('fail synth on a finding nobody acknowledged', () => {
    const { app, stack } = createApp({ config: {}, bundling: false, nag: true });
    new sqs.Queue(stack, 'UnencryptedQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3[\s\S]*UnencryptedQueue|UnencryptedQueue[\s\S]*AwsSolutions-SQS3/);
    // The report the other tests read names exactly the new queue's findings, so an empty list means clean.
    const findings = findingsIn(app.outdir);
    expect(findings.length).toBeGreaterThan(0);
    expect(findings.every((f) => /^error AwsSolutions-SQS\d .*UnencryptedQueue/.test(f))).toBe(true);
  });
});
