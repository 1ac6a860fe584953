import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionHost } from './function-host';
import { buildProxyEvent, mapProxyResult, type HttpResponse } from './proxy-event';
import { ResponseStreamRelay } from './response-stream-relay';
import type { Log, LocalTopology } from './topology';
import { UsagePlanLimiter, type UsagePlanDefinition } from './usage-plans';

export interface ApiMethod {
  resourcePath: string;
  httpMethod: string;
  /** Logical id of the function an AWS_PROXY integration invokes; undefined for a MOCK integration. */
  functionLogicalId?: string;
  /** The integration streams the function's response (`ResponseTransferMode: STREAM`). */
  stream?: boolean;
  /** A MOCK integration: what API Gateway answers by itself. */
  mock?: MockIntegration;
  apiKeyRequired: boolean;
  validateBody: boolean;
  validateParameters: boolean;
  /** Content type -> JSON schema (draft 4) of the body. */
  models: Record<string, object>;
  /** `method.request.header.X` / `.querystring.X` / `.path.X` -> required. */
  requestParameters: Record<string, boolean>;
}

export interface MockIntegration {
  /** Content type -> request mapping template; its output's `statusCode` selects the integration response. */
  requestTemplates: Record<string, string>;
  /** What a request of a content type without a template gets: passed through, or refused with 415. */
  passthroughBehavior: 'WHEN_NO_MATCH' | 'WHEN_NO_TEMPLATES' | 'NEVER';
  responses: MockIntegrationResponse[];
}

export interface MockIntegrationResponse {
  /** The method response status this integration response answers with. */
  statusCode: number;
  /** Regex matched against the mock's status code; the response without one is the default. */
  selectionPattern?: string;
  /** Literal header values (`method.response.header.X: "'value'"`). */
  headers: Record<string, string>;
  /** Content type -> response mapping template (the body). */
  templates: Record<string, string>;
}

export interface GatewayResponse {
  statusCode?: number;
  headers: Record<string, string>;
  template?: string;
}

export interface RestApiDefinition {
  logicalId: string;
  stage: string;
  methods: ApiMethod[];
  gatewayResponses: Record<string, GatewayResponse>;
  apiKeys: LocalApiKey[];
  /** Usage plans attached to the served stage; a key in none of them is refused, as on AWS. */
  usagePlans: UsagePlanDefinition[];
}

export interface LocalApiKey {
  /** The key's logical id: its `Ref`, hence `requestContext.identity.apiKeyId` and the tenant of its jobs. */
  id: string;
  /** The template's `Value`, else one generated at start. */
  value: string;
  /** Its `quarry:tenant` tag, else its `Name`, else its logical id. */
  tenant: string;
  enabled: boolean;
}

const TENANT_TAG = 'quarry:tenant';

/** A key value like the ones API Gateway generates: 40 letters and digits. */
export function generateApiKeyValue(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(40)].map((b) => alphabet[b % alphabet.length]).join('');
}

type Props = Record<string, unknown>;
const refOf = (value: unknown): string | undefined => {
  if (value && typeof value === 'object') {
    const v = value as Props;
    if (typeof v.Ref === 'string') return v.Ref;
    const att = v['Fn::GetAtt'];
    if (Array.isArray(att) && att[1] === 'RootResourceId') return `${String(att[0])}#root`;
  }
  return undefined;
};
const literalHeader = (value: unknown) => (typeof value === 'string' && /^'.*'$/s.test(value) ? value.slice(1, -1) : undefined);

/**
 * Reads every REST API of the template: its resource tree, methods and the functions they integrate with, its
 * stage, request validators and models, gateway responses and API keys.
 */
