import type { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lib/config';
import { routingTableOf } from '../../lib/quarry-stack';
import { actionsOf, resourceNamed, statementsOf, synth, type Synthesized } from './synth';

/* GET /models: a read-only function behind the same REST API, reading only circuit breaker items. */

let template: Template;
let build: Synthesized['build'];
const config = { models: { a: { modelId: 'model-a', regions: ['us-west-2'] }, b: { modelId: 'model-b' } }, routes: { one: { model: 'a', fallback: ['b'] } }, defaultRoute: 'one' };

beforeAll(() => {
  ({ template, build } = synth(config));
});

const modelsFunction = () => resourceNamed(template, 'AWS::Lambda::Function', 'ModelsFunction');

describe('GET /models', () => {
  it('is served by the models function through a Lambda proxy integration, without authorization like the rest of v1', () => {
    const resources = Object.entries(template.findResources('AWS::ApiGateway::Resource')).filter(([, r]) => r.Properties.PathPart === 'models');
    expect(resources).toHaveLength(1);
    const [resourceId, resource] = resources[0];
    expect(resource.Properties.ParentId).toEqual({ 'Fn::GetAtt': [build.resources.restApi, 'RootResourceId'] });
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).filter((m) => m.Properties.ResourceId.Ref === resourceId && m.Properties.Integration.Type !== 'MOCK');
    expect(methods).toHaveLength(1);
    const { HttpMethod, AuthorizationType, Integration } = methods[0].Properties;
    expect([HttpMethod, AuthorizationType, Integration.Type]).toEqual(['GET', 'NONE', 'AWS_PROXY']);
    expect(JSON.stringify(Integration.Uri)).toContain(modelsFunction().id);
  });

  it('runs the models handler with the table, the routing table and the breaker policy of the config', () => {
    const fn = modelsFunction().resource.Properties;
    const env = fn.Environment.Variables;
    expect(env.JOBS_TABLE_NAME).toEqual({ Ref: build.resources.jobsTable });
    expect(JSON.parse(env.QUARRY_ROUTES)).toEqual(routingTableOf(parseConfig(config)));
    expect(JSON.parse(env.QUARRY_RESILIENCE).breaker).toEqual(parseConfig(config).resilience.breaker);
    expect([fn.Runtime, fn.Architectures, fn.TracingConfig]).toEqual(['nodejs22.x', ['arm64'], undefined]);
  });

  it('may only batch-read circuit breaker items of the jobs table (the one call it makes)', () => {
    const policy = modelsFunction().id.replace(/Function[0-9A-F]{8}$/, 'Role');
    const data = statementsOf(template, policy).filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')));
    expect(data.map((s) => ({ ...s, Action: actionsOf(s).sort() }))).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:BatchGetItem'],
        Resource: { 'Fn::GetAtt': [build.resources.jobsTable, 'Arn'] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['BREAKER#*'] } },
      },
    ]);
  });
});
