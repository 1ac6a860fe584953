import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { synth } from './synth';

const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

/** Names in the README shaped like the stack's outputs: `...Url`, `...Arn`, `...Name`, `ApiKeyId<Tenant>`. */
const mentioned = [...new Set(readme.match(/\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)*(?:Url|Arn|Name)\b|\bApiKeyId[A-Z][A-Za-z0-9]*/g) ?? [])].sort();

// The tenants the README's examples name.
const { template } = synth({ tenants: { default: {}, acme: {}, 'globex-eu': {} } });
const outputs = Object.keys(template.toJSON().Outputs as Record<string, unknown>).sort();

describe('the README', () => {
  it('mentions outputs at all (the pattern finds them)', () => {
    expect(mentioned).toEqual(expect.arrayContaining(['ApiUrl', 'EventsTopicArn', 'ApiKeyIdDefault']));
  });

  it.each(mentioned)('names %s, which is an output of the synthesized template', (name) => {
    expect(outputs).toContain(name);
  });

  it('documents every output of the template', () => {
    const perTenant = outputs.filter((o) => o.startsWith('ApiKeyId'));
    expect(readme).toContain('`ApiKeyId<Tenant>`');
    for (const output of outputs.filter((o) => !perTenant.includes(o))) expect(readme).toContain(`\`${output}\``);
  });
});