export function readRestApis(topology: LocalTopology, generateKey: () => string = generateApiKeyValue): RestApiDefinition[] {
  const resources = topology.template.Resources;
  const functionByArn = new Map([...topology.resources].filter(([, r]) => r.type === 'AWS::Lambda::Function').map(([id, r]) => [r.attributes.Arn, id]));
  const apis: RestApiDefinition[] = [];

  for (const [apiId] of topology.ofType('AWS::ApiGateway::RestApi')) {
    const belongs = (p: Props) => refOf(p.RestApiId) === apiId;
    const paths = new Map<string, string>([[`${apiId}#root`, '/']]);
    const pathOf = (resourceRef: string | undefined, seen = new Set<string>()): string | undefined => {
      if (!resourceRef) return undefined;
      if (paths.has(resourceRef)) return paths.get(resourceRef);
      const r = resources[resourceRef];
      if (!r || r.Type !== 'AWS::ApiGateway::Resource' || seen.has(resourceRef)) return undefined;
      seen.add(resourceRef);
      const parent = pathOf(refOf(r.Properties?.ParentId), seen);
      if (parent === undefined) return undefined;
      const path = `${parent === '/' ? '' : parent}/${String(r.Properties?.PathPart)}`;
      paths.set(resourceRef, path);
      return path;
    };

    const stageResource = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Stage' && belongs(r.Properties ?? {}));
    const deployment = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Deployment' && belongs(r.Properties ?? {}) && r.Properties?.StageName);
    const stage = String(stageResource?.Properties?.StageName ?? deployment?.Properties?.StageName ?? 'prod');

    const methods: ApiMethod[] = [];
    for (const [methodId, r] of topology.ofType('AWS::ApiGateway::Method')) {
      const p = r.Properties ?? {};
      if (!belongs(p)) continue;
      const resourcePath = pathOf(refOf(p.ResourceId));
      if (!resourcePath) throw new Error(`${methodId}: cannot place its resource in the API's resource tree`);
      const integration = (p.Integration ?? {}) as Props;
      const method: ApiMethod = {
        resourcePath,
        httpMethod: String(p.HttpMethod).toUpperCase(),
        apiKeyRequired: p.ApiKeyRequired === true || p.ApiKeyRequired === 'true',
        validateBody: false,
        validateParameters: false,
        models: {},
        requestParameters: Object.fromEntries(Object.entries((p.RequestParameters ?? {}) as Props).map(([k, v]) => [k, v === true || v === 'true'])),
      };
      if (integration.Type === 'AWS_PROXY') {
        const uri = topology.resolve<string>(integration.Uri, `${methodId}.Integration.Uri`);
        const fnArn = /\/functions\/(arn:[^/]+)\/(?:response-streaming-)?invocations$/.exec(uri)?.[1];
        const unqualified = fnArn?.split(':').slice(0, 7).join(':');
        const target = unqualified ? functionByArn.get(unqualified) : undefined;
        if (!target) throw new Error(`${methodId}: integration ${uri} does not invoke a function of this stack`);
        method.functionLogicalId = target;
        if (integration.ResponseTransferMode === 'STREAM') method.stream = true;
      } else if (integration.Type === 'MOCK') {
        method.mock = readMockIntegration(topology.resolve<Props>(integration, `${methodId}.Integration`));
      } else {
        throw new Error(`${methodId}: integration type ${String(integration.Type)} is not served locally`);
      }
      const validatorId = refOf(p.RequestValidatorId);
      if (validatorId) {
        const v = resources[validatorId]?.Properties ?? {};
        method.validateBody = v.ValidateRequestBody === true || v.ValidateRequestBody === 'true';
        method.validateParameters = v.ValidateRequestParameters === true || v.ValidateRequestParameters === 'true';
      }
      for (const [contentType, model] of Object.entries((p.RequestModels ?? {}) as Props)) {
        const modelId = refOf(model);
        const schema = modelId ? resources[modelId]?.Properties?.Schema : undefined;
        if (schema && typeof schema === 'object') method.models[contentType] = topology.resolve<object>(schema, `${modelId}.Schema`);
      }
      methods.push(method);
    }

    const gatewayResponses: Record<string, GatewayResponse> = {};
    for (const [, r] of topology.ofType('AWS::ApiGateway::GatewayResponse')) {
      const p = r.Properties ?? {};
      if (!belongs(p)) continue;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries((p.ResponseParameters ?? {}) as Props)) {
        const value = literalHeader(v);
        if (value !== undefined) headers[k.replace(/^gatewayresponse\.header\./, '')] = value;
      }
      const templates = (p.ResponseTemplates ?? {}) as Record<string, string>;
      gatewayResponses[String(p.ResponseType)] = {
        statusCode: p.StatusCode !== undefined ? Number(p.StatusCode) : undefined,
        headers,
        template: templates['application/json'] ?? Object.values(templates)[0],
      };
    }

    const apiKeys = topology.ofType('AWS::ApiGateway::ApiKey').map(([id, r]): LocalApiKey => {
      const p = r.Properties ?? {};
      const tags = (Array.isArray(p.Tags) ? p.Tags : []) as Array<{ Key?: unknown; Value?: unknown }>;
      const tag = tags.find((t) => t.Key === TENANT_TAG)?.Value;
      return {
        id,
        value: typeof p.Value === 'string' ? p.Value : generateKey(),
        tenant: typeof tag === 'string' ? tag : typeof p.Name === 'string' ? p.Name : id,
        enabled: p.Enabled !== false && p.Enabled !== 'false',
      };
    });
    const usagePlans = readUsagePlans(topology, apiId, stage);
    apis.push({ logicalId: apiId, stage, methods, gatewayResponses, apiKeys, usagePlans });
  }
  return apis;
}

