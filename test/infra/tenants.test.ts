import { Template } from 'aws-cdk-lib/assertions';
import { configErrorOf } from './config-errors';
import { parseConfig } from '../../lib/config';
import { TENANT_TAG } from '../../lib/constructs/api-tenants';
import { resolveIntrinsics } from '../../local/intrinsics';
import { ENV } from '../../lambda/core/settings';
import { tenantDirectorySchema } from '../../lambda/core/tenants';
import { synth } from './synth';

/** CloudFormation JSON is untyped; the tests walk it freely. */
type CfnValue = any;

const config = {
  plans: {
    tiny: { rateLimit: 1, burstLimit: 2, quota: { limit: 5, period: 'WEEK' as const }, routes: ['classify'], models: ['claude-haiku', 'nova-micro'] },
    open: { rateLimit: 100, burstLimit: 200 },
  },
  tenants: { default: {}, acme: { plan: 'tiny' }, 'globex-eu': { plan: 'tiny' } },
};

let template: Template;
let json: { Resources: Record<string, { Type: string; Properties: CfnValue }>; Outputs: Record<string, CfnValue> };

beforeAll(() => {
  ({ template } = synth(config));
  json = template.toJSON() as typeof json;
});

const ofType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const keyIdOf = (tenant: string) => ofType('AWS::ApiGateway::ApiKey').find(([, r]) => r.Properties.Tags.some((t: CfnValue) => t.Key === TENANT_TAG && t.Value === tenant))![0];
const planIdOf = (name: string) => ofType('AWS::ApiGateway::UsagePlan').find(([, r]) => r.Properties.UsagePlanName === `Quarry-${name}`)![0];

describe('tenants and usage plans', () => {
  it('requires an API key on every method, static routes and /models included', () => {
    const methods = ofType('AWS::ApiGateway::Method');
    expect(methods.length).toBeGreaterThanOrEqual(6);
    for (const [, method] of methods) expect(method.Properties.ApiKeyRequired).toBe(true);
  });

  it('creates one generated API key per tenant, named after the stack and tagged with the tenant', () => {
    const keys = ofType('AWS::ApiGateway::ApiKey').map(([, r]) => r.Properties);
    expect(keys.map((k) => k.Name).sort()).toEqual(['Quarry-acme', 'Quarry-default', 'Quarry-globex-eu']);
    for (const key of keys) {
      expect(key.Value).toBeUndefined();
      expect(key.Enabled).toBe(true);
    }
  });

  it("creates one usage plan per plan in use, on stage v1, with the plan's throttle and quota", () => {
    const plans: Record<string, CfnValue> = Object.fromEntries(ofType('AWS::ApiGateway::UsagePlan').map(([, r]) => [r.Properties.UsagePlanName, r.Properties]));
    // `open` has no tenant: no plan for it.
    expect(Object.keys(plans).sort()).toEqual(['Quarry-default', 'Quarry-tiny']);
    expect(plans['Quarry-default']).toMatchObject({ Throttle: { RateLimit: 10, BurstLimit: 20 }, Quota: { Limit: 10_000, Period: 'DAY' } });
    expect(plans['Quarry-tiny']).toMatchObject({ Throttle: { RateLimit: 1, BurstLimit: 2 }, Quota: { Limit: 5, Period: 'WEEK' } });
    const stageId = ofType('AWS::ApiGateway::Stage')[0][0];
    const apiId = ofType('AWS::ApiGateway::RestApi')[0][0];
    for (const plan of Object.values(plans)) expect(plan.ApiStages).toEqual([expect.objectContaining({ ApiId: { Ref: apiId }, Stage: { Ref: stageId } })]);
  });

  it("adds each tenant's key to its plan and no other", () => {
    const planKeys = ofType('AWS::ApiGateway::UsagePlanKey').map(([, r]) => [r.Properties.KeyId.Ref, r.Properties.UsagePlanId.Ref, r.Properties.KeyType]);
    expect(planKeys.sort()).toEqual(
      [
        [keyIdOf('default'), planIdOf('default'), 'API_KEY'],
        [keyIdOf('acme'), planIdOf('tiny'), 'API_KEY'],
        [keyIdOf('globex-eu'), planIdOf('tiny'), 'API_KEY'],
      ].sort(),
    );
  });

  it("outputs each tenant's key id, never a key value", () => {
    expect(json.Outputs.ApiKeyIdDefault.Value).toEqual({ Ref: keyIdOf('default') });
    expect(json.Outputs.ApiKeyIdAcme.Value).toEqual({ Ref: keyIdOf('acme') });
    expect(json.Outputs.ApiKeyIdGlobexEu.Value).toEqual({ Ref: keyIdOf('globex-eu') });
    expect(JSON.stringify(json)).not.toMatch(/"Value":"[A-Za-z0-9]{20,}"/);
  });

  it('answers a missing or invalid key with 403 JSON, and throttling or an exhausted quota with 429 JSON and Retry-After', () => {
    const byType = Object.fromEntries(ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => [r.Properties.ResponseType, r.Properties]));
    expect(byType.INVALID_API_KEY).toMatchObject({ StatusCode: '403' });
    expect(JSON.parse(byType.INVALID_API_KEY.ResponseTemplates['application/json'])).toEqual({ error: { code: 'INVALID_API_KEY', message: expect.stringContaining('x-api-key') } });
    expect(byType.ACCESS_DENIED.StatusCode).toBe('403');
    expect(byType.THROTTLED).toMatchObject({ StatusCode: '429', ResponseParameters: { 'gatewayresponse.header.Retry-After': "'1'" } });
    expect(byType.QUOTA_EXCEEDED).toMatchObject({ StatusCode: '429', ResponseParameters: { 'gatewayresponse.header.Retry-After': "'3600'" } });
    expect(JSON.parse(byType.THROTTLED.ResponseTemplates['application/json']).error.code).toBe('THROTTLED');
    expect(JSON.parse(byType.QUOTA_EXCEEDED.ResponseTemplates['application/json']).error.code).toBe('QUOTA_EXCEEDED');
  });
});

