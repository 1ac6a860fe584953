import { bedrockResourceArns, bedrockResourceArnsFor, crossRegionPrefixOf, isPromptRouter, isSystemInferenceProfile, PROFILE_DESTINATION_REGIONS } from '../../lib/bedrock-arns';

const env = { partition: 'aws', region: 'eu-west-1', account: '123456789012' };
const fm = (region: string, id: string) => `arn:aws:bedrock:${region}::foundation-model/${id}`;
const profile = (region: string, id: string) => `arn:aws:bedrock:${region}:123456789012:inference-profile/${id}`;

describe('bedrockResourceArns', () => {
  it('maps a foundation model id to its ARN in the stack region', () => {
    expect(bedrockResourceArns('anthropic.claude-3-haiku-20240307-v1:0', env)).toEqual([fm('eu-west-1', 'anthropic.claude-3-haiku-20240307-v1:0')]);
  });

  it('maps an eu. profile to the profile and its model in the source region and every EU destination, never any region', () => {
    const arns = bedrockResourceArns('eu.anthropic.claude-sonnet-4-20250514-v1:0', env);
    expect(arns).toEqual([
      profile('eu-west-1', 'eu.anthropic.claude-sonnet-4-20250514-v1:0'),
      ...['eu-west-1', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-2', 'eu-west-3'].map((r) =>
        fm(r, 'anthropic.claude-sonnet-4-20250514-v1:0'),
      ),
    ]);
    expect(arns.join()).not.toContain(':*:');
  });

  it('adds the source region to a geography that does not contain it (a us. profile called from ca-central-1)', () => {
    const arns = bedrockResourceArns('us.amazon.nova-pro-v1:0', { ...env, region: 'ca-central-1' });
    expect(arns).toEqual([
      profile('ca-central-1', 'us.amazon.nova-pro-v1:0'),
      ...['ca-central-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'].map((r) => fm(r, 'amazon.nova-pro-v1:0')),
    ]);
  });

  it.each(Object.entries(PROFILE_DESTINATION_REGIONS))('grants the %s. profile on exactly its destination regions', (prefix, regions) => {
    const arns = bedrockResourceArns(`${prefix}.amazon.nova-pro-v1:0`, { ...env, region: regions[0] });
    expect(arns[0]).toBe(profile(regions[0], `${prefix}.amazon.nova-pro-v1:0`));
    expect(arns.slice(1).sort()).toEqual(regions.map((r) => fm(r, 'amazon.nova-pro-v1:0')).sort());
  });

  it('keeps the apac. geography apart from jp. and au.', () => {
    expect(PROFILE_DESTINATION_REGIONS.jp).toEqual(['ap-northeast-1', 'ap-northeast-3']);
    expect(PROFILE_DESTINATION_REGIONS.au).toEqual(['ap-southeast-2', 'ap-southeast-4']);
    expect(PROFILE_DESTINATION_REGIONS.apac).toEqual(expect.arrayContaining([...PROFILE_DESTINATION_REGIONS.jp, ...PROFILE_DESTINATION_REGIONS.au, 'me-central-1']));
  });

  it('grants a global profile its model in any region and the region-less ARN global routing is authorized against', () => {
    expect(bedrockResourceArns('global.anthropic.claude-sonnet-4-20250514-v1:0', env)).toEqual([
      profile('eu-west-1', 'global.anthropic.claude-sonnet-4-20250514-v1:0'),
      fm('*', 'anthropic.claude-sonnet-4-20250514-v1:0'),
      'arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
    ]);
  });

  it('lets profileDestinationRegions replace the table, for a geography and for global', () => {
    expect(bedrockResourceArns({ modelId: 'eu.amazon.nova-pro-v1:0', profileDestinationRegions: ['eu-west-1', 'eu-central-3'] }, env)).toEqual([
      profile('eu-west-1', 'eu.amazon.nova-pro-v1:0'),
      fm('eu-west-1', 'amazon.nova-pro-v1:0'),
      fm('eu-central-3', 'amazon.nova-pro-v1:0'),
    ]);
    const global = bedrockResourceArns({ modelId: 'global.amazon.nova-pro-v1:0', profileDestinationRegions: ['us-east-1'] }, env);
    expect(global).toEqual([
      profile('eu-west-1', 'global.amazon.nova-pro-v1:0'),
      fm('eu-west-1', 'amazon.nova-pro-v1:0'),
      fm('us-east-1', 'amazon.nova-pro-v1:0'),
      'arn:aws:bedrock:::foundation-model/amazon.nova-pro-v1:0',
    ]);
    expect(global.join()).not.toContain('*');
  });

  it('grants a foundation model in each failover region', () => {
    expect(bedrockResourceArns({ modelId: 'amazon.nova-lite-v1:0', regions: ['eu-central-1', 'eu-west-1', 'eu-west-3'] }, env)).toEqual([
      fm('eu-west-1', 'amazon.nova-lite-v1:0'),
      fm('eu-central-1', 'amazon.nova-lite-v1:0'),
      fm('eu-west-3', 'amazon.nova-lite-v1:0'),
    ]);
  });

  it('grants a profile in each failover region, with that region as one more source of its model', () => {
    const arns = bedrockResourceArns({ modelId: 'us.amazon.nova-pro-v1:0', regions: ['us-west-2'] }, { ...env, region: 'ca-central-1' });
    expect(arns).toEqual([
      profile('ca-central-1', 'us.amazon.nova-pro-v1:0'),
      ...['ca-central-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'].map((r) => fm(r, 'amazon.nova-pro-v1:0')),
      profile('us-west-2', 'us.amazon.nova-pro-v1:0'),
    ]);
  });

  it('keeps an application inference profile ARN as it is, failover regions or not', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3d4e5f6';
    expect(bedrockResourceArns(arn, env)).toEqual([arn]);
    expect(bedrockResourceArns({ modelId: arn, regions: ['eu-central-1'] }, env)).toEqual([arn]);
  });

  it('adds the destinations of a system inference profile given by ARN, sourced in the ARN\'s region', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0';
    expect(bedrockResourceArns(arn, env)).toEqual([arn, ...PROFILE_DESTINATION_REGIONS.us.map((r) => fm(r, 'meta.llama3-3-70b-instruct-v1:0'))]);
  });

  it('forms GovCloud ARNs in the partition it is given', () => {
    const arns = bedrockResourceArns('us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0', { ...env, partition: 'aws-us-gov', region: 'us-gov-west-1' });
    expect(arns).toEqual([
      'arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0',
      'arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0',
      'arn:aws-us-gov:bedrock:us-gov-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0',
    ]);
  });

  it('does not take a provider prefix such as "amazon." for a geography', () => {
    expect(bedrockResourceArns('amazon.nova-lite-v1:0', env)).toEqual([fm('eu-west-1', 'amazon.nova-lite-v1:0')]);
    expect(crossRegionPrefixOf('amazon.nova-lite-v1:0')).toBeUndefined();
    expect(crossRegionPrefixOf('us-gov.amazon.nova-lite-v1:0')).toBe('us-gov');
  });

  it('tells system inference profiles from everything else', () => {
    expect(isSystemInferenceProfile('apac.amazon.nova-pro-v1:0')).toBe(true);
    expect(isSystemInferenceProfile('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0')).toBe(true);
    expect(isSystemInferenceProfile('arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc')).toBe(false);
    expect(isSystemInferenceProfile('amazon.nova-pro-v1:0')).toBe(false);
  });
});