function readMockIntegration(integration: Props): MockIntegration {
  const behavior = String(integration.PassthroughBehavior ?? 'WHEN_NO_MATCH').toUpperCase();
  return {
    requestTemplates: Object.fromEntries(Object.entries((integration.RequestTemplates ?? {}) as Props).map(([type, t]) => [type.toLowerCase(), String(t)])),
    passthroughBehavior: behavior === 'NEVER' || behavior === 'WHEN_NO_TEMPLATES' ? behavior : 'WHEN_NO_MATCH',
    responses: ((integration.IntegrationResponses ?? []) as Props[]).map((r) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries((r.ResponseParameters ?? {}) as Props)) {
        const value = literalHeader(v);
        if (value !== undefined) headers[k.replace(/^method\.response\.header\./, '')] = value;
      }
      return {
        statusCode: Number(r.StatusCode ?? 200),
        ...(typeof r.SelectionPattern === 'string' && r.SelectionPattern !== '' && { selectionPattern: r.SelectionPattern }),
        headers,
        templates: Object.fromEntries(Object.entries((r.ResponseTemplates ?? {}) as Props).map(([type, t]) => [type, String(t)])),
      };
    }),
  };
}

/** The usage plans of the template attached to this API's stage, with their throttle, quota and keys. */
function readUsagePlans(topology: LocalTopology, apiId: string, stage: string): UsagePlanDefinition[] {
  const planKeys = topology.ofType('AWS::ApiGateway::UsagePlanKey').map(([, r]) => r.Properties ?? {});
  const plans: UsagePlanDefinition[] = [];
  for (const [planId, r] of topology.ofType('AWS::ApiGateway::UsagePlan')) {
    const p = r.Properties ?? {};
    const stages = (Array.isArray(p.ApiStages) ? p.ApiStages : []) as Props[];
    const attached = stages.some((s) => refOf(s.ApiId) === apiId && topology.resolve<string>(s.Stage, `${planId}.ApiStages.Stage`) === stage);
    if (!attached) continue;
    const throttle = (p.Throttle ?? {}) as Props;
    const quota = p.Quota as Props | undefined;
    plans.push({
      logicalId: planId,
      rateLimit: throttle.RateLimit !== undefined ? Number(throttle.RateLimit) : undefined,
      burstLimit: throttle.BurstLimit !== undefined ? Number(throttle.BurstLimit) : undefined,
      quota: quota?.Limit !== undefined ? { limit: Number(quota.Limit), period: String(quota.Period ?? 'DAY').toUpperCase() as 'DAY' | 'WEEK' | 'MONTH' } : undefined,
      keyIds: planKeys.filter((k) => refOf(k.UsagePlanId) === planId && (k.KeyType ?? 'API_KEY') === 'API_KEY').flatMap((k) => refOf(k.KeyId) ?? []),
    });
  }
  return plans;
}