describe('the tenant directory (QUARRY_TENANTS)', () => {
  const functions = () => ofType('AWS::Lambda::Function').map(([id, r]) => ({ id, env: (r.Properties.Environment?.Variables ?? {}) as Record<string, CfnValue> }));
  /** The directory as deployed: each API key's Ref resolved to a stand-in id, as CloudFormation and the local runtime do. */
  const resolved = (value: CfnValue) => resolveIntrinsics(value, { region: 'us-east-1', accountId: '123456789012', ref: (id) => `id-of-${id}`, getAtt: () => undefined });

  it('is given to submit, status, cancel, batches, invoke, invoke/stream, worker and sweep (the same value), not to the dead-letter handler or GET /models', () => {
    const holders = functions().filter((f) => ENV.tenants in f.env).map((f) => f.id.replace(/[0-9A-F]{8}$/, ''));
    expect(holders.sort()).toEqual(['BatchesFunction', 'CancelFunction', 'InvokeFunction', 'InvokeStreamFunction', 'JobWorkerFunction', 'StatusFunction', 'SubmitFunction', 'SweepFunction']);
    const values = new Set(functions().filter((f) => ENV.tenants in f.env).map((f) => JSON.stringify(f.env[ENV.tenants])));
    expect(values.size).toBe(1);
  });

  it("maps each tenant's API key id to its config name and its plan's routes and model ids", () => {
    const value = functions().find((f) => ENV.tenants in f.env)!.env[ENV.tenants];
    const directory = tenantDirectorySchema.parse(JSON.parse(resolved(value) as string));
    const haiku = parseConfig({}).models['claude-haiku'].modelId;
    const nova = parseConfig({}).models['nova-micro'].modelId;
    expect(directory).toEqual({
      [`id-of-${keyIdOf('default')}`]: { name: 'default' },
      [`id-of-${keyIdOf('acme')}`]: { name: 'acme', routes: ['classify'], models: [haiku, nova] },
      [`id-of-${keyIdOf('globex-eu')}`]: { name: 'globex-eu', routes: ['classify'], models: [haiku, nova] },
    });
  });
});

