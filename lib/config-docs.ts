import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { configSchema } from './config';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema.type === 'array') return `${schema.items ? typeOf(schema.items) : 'any'}[]`;
  const base = Array.isArray(schema.type) ? schema.type.join(' \\| ') : (schema.type ?? 'object');
  const min = schema.minimum !== undefined && schema.minimum > Number.MIN_SAFE_INTEGER ? schema.minimum : undefined;
  const max = schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? schema.maximum : undefined;
  const range = min !== undefined || max !== undefined ? ` (${min ?? ''}..${max ?? ''})` : '';
  return `${base}${range}`;
}

function rows(properties: Record<string, JsonSchema>, prefix = ''): string[] {
  return Object.entries(properties).flatMap(([name, schema]) => {
    const key = `${prefix}${name}`;
    if (schema.properties && schema.type === 'object' && !schema.description) return rows(schema.properties, `${key}.`);
    const fallback = schema.default === undefined ? '—' : `\`${JSON.stringify(schema.default)}\``;
    return [`| \`${key}\` | ${typeOf(schema)} | ${fallback} | ${(schema.description ?? '').replace(/\|/g, '\\|')} |`];
  });
}

/** The README's table of configuration options, rendered from the zod schema so the two cannot disagree. */
export function configTable(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return ['| option | type | default | meaning |', '|---|---|---|---|', ...rows(schema.properties ?? {})].join('\n');
}

export function readmeWithConfigTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${configTable()}\n${readme.slice(end)}`;
}

if (require.main === module) {
  const file = path.join(__dirname, '..', 'README.md');
  writeFileSync(file, readmeWithConfigTable(readFileSync(file, 'utf8')));
  console.log('README.md configuration table updated');
}