export interface RouteMatch {
  method?: ApiMethod;
  resourcePath?: string;
  pathParameters: Record<string, string> | null;
  /** A resource matched the path but has no method for the verb. */
  methodNotAllowed: boolean;
}

/** Finds the method serving a request as API Gateway does: literal path parts before {param}, {param} before {proxy+}. */
export function matchRoute(methods: ApiMethod[], httpMethod: string, path: string): RouteMatch {
  const segments = path.split('/').filter(Boolean).map((s) => safeDecode(s));
  const byResource = new Map<string, ApiMethod[]>();
  for (const m of methods) byResource.set(m.resourcePath, [...(byResource.get(m.resourcePath) ?? []), m]);

  let best: { resourcePath: string; params: Record<string, string>; score: number[] } | undefined;
  for (const resourcePath of byResource.keys()) {
    const parts = resourcePath.split('/').filter(Boolean);
    const params: Record<string, string> = {};
    const score: number[] = [];
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const part = parts[i];
      const greedy = /^\{(.+)\+\}$/.exec(part);
      if (greedy) {
        if (i !== parts.length - 1 || segments.length <= i) ok = false;
        else params[greedy[1]] = segments.slice(i).join('/');
        score.push(0);
        break;
      }
      if (i >= segments.length) ok = false;
      else if (/^\{.+\}$/.test(part)) {
        params[part.slice(1, -1)] = segments[i];
        score.push(1);
      } else if (part === segments[i]) score.push(2);
      else ok = false;
    }
    const lastGreedy = /\+\}$/.test(parts[parts.length - 1] ?? '');
    if (!ok || (!lastGreedy && parts.length !== segments.length)) continue;
    if (!best || compareScores(score, best.score) > 0) best = { resourcePath, params, score };
  }
  if (!best) return { method: undefined, pathParameters: null, methodNotAllowed: false };
  const candidates = byResource.get(best.resourcePath)!;
  const method = candidates.find((m) => m.httpMethod === httpMethod) ?? candidates.find((m) => m.httpMethod === 'ANY');
  return {
    method,
    resourcePath: best.resourcePath,
    pathParameters: Object.keys(best.params).length ? best.params : null,
    methodNotAllowed: !method,
  };
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const DEFAULT_STATUS: Record<string, number> = {
  BAD_REQUEST_BODY: 400,
  BAD_REQUEST_PARAMETERS: 400,
  MISSING_AUTHENTICATION_TOKEN: 403,
  INVALID_API_KEY: 403,
  THROTTLED: 429,
  QUOTA_EXCEEDED: 429,
  REQUEST_TOO_LARGE: 413,
  DEFAULT_5XX: 502,
};

export interface GatewayErrorContext {
  responseType: string;
  message: string;
  validationErrorString?: string;
  requestId: string;
  path: string;
  resourcePath?: string;
  httpMethod: string;
  stage: string;
  sourceIp: string;
}

