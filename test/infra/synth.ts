import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, type CreateAppOptions, type QuarryBuild } from '../../lib/app';
import type { QuarryConfigInput } from '../../lib/config';

/** Synthesized CloudFormation is untyped JSON; the tests walk it freely and assert on the values. */
 
type CfnValue = any;

export interface Synthesized {
  build: QuarryBuild;
  template: Template;
}

/** Synthesizes Quarry without bundling (template only) and without cdk-nag, unless asked. */
export function synth(config: QuarryConfigInput = {}, options: CreateAppOptions = {}): Synthesized {
  const build = buildApp({ config, bundling: false, nag: false, ...options });
  return { build, template: Template.fromJSON(build.template) };
}

/** The resource of a type whose logical id starts with the given prefix (logical ids end in a hash). */
export function resourceNamed(template: Template, type: string, prefix: string): { id: string; resource: { Properties: Record<string, CfnValue> } } {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(prefix));
  if (matches.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${matches.map(([id]) => id).join(', ') || 'none'}`);
  const [id, resource] = matches[0];
  return { id, resource: resource as { Properties: Record<string, CfnValue> } };
}

/** The statements of the default policy of a function's role, by logical id prefix of the policy. */
export function statementsOf(template: Template, policyPrefix: string): { Sid?: string; Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown }[] {
  return resourceNamed(template, 'AWS::IAM::Policy', policyPrefix).resource.Properties.PolicyDocument.Statement;
}

export const actionsOf = (statement: { Action: string | string[] }) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);
