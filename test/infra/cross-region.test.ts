import type { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, type QuarryConfigInput } from '../../lib/config';
import { PROFILE_DESTINATION_REGIONS } from '../../lib/bedrock-arns';
import { METRIC_NAMESPACE, METRICS } from '../../lambda/core/metric-names';
import { actionsOf, statementsOf, synth } from './synth';

 
type Cfn = any;

/** A synthesized value as text: references as ${AWS::Region} / ${Logical.Attr}, joins flattened. */
function render(value: Cfn): string {
  if (typeof value === 'string') return value;
  if (value?.Ref) return `\${${value.Ref}}`;
  if (value?.['Fn::GetAtt']) return `\${${value['Fn::GetAtt'].join('.')}}`;
  if (value?.['Fn::Join']) return (value['Fn::Join'][1] as Cfn[]).map(render).join(value['Fn::Join'][0]);
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** The worker's Bedrock statement for its routes' models (an async model has its own): its actions and resources as text. */
function workerBedrockGrant(template: Template, workerLogicalId: string, sid = 'InvokeConfiguredModels'): { actions: string[]; resources: string[] } {
  const policy = workerLogicalId.replace(/Function[0-9A-F]{8}$/, 'Role');
  const bedrock = statementsOf(template, policy).filter((s) => s.Sid === sid);
  expect(bedrock).toHaveLength(1);
  const resources = Array.isArray(bedrock[0].Resource) ? bedrock[0].Resource : [bedrock[0].Resource];
  return { actions: actionsOf(bedrock[0]).sort(), resources: (resources as Cfn[]).map(render).sort() };
}

function grantFor(models: QuarryConfigInput['models']): string[] {
  const first = Object.keys(models!)[0];
  const { template, build } = synth({ models, routes: { only: { model: first } }, defaultRoute: 'only' });
  return workerBedrockGrant(template, build.functions.worker.logicalId).resources;
}

const fm = (region: string, id: string) => `arn:\${AWS::Partition}:bedrock:${region}::foundation-model/${id}`;
const profile = (region: string, id: string) => `arn:\${AWS::Partition}:bedrock:${region}:\${AWS::AccountId}:inference-profile/${id}`;
const here = '${AWS::Region}';
const sorted = (xs: string[]) => [...xs].sort();

describe('worker Bedrock grant', () => {
  it('allows InvokeModel and InvokeModelWithResponseStream (which also cover Converse and ConverseStream), nothing more', () => {
    const { template, build } = synth();
    expect(workerBedrockGrant(template, build.functions.worker.logicalId).actions).toEqual(['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
  });

  it('lets the worker start an async model\'s invocations (InvokeModel on it alone) and follow them (GetAsyncInvoke), and not converse with it', () => {
    const { template, build } = synth();
    const reel = fm(here, 'amazon.nova-reel-v1:1');
    expect(workerBedrockGrant(template, build.functions.worker.logicalId, 'StartAsyncInvocations')).toEqual({ actions: ['bedrock:InvokeModel'], resources: [reel] });
    expect(workerBedrockGrant(template, build.functions.worker.logicalId, 'FollowAsyncInvocations')).toEqual({ actions: ['bedrock:GetAsyncInvoke'], resources: [`arn:\${AWS::Partition}:bedrock:${here}:\${AWS::AccountId}:async-invoke/*`] });
    // The statement POST /invoke and the streaming function share: the synchronous models only.
    expect(workerBedrockGrant(template, build.functions.worker.logicalId).resources).not.toContain(reel);
  });

  it('grants a foundation model id in the stack region only', () => {
    expect(grantFor({ m: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' } })).toEqual([fm(here, 'anthropic.claude-3-haiku-20240307-v1:0')]);
  });

  it('grants a us. profile and its model in the stack region and every US destination, with no region wildcard', () => {
    const id = 'anthropic.claude-sonnet-4-20250514-v1:0';
    const resources = grantFor({ m: { modelId: `us.${id}` } });
    expect(resources).toEqual(sorted([profile(here, `us.${id}`), fm(here, id), ...['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'].map((r) => fm(r, id))]));
    expect(resources.join()).not.toContain(':*:');
  });

  it.each(['eu', 'apac'] as const)('grants an %s. profile on exactly its geography', (prefix) => {
    const id = 'amazon.nova-pro-v1:0';
    const resources = grantFor({ m: { modelId: `${prefix}.${id}` } });
    expect(resources).toEqual(sorted([profile(here, `${prefix}.${id}`), fm(here, id), ...PROFILE_DESTINATION_REGIONS[prefix].map((r) => fm(r, id))]));
    expect(resources.some((r) => r.includes(':us-'))).toBe(false);
  });

  it('grants a global. profile its model in any region plus the region-less model ARN', () => {
    const id = 'anthropic.claude-sonnet-4-20250514-v1:0';
    expect(grantFor({ m: { modelId: `global.${id}` } })).toEqual(sorted([profile(here, `global.${id}`), fm('*', id), fm('', id)]));
  });

  it('grants the model in each explicit failover region', () => {
    const resources = grantFor({
      fm: { modelId: 'amazon.nova-lite-v1:0', regions: ['us-west-2', 'us-east-2'] },
      profile: { modelId: 'eu.amazon.nova-pro-v1:0', regions: ['eu-central-1'] },
    });
    expect(resources).toEqual(
      sorted([
        fm(here, 'amazon.nova-lite-v1:0'),
        fm('us-west-2', 'amazon.nova-lite-v1:0'),
        fm('us-east-2', 'amazon.nova-lite-v1:0'),
        profile(here, 'eu.amazon.nova-pro-v1:0'),
        profile('eu-central-1', 'eu.amazon.nova-pro-v1:0'),
        fm(here, 'amazon.nova-pro-v1:0'),
        ...PROFILE_DESTINATION_REGIONS.eu.map((r) => fm(r, 'amazon.nova-pro-v1:0')),
      ]),
    );
  });

  it('uses profileDestinationRegions in place of the built-in list', () => {
    expect(grantFor({ m: { modelId: 'eu.amazon.nova-pro-v1:0', profileDestinationRegions: ['eu-west-1', 'eu-central-3'] } })).toEqual(
      sorted([profile(here, 'eu.amazon.nova-pro-v1:0'), fm(here, 'amazon.nova-pro-v1:0'), fm('eu-west-1', 'amazon.nova-pro-v1:0'), fm('eu-central-3', 'amazon.nova-pro-v1:0')]),
    );
  });

  it('grants an application inference profile ARN as given', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3';
    expect(grantFor({ m: { modelId: arn } })).toEqual([arn]);
  });
});

describe('model config for cross-region inference', () => {
  const withModel = (model: object) => ({ models: { m: model }, routes: { only: { model: 'm' } }, defaultRoute: 'only' });

  it('rejects profileDestinationRegions on a model that is not a cross-region inference profile', () => {
    expect(() => parseConfig(withModel({ modelId: 'amazon.nova-pro-v1:0', profileDestinationRegions: ['us-east-1'] }))).toThrow(/models\.m\.profileDestinationRegions: applies only/);
  });

  it('rejects failover regions on an ARN, which names its region', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3';
    expect(() => parseConfig(withModel({ modelId: arn, regions: ['eu-central-1'] }))).toThrow(/models\.m\.regions: an ARN names one region/);
  });

  it('rejects a destination that is not a region', () => {
    expect(() => parseConfig(withModel({ modelId: 'eu.amazon.nova-pro-v1:0', profileDestinationRegions: ['europe'] }))).toThrow(/an AWS region/);
  });
});

describe('pipeline and per-model dashboard', () => {
  const models = {
    haiku: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' },
    sonnet: { modelId: 'eu.anthropic.claude-sonnet-4-20250514-v1:0' },
    nova: { modelId: 'amazon.nova-micro-v1:0' },
  };
  const { template } = synth({ models, routes: { one: { model: 'haiku', fallback: ['nova'] }, two: { model: 'sonnet' } }, defaultRoute: 'one' });
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const body = JSON.parse(render(dashboard.Properties.DashboardBody)) as { widgets: { properties: { title?: string; metrics?: Cfn[][] } }[] };
  const graphs = body.widgets.filter((w) => w.properties.metrics);
  /** The metric arrays of the dashboard: [namespace, name, dim, value, dim, value, ..., options?]. */
  const lines = graphs.flatMap((w) => w.properties.metrics!.map((m) => ({ title: w.properties.title, metric: m })));
  const quarryLine = (name: string, modelId?: string) =>
    lines.filter(({ metric }) => {
      if (metric[0] !== METRIC_NAMESPACE || metric[1] !== name) return false;
      const dims = metric.slice(2).filter((x) => typeof x === 'string');
      const pairs = Object.fromEntries(dims.flatMap((d, i) => (i % 2 === 0 ? [[d, dims[i + 1]]] : [])));
      return modelId ? pairs.modelId === modelId && pairs.service === 'quarry' && Object.keys(pairs).length === 2 : pairs.service === 'quarry' && Object.keys(pairs).length === 1;
    });

  it.each(Object.values(METRICS.model))('graphs %s once per configured model, labelled with the model key', (name) => {
    for (const [key, { modelId }] of Object.entries(models)) {
      const found = quarryLine(name, modelId);
      expect(found).toHaveLength(1);
      expect(found[0].metric[found[0].metric.length - 1]).toEqual(expect.objectContaining({ label: key }));
    }
    expect(lines.filter(({ metric }) => metric[1] === name)).toHaveLength(Object.keys(models).length);
  });

  it.each([METRICS.jobs.submitted, METRICS.jobs.succeeded, METRICS.jobs.failed, METRICS.jobs.requeued, METRICS.jobs.deadLettered, METRICS.jobs.cacheServed])(
    'graphs the pipeline metric %s with the service dimension only',
    (name) => {
      expect(quarryLine(name).length).toBeGreaterThanOrEqual(1);
    },
  );

  it('alarms when more than 10% of finished jobs fail over 15 minutes, with no action configured', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const failed = alarms.filter((a) => a.Metrics?.some((m: Cfn) => m.Expression?.includes('failed')));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toEqual(expect.objectContaining({ Threshold: 10, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' }));
    const inputs = failed[0].Metrics.filter((m: Cfn) => m.MetricStat).map((m: Cfn) => [m.Id, m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Namespace, m.MetricStat.Period]);
    expect(inputs.sort()).toEqual([
      ['failed', 'JobsFailed', 'Quarry', 300],
      ['succeeded', 'JobsSucceeded', 'Quarry', 300],
    ]);
    for (const alarm of alarms) expect(alarm.AlarmActions ?? []).toEqual([]);
  });

  it('shows the failed-jobs alarm, and every other, in the alarm status widget', () => {
    const status = body.widgets.find((w) => w.properties.title === 'Alarms') as Cfn;
    const ids = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(status.properties.alarms).toHaveLength(ids.length);
    expect(status.properties.alarms).toContainEqual(expect.stringContaining('FailedJobsAlarm'));
  });

  it.each([METRICS.jobs.sweepAnnounced, METRICS.jobs.pastDeadline, METRICS.jobs.sweepErrors])('graphs the sweep metric %s with the service dimension only', (name) => {
    expect(quarryLine(name)).toHaveLength(1);
  });
});
