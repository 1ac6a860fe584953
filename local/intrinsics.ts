/** What the local runtime knows of the deployed world: pseudo parameters and the local physical resources. */
export interface ResolutionContext {
  region: string;
  accountId: string;
  partition?: string;
  stackName?: string;
  urlSuffix?: string;
  /** Physical value of `Ref <logicalId>`, or undefined when the resource does not exist locally. */
  ref(logicalId: string): string | undefined;
  /** Value of `Fn::GetAtt [logicalId, attribute]`, or undefined when unknown locally. */
  getAtt(logicalId: string, attribute: string): string | undefined;
  parameters?: Record<string, unknown>;
  conditions?: Record<string, unknown>;
  mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

export class UnresolvableIntrinsicError extends Error {
  readonly code = 'UNRESOLVABLE_INTRINSIC';
}

/** Removes a key or list element, as CloudFormation does with `Ref AWS::NoValue`. */
const NO_VALUE = Symbol('AWS::NoValue');

/**
 * Resolves CloudFormation intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub, Fn::If,
 * Fn::Equals/And/Or/Not, Fn::FindInMap, Fn::Base64, Fn::GetAZs) in a template fragment against local values.
 * Pure: the same fragment and context always give the same value. Throws UnresolvableIntrinsicError naming the path.
 */
export function resolveIntrinsics(value: unknown, ctx: ResolutionContext, path = '$'): unknown {
  const resolved = resolve(value, ctx, path);
  return resolved === NO_VALUE ? undefined : resolved;
}

function resolve(value: unknown, ctx: ResolutionContext, path: string): unknown {
  if (Array.isArray(value)) {
    return value.map((v, i) => resolve(v, ctx, `${path}[${i}]`)).filter((v) => v !== NO_VALUE);
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0];
    if (key === 'Ref') return ref(arg, ctx, path);
    if (key === 'Condition' && typeof arg === 'string') return condition(arg, ctx, path);
    if (key.startsWith('Fn::')) return fn(key, arg, ctx, `${path}.${key}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const r = resolve(v, ctx, `${path}.${k}`);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

function fail(path: string, message: string): never {
  throw new UnresolvableIntrinsicError(`${path}: ${message}`);
}

function ref(name: unknown, ctx: ResolutionContext, path: string): unknown {
  if (typeof name !== 'string') fail(path, 'Ref takes a logical id');
  switch (name) {
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::Partition':
      return ctx.partition ?? 'aws';
    case 'AWS::URLSuffix':
      return ctx.urlSuffix ?? 'amazonaws.com';
    case 'AWS::StackName':
      return ctx.stackName ?? 'local';
    case 'AWS::StackId':
      return `arn:${ctx.partition ?? 'aws'}:cloudformation:${ctx.region}:${ctx.accountId}:stack/${ctx.stackName ?? 'local'}/local`;
    case 'AWS::NoValue':
      return NO_VALUE;
    case 'AWS::NotificationARNs':
      return [];
  }
  if (ctx.parameters && name in ctx.parameters) return ctx.parameters[name];
  const physical = ctx.ref(name);
  if (physical === undefined) fail(path, `Ref ${name} has no local value`);
  return physical;
}

function condition(name: string, ctx: ResolutionContext, path: string): boolean {
  const definition = ctx.conditions?.[name];
  if (definition === undefined) fail(path, `unknown condition ${name}`);
  return truthy(resolve(definition, ctx, `${path}<${name}>`), path);
}

function truthy(value: unknown, path: string): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return fail(path, `expected a boolean, got ${JSON.stringify(value)}`);
}

function asString(value: unknown, path: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return fail(path, `expected a string, got ${JSON.stringify(value)}`);
}

function asList(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, `expected a list, got ${JSON.stringify(value)}`);
  return value;
}

function fn(key: string, arg: unknown, ctx: ResolutionContext, path: string): unknown {
  switch (key) {
    case 'Fn::GetAtt': {
      const [logicalId, ...attribute] = typeof arg === 'string' ? arg.split('.') : asList(resolve(arg, ctx, path), path).map((a) => asString(a, path));
      const attributeName = attribute.join('.');
      const value = ctx.getAtt(logicalId, attributeName);
      if (value === undefined) fail(path, `Fn::GetAtt ${logicalId}.${attributeName} has no local value`);
      return value;
    }
    case 'Fn::Join': {
      const [delimiter, list] = asList(arg, path);
      const items = asList(resolve(list, ctx, path), path);
      return items.map((item) => asString(item, path)).join(asString(delimiter, path));
    }
    case 'Fn::Select': {
      const [index, list] = asList(arg, path);
      const items = asList(resolve(list, ctx, path), path);
      const i = Number(resolve(index, ctx, path));
      if (!Number.isInteger(i) || i < 0 || i >= items.length) fail(path, `index ${String(index)} out of range 0..${items.length - 1}`);
      return items[i];
    }
    case 'Fn::Split': {
      const [delimiter, source] = asList(arg, path);
      return asString(resolve(source, ctx, path), path).split(asString(delimiter, path));
    }
    case 'Fn::Sub': {
      const [template, variables] = typeof arg === 'string' ? [arg, {}] : asList(arg, path);
      const vars = (resolve(variables ?? {}, ctx, path) ?? {}) as Record<string, unknown>;
      return asString(template, path).replace(/\$\{(!?)([^}]+)\}/g, (whole, literal: string, name: string) => {
        if (literal) return `\${${name}}`;
        if (name in vars) return asString(vars[name], path);
        if (name.includes('.')) return asString(resolve({ 'Fn::GetAtt': name }, ctx, path), path);
        return asString(ref(name, ctx, `${path}${whole}`), path);
      });
    }
    case 'Fn::If': {
      const [name, whenTrue, whenFalse] = asList(arg, path);
      return resolve(condition(asString(name, path), ctx, path) ? whenTrue : whenFalse, ctx, path);
    }
    case 'Fn::Equals': {
      const [a, b] = asList(resolve(arg, ctx, path), path);
      return JSON.stringify(a) === JSON.stringify(b);
    }
    case 'Fn::And':
      return asList(arg, path).every((c) => truthy(resolve(c, ctx, path), path));
    case 'Fn::Or':
      return asList(arg, path).some((c) => truthy(resolve(c, ctx, path), path));
    case 'Fn::Not':
      return !truthy(resolve(asList(arg, path)[0], ctx, path), path);
    case 'Fn::FindInMap': {
      const [map, top, second] = asList(resolve(arg, ctx, path), path).map((a) => asString(a, path));
      const found = ctx.mappings?.[map]?.[top]?.[second];
      if (found === undefined) fail(path, `no mapping ${map}.${top}.${second}`);
      return found;
    }
    case 'Fn::Base64':
      return Buffer.from(asString(resolve(arg, ctx, path), path)).toString('base64');
    case 'Fn::GetAZs':
      return ['a', 'b', 'c'].map((zone) => `${ctx.region}${zone}`);
    default:
      return fail(path, `${key} is not supported locally`);
  }
}