/** Renders an error API Gateway itself answers, with the template's GatewayResponse for its type if there is one. */
export function renderGatewayError(api: RestApiDefinition, ctx: GatewayErrorContext, fallback: { statusCode: number; body: string }): HttpResponse {
  const family = (fallback.statusCode >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX');
  const response = api.gatewayResponses[ctx.responseType] ?? api.gatewayResponses[family];
  if (!response) return { statusCode: fallback.statusCode, headers: [['Content-Type', 'application/json']], body: Buffer.from(fallback.body) };
  const body = renderTemplate(response.template ?? `{"message":$context.error.messageString}`, ctx);
  const headers: Array<[string, string]> = Object.entries(response.headers);
  if (!headers.some(([n]) => n.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/json']);
  return { statusCode: response.statusCode ?? DEFAULT_STATUS[ctx.responseType] ?? fallback.statusCode, headers, body: Buffer.from(body) };
}

/** A mapping template with the `$context` variables filled in (no other VTL: the templates served here use none). */
function renderTemplate(template: string, ctx: GatewayErrorContext): string {
  const values: Record<string, string> = {
    'context.error.messageString': JSON.stringify(ctx.message),
    'context.error.message': ctx.message,
    'context.error.responseType': ctx.responseType,
    'context.error.validationErrorString': ctx.validationErrorString ?? '',
    'context.requestId': ctx.requestId,
    'context.extendedRequestId': ctx.requestId,
    'context.path': `/${ctx.stage}${ctx.path}`,
    'context.resourcePath': ctx.resourcePath ?? '',
    'context.httpMethod': ctx.httpMethod,
    'context.stage': ctx.stage,
    'context.identity.sourceIp': ctx.sourceIp,
  };
  return template.replace(/\$\{(context(?:\.[A-Za-z]+)+)\}|\$(context(?:\.[A-Za-z]+)+)/g, (whole, braced?: string, bare?: string) => values[(braced ?? bare)!] ?? whole);
}

/**
 * What API Gateway answers for a MOCK integration: the request template of the request's content type (JSON when it
 * sends none) gives the status code, which selects the integration response: its status, literal headers and body
 * template. As on AWS, a content type without a template is refused with 415 unless passed through, and a status
 * code that does not parse, or that no response maps, is a 500.
 */
export function answerMock(api: RestApiDefinition, mock: MockIntegration, request: { contentType?: string; body: string }, ctx: GatewayErrorContext): HttpResponse {
  const internalError = () => renderGatewayError(api, { ...ctx, responseType: 'DEFAULT_5XX', message: 'Internal server error' }, { statusCode: 500, body: '{"message": "Internal server error"}' });
  const mediaType = (request.contentType?.split(';')[0].trim() || 'application/json').toLowerCase();
  let output = mock.requestTemplates[mediaType];
  if (output === undefined) {
    const refused = mock.passthroughBehavior === 'NEVER' || (mock.passthroughBehavior === 'WHEN_NO_TEMPLATES' && Object.keys(mock.requestTemplates).length > 0);
    if (refused) return renderGatewayError(api, { ...ctx, responseType: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' }, { statusCode: 415, body: '{"message":"Unsupported Media Type"}' });
    output = request.body;
  }
  let statusCode: unknown;
  try {
    statusCode = (JSON.parse(renderTemplate(output, ctx)) as { statusCode?: unknown } | null)?.statusCode;
  } catch {
    return internalError();
  }
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode)) return internalError();
  const response =
    mock.responses.find((r) => r.selectionPattern !== undefined && new RegExp(`^(?:${r.selectionPattern})$`).test(String(statusCode))) ??
    mock.responses.find((r) => r.selectionPattern === undefined);
  if (!response) return internalError();
  const [type, template] = Object.entries(response.templates).find(([t]) => t.toLowerCase() === 'application/json') ?? Object.entries(response.templates)[0] ?? [];
  const headers: Array<[string, string]> = Object.entries(response.headers);
  if (!headers.some(([n]) => n.toLowerCase() === 'content-type')) headers.push(['Content-Type', type ?? 'application/json']);
  return { statusCode: response.statusCode, headers, body: Buffer.from(template === undefined ? '' : renderTemplate(template, ctx)) };
}

export interface ApiServerOptions {
  api: RestApiDefinition;
  functions: Map<string, FunctionHost>;
  port: number;
  host?: string;
  log: Log;
}

export interface ApiServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Serves a REST API locally at the root (`/jobs`) and under its stage (`/v1/jobs`, the deployed stage URL's paths),
 * invoking each AWS_PROXY method's function with an API Gateway v1 proxy event.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { api, functions, log } = options;
  const limiter = new UsagePlanLimiter(api.usagePlans);
  const validators = new Map<object, (body: unknown) => string | undefined>();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Ajv = require('ajv-draft-04') as new (opts: object) => { compile(schema: object): ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null } };
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validatorFor = (schema: object) => {
    let validate = validators.get(schema);
    if (!validate) {
      const compiled = ajv.compile(schema);
      validate = (body) => (compiled(body) ? undefined : `[${(compiled.errors ?? []).map((e) => `${e.instancePath || 'instance'} ${e.message ?? 'is invalid'}`).join(', ')}]`);
      validators.set(schema, validate);
    }
    return validate;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    let path = url.pathname;
    let match = matchRoute(api.methods, method, path);
    const stagePrefix = `/${api.stage}`;
    if (!match.resourcePath && (path === stagePrefix || path.startsWith(`${stagePrefix}/`))) {
      path = path.slice(stagePrefix.length) || '/';
      match = matchRoute(api.methods, method, path);
    }
    const errorContext = (responseType: string, message: string, validationErrorString?: string): GatewayErrorContext => ({
      responseType,
      message,
      validationErrorString,
      requestId,
      path,
      resourcePath: match.resourcePath,
      httpMethod: method,
      stage: api.stage,
      sourceIp,
    });

    const respond = (response: HttpResponse, note = '') => {
      res.statusCode = response.statusCode;
      for (const [name, value] of response.headers) res.appendHeader(name, value);
      res.setHeader('x-amzn-RequestId', requestId);
      res.setHeader('Content-Length', response.body.length);
      res.end(response.body);
      log(`api ${method} ${url.pathname}${url.search} ${response.statusCode} ${Date.now() - started}ms${note}`);
    };

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        respond(renderGatewayError(api, errorContext('REQUEST_TOO_LARGE', 'Request Too Long'), { statusCode: 413, body: '{"message":"Request Too Long"}' }));
        req.destroy();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks).toString('utf8');

    if (!match.method) {
      // As API Gateway: a path, or a method of a path, that the API does not define is 403 "Missing Authentication
      // Token", which the template's gateway response may rephrase. Without one, a plain 404 or 405 with Allow.
      const explicit = api.gatewayResponses.MISSING_AUTHENTICATION_TOKEN;
      if (explicit) {
        respond(renderGatewayError(api, errorContext('MISSING_AUTHENTICATION_TOKEN', 'Missing Authentication Token'), { statusCode: 403, body: '' }));
      } else if (match.methodNotAllowed) {
        const allow = [...new Set(api.methods.filter((m) => m.resourcePath === match.resourcePath).map((m) => m.httpMethod))].sort().join(', ');
        const body = JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${match.resourcePath}; use ${allow}` } });
        respond({ statusCode: 405, headers: [['Content-Type', 'application/json'], ['Allow', allow]], body: Buffer.from(body) });
      } else {
        const body = JSON.stringify({ error: { code: 'NOT_FOUND', message: `No route for ${method} ${url.pathname}` } });
        respond({ statusCode: 404, headers: [['Content-Type', 'application/json']], body: Buffer.from(body) });
      }
      return;
    }
    const target = match.method;

    let apiKey: LocalApiKey | undefined;
    if (target.apiKeyRequired) {
      const given = req.headers['x-api-key'];
      apiKey = api.apiKeys.find((k) => k.enabled && k.value === given);
      // As API Gateway: a missing, unknown or disabled key, or one in no usage plan of the stage, is refused alike.
      if (!apiKey || !limiter.planOf(apiKey.id)) {
        respond(renderGatewayError(api, errorContext('INVALID_API_KEY', 'Forbidden'), { statusCode: 403, body: '{"message":"Forbidden"}' }));
        return;
      }
      const admission = limiter.admit(apiKey.id);
      if (admission === 'THROTTLED') {
        respond(renderGatewayError(api, errorContext('THROTTLED', 'Too Many Requests'), { statusCode: 429, body: '{"message":"Too Many Requests"}' }), ` (throttled: ${apiKey.tenant})`);
        return;
      }
      if (admission === 'QUOTA_EXCEEDED') {
        respond(renderGatewayError(api, errorContext('QUOTA_EXCEEDED', 'Limit Exceeded'), { statusCode: 429, body: '{"message":"Limit Exceeded"}' }), ` (quota exceeded: ${apiKey.tenant})`);
        return;
      }
    }

    if (target.validateParameters) {
      const missing = Object.entries(target.requestParameters)
        .filter(([, required]) => required)
        .map(([name]) => /^method\.request\.(header|querystring|path)\.(.+)$/.exec(name))
        .filter((m): m is RegExpExecArray => !!m)
        .filter(([, where, name]) =>
          where === 'header' ? req.headers[name.toLowerCase()] === undefined : where === 'querystring' ? !url.searchParams.has(name) : !match.pathParameters?.[name],
        )
        .map(([, , name]) => name);
      if (missing.length) {
        const message = `Missing required request parameters: [${missing.join(', ')}]`;
        respond(renderGatewayError(api, errorContext('BAD_REQUEST_PARAMETERS', message), { statusCode: 400, body: JSON.stringify({ message }) }));
        return;
      }
    }

    if (target.validateBody && Object.keys(target.models).length) {
      const contentType = String(req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
      // As API Gateway: the model of the request's content type, else `$default`; another content type is not validated.
      const schema = target.models[contentType] ?? target.models.$default;
      if (schema) {
        let parsed: unknown;
        let problem: string | undefined;
        try {
          parsed = JSON.parse(body || 'null');
        } catch (error) {
          problem = `[Invalid JSON: ${(error as Error).message}]`;
        }
        problem ??= validatorFor(schema)(parsed);
        if (problem) {
          const escaped = JSON.stringify(problem).slice(1, -1);
          respond(renderGatewayError(api, errorContext('BAD_REQUEST_BODY', 'Invalid request body', escaped), { statusCode: 400, body: '{"message": "Invalid request body"}' }));
          return;
        }
      }
    }

    if (target.mock) {
      respond(answerMock(api, target.mock, { contentType: req.headers['content-type'], body }, errorContext('MOCK', '')));
      return;
    }

    /** A streaming integration: the function's bytes reach the client as it writes them. */
    const relayStream = async (fn: FunctionHost, proxyEvent: unknown) => {
      const relay = new ResponseStreamRelay(res, requestId);
      const result = await fn.invoke(proxyEvent, (chunk) => relay.push(chunk));
      if (!result.ok) log(`api ${fn.name} failed: ${result.error.errorType}: ${result.error.errorMessage}`);
      if (relay.end().complete) {
        log(`api ${method} ${url.pathname}${url.search} ${relay.statusCode} ${Date.now() - started}ms (streamed)${result.ok ? '' : ' (cut short)'}`);
        return;
      }
      // Nothing was sent: a failed invocation, or a stream without its HTTP prelude, is API Gateway's 502.
      respond(renderGatewayError(api, errorContext('DEFAULT_5XX', 'Internal server error'), { statusCode: 502, body: '{"message": "Internal server error"}' }), result.ok ? ' (streamed response without its prelude)' : '');
    };

    const host = functions.get(target.functionLogicalId!);
    if (!host) throw new Error(`no local function ${target.functionLogicalId}`);
    const event = buildProxyEvent(
      { method, path, query: url.search.slice(1), rawHeaders: req.rawHeaders, body, sourceIp },
      { resourcePath: target.resourcePath, pathParameters: match.pathParameters, stage: api.stage, apiId: api.logicalId },
      { requestId, requestTimeEpoch: started, apiKey: apiKey?.value, apiKeyId: apiKey?.id },
    );
    if (target.stream) {
      await relayStream(host, event);
      return;
    }
    const result = await host.invoke(event);
    if (!result.ok) {
      log(`api ${host.name} failed: ${result.error.errorType}: ${result.error.errorMessage}`);
      respond(renderGatewayError(api, errorContext('DEFAULT_5XX', 'Internal server error'), { statusCode: 502, body: '{"message": "Internal server error"}' }));
      return;
    }
    const mapped = mapProxyResult(result.value);
    respond(mapped, mapped.statusCode === 502 && result.value !== null ? ' (malformed Lambda proxy response)' : '');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      log(`api ${req.method} ${req.url} failed: ${error.message}`);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ message: 'Internal server error' }));
      }
    });
  });
  // Clients keep connections open between requests (as to API Gateway); Node's 5 s default closes them under their feet.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