describe('tenant and plan configuration', () => {
  const errorOf = configErrorOf;

  it('gives one tenant, default, on the default plan of 10/s, burst 20 and 10000 a day', () => {
    const config = parseConfig({});
    expect(config.tenants).toEqual({ default: { plan: 'default' } });
    expect(config.plans).toEqual({ default: { rateLimit: 10, burstLimit: 20, quota: { limit: 10_000, period: 'DAY' } } });
  });

  it('keeps the default plan when other plans are given, and lets the config replace it', () => {
    expect(Object.keys(parseConfig({ plans: { gold: { rateLimit: 50, burstLimit: 100 } } }).plans).sort()).toEqual(['default', 'gold']);
    expect(parseConfig({ plans: { default: { rateLimit: 2, burstLimit: 4 } } }).plans.default).toEqual({ rateLimit: 2, burstLimit: 4 });
    expect(parseConfig({ tenants: { acme: {} } }).tenants.acme.plan).toBe('default');
  });

  it('names the tenant whose plan does not exist', () => {
    expect(errorOf({ tenants: { acme: { plan: 'gold' } } })).toMatch(/tenants\.acme\.plan: unknown plan "gold"; known: default/);
  });

  it('names the field of an invalid plan and refuses key values and an empty tenant list', () => {
    expect(errorOf({ plans: { gold: { rateLimit: 0, burstLimit: 1 } } })).toMatch(/plans\.gold\.rateLimit/);
    expect(errorOf({ plans: { gold: { rateLimit: 1, burstLimit: 1, quota: { limit: 5, period: 'YEAR' } } } })).toMatch(/plans\.gold\.quota\.period/);
    expect(errorOf({ tenants: { acme: { plan: 'default', apiKeyValue: 'secret-value-1234567890' } } })).toMatch(/tenants\.acme/);
    expect(errorOf({ tenants: {} })).toMatch(/tenants: at least one tenant/);
  });

  it('names an unknown route or model in a plan by its position', () => {
    expect(errorOf({ plans: { gold: { rateLimit: 1, burstLimit: 1, routes: ['classify', 'translate'] } } })).toMatch(/plans\.gold\.routes\.1: unknown route "translate"; known: classify, generate, analyze/);
    expect(errorOf({ plans: { gold: { rateLimit: 1, burstLimit: 1, models: ['gpt'] } } })).toMatch(/plans\.gold\.models\.0: unknown model "gpt"/);
    expect(errorOf({ plans: { gold: { rateLimit: 1, burstLimit: 1, routes: [] } } })).toMatch(/plans\.gold\.routes/);
  });

  it('refuses a plan whose models leave one of its routes with no model to run on', () => {
    const message = errorOf({ plans: { gold: { rateLimit: 1, burstLimit: 1, models: ['nova-micro'] } } });
    expect(message).toMatch(/plans\.gold\.models: allows none of route generate's models \(claude-sonnet, claude-haiku\)/);
    expect(() => parseConfig({ plans: { gold: { rateLimit: 1, burstLimit: 1, routes: ['classify'], models: ['nova-micro'] } } })).not.toThrow();
  });

  it('refuses a tenant directory that would not fit in a function environment (4 KB)', () => {
    const tenants = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`tenant-with-a-long-name-${i}`, { plan: 'gold' }]));
    const plans = { gold: { rateLimit: 1, burstLimit: 1, routes: ['classify', 'generate', 'analyze'], models: ['claude-haiku', 'claude-sonnet', 'claude-opus', 'nova-micro'] } };
    expect(() => synth({ plans, tenants })).toThrow(/tenants: the \w+ function's environment would reach about \d+ bytes, over Lambda's 4096-byte limit/);
  });
});
