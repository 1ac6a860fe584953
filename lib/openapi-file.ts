import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { openApiDocument } from '../lambda/core/openapi';
import { parseConfig } from './config';

/**
 * openapi.json at the repository's root: the API's OpenAPI 3.1 document for the default configuration, as GET
 * /openapi.json of a default deployment serves it (less its `servers`). `npm run docs:openapi` writes it; a test
 * (test/unit/openapi.test.ts) fails when it is out of date.
 */
export const OPENAPI_FILE = path.join(__dirname, '..', 'openapi.json');

export function defaultOpenApiText(): string {
  const config = parseConfig({});
  const routePaths = Object.values(config.routes).flatMap((route) => (route.path ? [route.path] : []));
  return `${JSON.stringify(openApiDocument({ routePaths }), null, 2)}\n`;
}

if (require.main === module) {
  writeFileSync(OPENAPI_FILE, defaultOpenApiText());
  console.log(`${path.relative(process.cwd(), OPENAPI_FILE)} written`);
}
