import { bedrockResourceArns, bedrockResourceArnsFor } from '../../lib/bedrock-arns';

const env = { partition: 'aws', region: 'eu-west-1', account: '123456789012' };

describe('bedrockResourceArns', () => {
  it('maps a foundation model id to its ARN in the stack region', () => {
    expect(bedrockResourceArns('anthropic.claude-3-haiku-20240307-v1:0', env)).toEqual([
      'arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
    ]);
  });

  it('maps a geographic inference profile to the profile and its model in every destination region', () => {
    expect(bedrockResourceArns('eu.anthropic.claude-sonnet-4-20250514-v1:0', env)).toEqual([
      'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0',
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
    ]);
  });

  it.each(['us', 'apac', 'us-gov', 'jp'])('recognizes the %s. profile prefix', (prefix) => {
    const [profile, model] = bedrockResourceArns(`${prefix}.amazon.nova-pro-v1:0`, env);
    expect(profile).toBe(`arn:aws:bedrock:eu-west-1:123456789012:inference-profile/${prefix}.amazon.nova-pro-v1:0`);
    expect(model).toBe('arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0');
  });

  it('adds the region-less foundation model ARN for a global profile', () => {
    expect(bedrockResourceArns('global.anthropic.claude-sonnet-4-20250514-v1:0', env)).toEqual([
      'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-20250514-v1:0',
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
      'arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
    ]);
  });

  it('keeps an application inference profile ARN as it is', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3d4e5f6';
    expect(bedrockResourceArns(arn, env)).toEqual([arn]);
  });

  it('adds the destinations of a system inference profile given by ARN', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0';
    expect(bedrockResourceArns(arn, env)).toEqual([arn, 'arn:aws:bedrock:*::foundation-model/meta.llama3-3-70b-instruct-v1:0']);
  });

  it('does not take a provider prefix such as "amazon." for a geography', () => {
    expect(bedrockResourceArns('amazon.nova-lite-v1:0', env)).toEqual(['arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0']);
  });

  it('never grants a bare wildcard', () => {
    const arns = bedrockResourceArnsFor(['us.anthropic.claude-opus-4-1-20250805-v1:0', 'anthropic.claude-3-haiku-20240307-v1:0'], env);
    expect(arns).not.toContain('*');
    expect(arns.every((a) => /foundation-model\/[a-z]|inference-profile\/[a-z]/.test(a))).toBe(true);
  });

  it('lists a shared destination once', () => {
    const arns = bedrockResourceArnsFor(['us.amazon.nova-pro-v1:0', 'eu.amazon.nova-pro-v1:0'], env);
    expect(arns.filter((a) => a === 'arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0')).toHaveLength(1);
    expect(arns).toHaveLength(3);
  });
});
