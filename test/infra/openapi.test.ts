import SwaggerParser from '@apidevtools/swagger-parser';
import { readFileSync } from 'node:fs';
import type { Template } from 'aws-cdk-lib/assertions';
import { openApiDocument } from '../../lambda/core/openapi';
import { defaultOpenApiText, OPENAPI_FILE } from '../../lib/openapi-file';
import { synth } from './synth';

/* The OpenAPI document: in sync with the committed file, valid to an independent validator, and naming exactly the API's operations. */

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** "METHOD /path" of every operation the template's REST API serves through a function (not the 405/OPTIONS mocks). */
function templateOperations(template: Template): string[] {
  const resources = template.findResources('AWS::ApiGateway::Resource');
  const pathOf = (id: string | undefined): string => {
    if (!id) return '';
    const resource = resources[id];
    return `${pathOf(resource.Properties.ParentId.Ref)}/${resource.Properties.PathPart}`;
  };
  return Object.values(template.findResources('AWS::ApiGateway::Method'))
    .filter((m) => m.Properties.Integration?.Type === 'AWS_PROXY')
    .map((m) => `${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId.Ref)}`)
    .sort();
}

function documentOperations(document: { paths?: object }): string[] {
  return Object.entries<Record<string, unknown>>((document.paths ?? {}) as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

describe('the OpenAPI document', () => {
  it('is committed as openapi.json, as `npm run docs:openapi` writes it for the default config', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(defaultOpenApiText());
  });

  it('is a valid OpenAPI 3.1 document to an independent validator (swagger-parser), every $ref resolving', async () => {
    const document = JSON.parse(defaultOpenApiText());
    expect(document.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(document))).resolves.toBeDefined();
  });

  it.each([
    ['the default config', {}],
    ['a config with other route paths', { models: { m: { modelId: 'model-m' } }, routes: { one: { model: 'm', path: '/v2/one' }, two: { model: 'm', path: '/two' } }, defaultRoute: 'one' }],
  ])('documents exactly the operations the synthesized API serves, for %s', (_name, config) => {
    const { template, build } = synth(config);
    const routePaths = Object.values(build.config.routes).flatMap((route) => (route.path ? [route.path] : []));
    expect(documentOperations(openApiDocument({ routePaths }))).toEqual(templateOperations(template));
  });

  it('documents each operation with an id, a 2xx answer, the API key, and JSON errors', () => {
    const document = JSON.parse(defaultOpenApiText());
    expect(document.security).toEqual([{ apiKey: [] }]);
    expect(document.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'x-api-key' });
    const ids: string[] = [];
    for (const [path, item] of Object.entries<Record<string, { responses: Record<string, unknown>; operationId?: string }>>(document.paths)) {
      for (const method of METHODS.filter((m) => item[m])) {
        const { responses, operationId } = item[method];
        expect([path, method, operationId]).toEqual([path, method, expect.stringMatching(/^[a-z][A-Za-z0-9]+$/)]);
        ids.push(operationId!);
        expect([path, method, Object.keys(responses).some((s) => s.startsWith('2'))]).toEqual([path, method, true]);
        expect([path, method, responses['403'], responses['500']]).toEqual([path, method, { $ref: '#/components/responses/InvalidApiKey' }, { $ref: '#/components/responses/InternalError' }]);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('closes every response object, so a field it does not name is a deviation (the conformance test catches it)', () => {
    const { components } = JSON.parse(defaultOpenApiText());
    for (const name of ['Job', 'JobSummary', 'Attempt', 'ErrorBody', 'StreamEventStop']) {
      const schema = components.schemas[name] ?? components.schemas[`${name}Output`];
      expect([name, schema.additionalProperties]).toEqual([name, false]);
    }
  });
});