describe('bedrockResourceArnsFor', () => {
  it('never grants a bare wildcard, and a region wildcard only for global profiles', () => {
    const arns = bedrockResourceArnsFor(['us.anthropic.claude-opus-4-1-20250805-v1:0', 'apac.amazon.nova-pro-v1:0', 'global.amazon.nova-lite-v1:0', 'anthropic.claude-3-haiku-20240307-v1:0'], env);
    expect(arns).not.toContain('*');
    expect(arns.every((a) => /foundation-model\/[a-z]|inference-profile\/[a-z]/.test(a))).toBe(true);
    expect(arns.filter((a) => a.includes('*'))).toEqual([fm('*', 'amazon.nova-lite-v1:0')]);
  });

  it('lists a shared destination once', () => {
    const arns = bedrockResourceArnsFor(['jp.amazon.nova-pro-v1:0', 'apac.amazon.nova-pro-v1:0'], { ...env, region: 'ap-northeast-1' });
    expect(arns.filter((a) => a === fm('ap-northeast-1', 'amazon.nova-pro-v1:0'))).toHaveLength(1);
    expect(arns).toHaveLength(2 + PROFILE_DESTINATION_REGIONS.apac.length);
  });
});

describe('a prompt router', () => {
  it('is granted with the models it routes between, in its own region', () => {
    const router = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1';
    const arns = bedrockResourceArns({ modelId: router, promptRouterModels: ['anthropic.claude-3-haiku-20240307-v1:0', 'us.anthropic.claude-3-5-sonnet-20241022-v2:0'] }, { partition: 'aws', region: 'eu-west-1', account: '123456789012' });
    expect(arns[0]).toBe(router);
    expect(arns).toContain('arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0');
    expect(arns).toContain('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0');
    expect(arns).toContain('arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0');
    expect(arns.some((arn) => arn.includes('eu-west-1'))).toBe(false);
    expect(isPromptRouter(router)).toBe(true);
    expect(isPromptRouter('arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc')).toBe(true);
    expect(isPromptRouter('anthropic.claude-3-haiku-20240307-v1:0')).toBe(false);
  });
});
