/**
 * dynalite parses every ConditionExpression, UpdateExpression, KeyConditionExpression, FilterExpression and
 * ProjectionExpression of every request with a PEG parser: on the local runtime that is about half of the CPU time
 * dynalite spends, and dynalite runs on the runtime's main thread. The pipeline sends the same few expressions over
 * and over with other values, so this memoizes the parse: the tree is kept as a template in which each attribute
 * value the expression names is a slot, and a later request with the same expression, the same names and values of
 * the same types gets a fresh copy of the tree with its own values in the slots.
 *
 * What the parser checks depends on the expression's text, the names and the values' types, with two exceptions
 * that depend on the values themselves (BETWEEN's bounds in order, attribute_type's type name): trees holding
 * either are not kept, nor are the parser's error results, so every request gets the answer dynalite would give.
 */

/** The slice of dynalite's parse context this reads and updates (validations/index.js builds it per request). */
export interface ParseContext {
  attrNames?: Record<string, string>;
  attrVals?: Record<string, Record<string, unknown>>;
  unusedAttrNames?: Record<string, boolean>;
  unusedAttrVals?: Record<string, boolean>;
  isKeyCondition?: boolean;
}

export interface ExpressionParser {
  parse(expression: string, options: { context: ParseContext }): unknown;
}

/** Distinct shapes kept per parser, at most; the pipeline uses a few dozen. Past it, the oldest is dropped. */
export const MAX_TEMPLATES = 1000;

// The grammar's tokens for `#name` and `:value` placeholders (dynalite's ExpressionAttributeName/Value rules).
const NAME_TOKEN = /#[0-9a-zA-Z_]+/g;
const VALUE_TOKEN = /:[0-9a-zA-Z_]+/g;

/** A tree with `Slot`s where the request's attribute values were. */
class Slot {
  constructor(readonly placeholder: string) {}
}

interface Template {
  tree: unknown;
  names: string[];
  values: string[];
}

const memoized = new WeakSet<ExpressionParser>();

/** Replaces `parser.parse` with a memoizing one (once per parser object). */
export function memoizeExpressionParser(parser: ExpressionParser, maxTemplates = MAX_TEMPLATES): void {
  if (memoized.has(parser)) return;
  memoized.add(parser);
  const parse = parser.parse.bind(parser);
  const templates = new Map<string, Template>();
  parser.parse = (expression, options) => {
    const context = options.context;
    const names = distinct(expression.match(NAME_TOKEN));
    const values = distinct(expression.match(VALUE_TOKEN));
    const key = templateKey(expression, names, values, context);
    if (key === undefined) return parse(expression, options);
    const template = templates.get(key);
    if (template) return instantiate(template, context);
    const tree = parse(expression, options);
    if (tree !== null && typeof tree === 'object' && !dependsOnValues(tree)) {
      if (templates.size >= maxTemplates) templates.delete(templates.keys().next().value as string);
      templates.set(key, { tree: slotted(tree, context.attrVals ?? {}, values), names, values });
    }
    return tree;
  };
}

/** Memoizes dynalite's three expression parsers, the module objects its validations call. */
export function memoizeDynaliteExpressions(): void {
  for (const name of ['conditionParser', 'updateParser', 'projectionParser']) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    memoizeExpressionParser(require(`dynalite/db/${name}`) as ExpressionParser);
  }
}

/**
 * What the parse depends on: the text, what each `#name` stands for, each `:value`'s type, and whether it is a key
 * condition. Undefined when a placeholder is not defined: the parser reports that, so it must see the request.
 */
function templateKey(expression: string, names: string[], values: string[], context: ParseContext): string | undefined {
  const parts = [expression, context.isKeyCondition ? 'key' : ''];
  for (const name of names) {
    const stands = context.attrNames?.[name];
    if (!stands) return undefined;
    parts.push(`${name}=${stands}`);
  }
  for (const value of values) {
    const attribute = context.attrVals?.[value];
    if (!attribute || typeof attribute !== 'object') return undefined;
    parts.push(`${value}:${Object.keys(attribute).join(',')}`);
  }
  return parts.join('\u0000');
}

/** A fresh tree with this request's values, and the placeholders marked used as the parser itself would. */
function instantiate(template: Template, context: ParseContext): unknown {
  for (const name of template.names) delete context.unusedAttrNames?.[name];
  for (const value of template.values) delete context.unusedAttrVals?.[value];
  return filled(template.tree, context.attrVals ?? {});
}

function slotted(node: unknown, attrVals: Record<string, unknown>, placeholders: string[]): unknown {
  const placeholder = placeholders.find((p) => attrVals[p] === node);
  if (placeholder !== undefined) return new Slot(placeholder);
  if (Array.isArray(node)) return node.map((child) => slotted(child, attrVals, placeholders));
  if (node !== null && typeof node === 'object') return mapped(node, (child) => slotted(child, attrVals, placeholders));
  return node;
}

function filled(node: unknown, attrVals: Record<string, unknown>): unknown {
  if (node instanceof Slot) return attrVals[node.placeholder];
  if (Array.isArray(node)) return node.map((child) => filled(child, attrVals));
  if (node !== null && typeof node === 'object') return mapped(node, (child) => filled(child, attrVals));
  return node;
}

/** A copy of an object with the same prototype (the parser makes some with none) and each property mapped. */
function mapped(node: object, map: (child: unknown) => unknown): object {
  const copy = Object.create(Object.getPrototypeOf(node)) as Record<string, unknown>;
  for (const [key, child] of Object.entries(node)) copy[key] = map(child);
  return copy;
}

/** Whether the parser's checks of this tree looked at the values themselves, not only their types. */
function dependsOnValues(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(dependsOnValues);
  if (node === null || typeof node !== 'object') return false;
  const record = node as Record<string, unknown>;
  if (record.type === 'between' || (record.type === 'function' && record.name === 'attribute_type')) return true;
  return Object.values(record).some(dependsOnValues);
}

function distinct(tokens: RegExpMatchArray | null): string[] {
  return [...new Set(tokens ?? [])];
}
