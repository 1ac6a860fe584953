import { Duration, Lazy, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export const API_STAGE = 'v1';

export interface JobApiProps {
  /** Handles `POST /jobs`, every static route path and `POST /inputs`. */
  readonly submitFunction: lambda.IFunction;
  /** Handles `GET /jobs` and `GET /jobs/{jobId}`. */
  readonly statusFunction: lambda.IFunction;
  /** Handles `DELETE /jobs/{jobId}`. */
  readonly cancelFunction: lambda.IFunction;
  /** Handles `POST /batches`, `GET` and `DELETE /batches/{batchId}`. */
  readonly batchesFunction: lambda.IFunction;
  /** Handles `GET /models` (models and their circuit breakers). */
  readonly modelsFunction: lambda.IFunction;
  /** Handles `POST /invoke` (a synchronous answer). @default - no /invoke */
  readonly invokeFunction?: lambda.IFunction;
  /** The /invoke integration's timeout, set explicitly (the function answers 504 before it). @default Duration.seconds(29) */
  readonly invokeTimeout?: Duration;
  /** Handles `POST /invoke/stream`, `POST /chat/completions` and the `/conversations` paths through a streaming integration. @default - none of them */
  readonly invokeStreamFunction?: lambda.IFunction;
  /** The /invoke/stream integration's timeout, set explicitly. @default Duration.minutes(5) */
  readonly streamTimeout?: Duration;
  /**
   * JSON schema (draft 4) of the POST body, published as the API's `JobRequest` model for exported SDKs and docs.
   * The gateway does not validate with it: the submit function's zod schema is the one validator, so that every 400
   * names its fields in the API's error shape. @default - no model
   */
  readonly jobRequestSchema?: apigateway.JsonSchema;
  /** Extra `POST` paths that submit to a preset route, e.g. `/api/classify`. @default - none */
  readonly routePaths?: readonly string[];
  /** Stage-wide steady-state requests per second. @default 50 */
  readonly rateLimit?: number;
  /** Stage-wide burst. @default 100 */
  readonly burstLimit?: number;
  /** Regional WAFv2 web ACL to associate with the stage. @default - none */
  readonly webAclArn?: string;
  /** Access log retention. @default logs.RetentionDays.ONE_MONTH */
  readonly accessLogRetention?: logs.RetentionDays;
  /** What `cdk destroy` does to the access log group. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Create the account-level role API Gateway writes CloudWatch logs with (one per account and region, replacing any
   * set before) and log the stage: access logs, execution logs at ERROR. API Gateway refuses both kinds of stage
   * logging where the account has no such role, so without it the stage logs nothing. @default false
   */
  readonly cloudWatchRole?: boolean;
  /** X-Ray tracing of the stage. @default false */
  readonly tracing?: boolean;
}

/** Seconds a throttled caller is told to wait: the token bucket refills within a second at any plan's rate above 1/s. */
export const THROTTLED_RETRY_AFTER_SECONDS = 1;
/**
 * Seconds a caller over its quota is told to wait. Gateway responses are static per API, not per plan or key, so this
 * is a polling interval, not the time the quota resets (the start of the next UTC day, week or month).
 */
export const QUOTA_RETRY_AFTER_SECONDS = 3600;

interface GatewayError {
  type: apigateway.ResponseType;
  statusCode?: string;
  code: string;
  message?: string;
  headers?: Record<string, string>;
}

/**
 * Error responses API Gateway itself sends, in the API's `{error:{code,message}}` shape. No request validator runs
 * (the functions validate), so the gateway's own 400s (BAD_REQUEST_BODY, BAD_REQUEST_PARAMETERS) cannot occur.
 */
const GATEWAY_ERRORS: GatewayError[] = [
  { type: apigateway.ResponseType.REQUEST_TOO_LARGE, code: 'PAYLOAD_TOO_LARGE' },
  { type: apigateway.ResponseType.UNSUPPORTED_MEDIA_TYPE, code: 'UNSUPPORTED_MEDIA_TYPE' },
  // A missing, unknown or disabled x-api-key, or a key in no usage plan of the stage.
  { type: apigateway.ResponseType.INVALID_API_KEY, statusCode: '403', code: 'INVALID_API_KEY', message: '"Missing or invalid API key: send your tenant\'s key in the x-api-key header"' },
  { type: apigateway.ResponseType.ACCESS_DENIED, statusCode: '403', code: 'FORBIDDEN' },
  {
    type: apigateway.ResponseType.THROTTLED,
    statusCode: '429',
    code: 'THROTTLED',
    message: '"Too many requests: over the rate of your usage plan or of the stage"',
    headers: { 'Retry-After': `'${THROTTLED_RETRY_AFTER_SECONDS}'` },
  },
  {
    type: apigateway.ResponseType.QUOTA_EXCEEDED,
    statusCode: '429',
    code: 'QUOTA_EXCEEDED',
    message: '"Request quota of your usage plan exhausted for this period"',
    headers: { 'Retry-After': `'${QUOTA_RETRY_AFTER_SECONDS}'` },
  },
  // API Gateway answers an unknown path with 403 "Missing Authentication Token"; it is a 404. (A known path with
  // another method reaches the resource's ANY method instead: 405.)
  { type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, statusCode: '404', code: 'NOT_FOUND', message: '"No such resource"' },
  { type: apigateway.ResponseType.DEFAULT_4XX, code: '$context.error.responseType' },
  { type: apigateway.ResponseType.DEFAULT_5XX, code: '$context.error.responseType' },
];

/**
 * Request content types the MOCK integrations of the 405 and OPTIONS answers map. Another content type is refused
 * by the gateway with 415 UNSUPPORTED_MEDIA_TYPE (passthrough NEVER): never passed through to the mock, whose
 * status code would then not parse (a 500).
 */
export const MOCK_REQUEST_CONTENT_TYPES = [
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'application/xml',
  'text/xml',
  'text/html',
  'application/octet-stream',
];

/**
 * The public REST API, stage `v1`: `POST /jobs`, `GET /jobs`, `GET /jobs/{jobId}`, `DELETE /jobs/{jobId}`, `GET /models` and a `POST` per static route
 * path, all Lambda proxy integrations. Every resource with a method also answers any other method with
 * `405 METHOD_NOT_ALLOWED` and `OPTIONS` with `204`, both with an `Allow` header listing its methods.
 *
 * Default settings: regional endpoint (a regional WAF web ACL can be attached: `webAclArn`), stage throttling,
 * with `cloudWatchRole` JSON access logs and execution logs at ERROR without request/response data, X-Ray tracing on request,
 * CloudWatch metrics, JSON error responses from the gateway itself (403 for a missing or invalid API key, 404 for an
 * unknown path, 405 for a wrong method, 429 with `Retry-After` when throttled or over quota). Bodies are validated by
 * the functions, not by a gateway request validator, so that every 400 names its fields. Every method requires an
 * API key; the keys and usage plans are ApiTenants'.
 */
export class JobApi extends Construct {
  public readonly api: apigateway.RestApi;
  /** The access log group, when `cloudWatchRole` is on. */
  public readonly accessLogGroup?: logs.LogGroup;
  /** The documentation model of the job request body, if `jobRequestSchema` was given. */
  public readonly jobRequestModel?: apigateway.Model;
  public readonly webAclAssociation?: wafv2.CfnWebACLAssociation;
  /** Methods of each resource, read when the template is written: its `Allow` header. */
  private readonly methodsOf = new Map<apigateway.IResource, string[]>();

  constructor(scope: Construct, id: string, props: JobApiProps) {
    super(scope, id);
    const logging = props.cloudWatchRole ?? false;
    this.accessLogGroup = logging
      ? new logs.LogGroup(this, 'AccessLogs', { retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH, removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN })
      : undefined;
    this.api = new apigateway.RestApi(this, 'Api', {
      description: 'Quarry: asynchronous Amazon Bedrock jobs',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // Stage logging (access and execution) needs the account-level CloudWatch role: opt-in, as it is account-wide.
      cloudWatchRole: logging,
      cloudWatchRoleRemovalPolicy: logging ? RemovalPolicy.RETAIN : undefined,
      // Every method wants a tenant's API key; usage plans (ApiTenants) throttle each key.
      defaultMethodOptions: { apiKeyRequired: true },
      deployOptions: {
        stageName: API_STAGE,
        throttlingRateLimit: props.rateLimit ?? 50,
        throttlingBurstLimit: props.burstLimit ?? 100,
        accessLogDestination: this.accessLogGroup && new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: logging ? apigateway.AccessLogFormat.jsonWithStandardFields() : undefined,
        tracingEnabled: props.tracing ?? false,
        metricsEnabled: true,
        loggingLevel: logging ? apigateway.MethodLoggingLevel.ERROR : apigateway.MethodLoggingLevel.OFF,
        dataTraceEnabled: false,
      },
    });

    // The stack exports the URL once, as ApiUrl.
    this.api.node.tryRemoveChild('Endpoint');

    for (const error of GATEWAY_ERRORS) {
      const message = error.message ?? '$context.error.messageString';
      this.api.addGatewayResponse(`${error.type.responseType}Response`, {
        type: error.type,
        statusCode: error.statusCode,
        responseHeaders: { 'Content-Type': "'application/json'", ...error.headers },
        templates: { 'application/json': `{"error":{"code":"${error.code}","message":${message}}}` },
      });
    }

    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Bodies and headers are validated by the functions against the one zod schema of the contract, so that every 400 answers VALIDATION_ERROR naming each offending field; a gateway validator would answer a second, vaguer error shape first.',
    });

    if (props.jobRequestSchema) {
      this.jobRequestModel = this.api.addModel('JobRequestModel', {
        contentType: 'application/json',
        modelName: 'JobRequest',
        description: 'Body of POST /jobs and the static route paths (documentation: the submit function validates it)',
        schema: props.jobRequestSchema,
      });
    }

    const submit = new apigateway.LambdaIntegration(props.submitFunction, { allowTestInvoke: false });
    const status = new apigateway.LambdaIntegration(props.statusFunction, { allowTestInvoke: false });
    const submitOptions: apigateway.MethodOptions = {
      ...(this.jobRequestModel && { requestModels: { 'application/json': this.jobRequestModel } }),
      requestParameters: { 'method.request.header.Idempotency-Key': false },
    };

    this.addEndpoint('/jobs', 'POST', submit, submitOptions);
    this.addEndpoint('/jobs', 'GET', status);
    const jobPath = { requestParameters: { 'method.request.path.jobId': true } };
    this.addEndpoint('/jobs/{jobId}', 'GET', status, jobPath);
    this.addEndpoint('/jobs/{jobId}', 'DELETE', new apigateway.LambdaIntegration(props.cancelFunction, { allowTestInvoke: false }), jobPath);
    const batches = new apigateway.LambdaIntegration(props.batchesFunction, { allowTestInvoke: false });
    this.addEndpoint('/batches', 'POST', batches, { requestParameters: { 'method.request.header.Idempotency-Key': false } });
    const batchPath = { requestParameters: { 'method.request.path.batchId': true } };
    this.addEndpoint('/batches/{batchId}', 'GET', batches, batchPath);
    this.addEndpoint('/batches/{batchId}', 'DELETE', batches, batchPath);
    // Attachments: where to upload one, in the tenant's part of the inputs bucket (the submit function signs it).
    this.addEndpoint('/inputs', 'POST', submit);
    const models = new apigateway.LambdaIntegration(props.modelsFunction, { allowTestInvoke: false });
    this.addEndpoint('/models', 'GET', models);
    // The OpenAPI document of this API (lambda/core/openapi.ts), generated by the same function from the zod schemas.
    this.addEndpoint('/openapi.json', 'GET', models);
    if (props.invokeFunction) {
      const invoke = new apigateway.LambdaIntegration(props.invokeFunction, { allowTestInvoke: false, timeout: props.invokeTimeout ?? Duration.seconds(29) });
      this.addEndpoint('/invoke', 'POST', invoke, this.jobRequestModel && { requestModels: { 'application/json': this.jobRequestModel } });
    }
    if (props.invokeStreamFunction) {
      const stream = new apigateway.LambdaIntegration(props.invokeStreamFunction, {
        allowTestInvoke: false,
        responseTransferMode: apigateway.ResponseTransferMode.STREAM,
        timeout: props.streamTimeout ?? Duration.minutes(5),
      });
      this.addEndpoint('/invoke/stream', 'POST', stream, this.jobRequestModel && { requestModels: { 'application/json': this.jobRequestModel } });
      // OpenAI-compatible: the openai client's `baseURL: <api host>/v1` (the stage) reaches it; streamed or not, one function.
      this.addEndpoint('/chat/completions', 'POST', stream);
      // Conversations: a turn may stream, so they are served by the same function.
      this.addEndpoint('/conversations', 'POST', stream);
      const byId = { requestParameters: { 'method.request.path.conversationId': true } };
      this.addEndpoint('/conversations/{conversationId}', 'GET', stream, byId);
      this.addEndpoint('/conversations/{conversationId}', 'DELETE', stream, byId);
      this.addEndpoint('/conversations/{conversationId}/messages', 'POST', stream, byId);
    }
    for (const routePath of props.routePaths ?? []) this.addEndpoint(routePath, 'POST', submit, submitOptions);

    if (props.webAclArn) {
      this.webAclAssociation = new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: props.webAclArn,
      });
    }
  }

  /**
   * Serves `httpMethod` on `path`, and keeps the resource's other methods answering `405` and `OPTIONS` answering
   * `204`, each with an `Allow` header that lists this method too. Add every method of the API through here.
   */
  public addEndpoint(path: string, httpMethod: string, integration: apigateway.Integration, options?: apigateway.MethodOptions): apigateway.Method {
    const resource = this.api.root.resourceForPath(path);
    const method = resource.addMethod(httpMethod, integration, options);
    const methods = this.methodsOf.get(resource);
    if (methods) {
      methods.push(httpMethod.toUpperCase());
      return method;
    }
    const known = [httpMethod.toUpperCase()];
    this.methodsOf.set(resource, known);
    const allow = () => [...new Set([...known.sort(), 'OPTIONS'])].join(', ');
    const allowHeader = Lazy.string({ produce: () => `'${allow()}'` });
    // In a mapping template, so `$context.httpMethod` is the method the caller used.
    const body = Lazy.string({
      produce: () => JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: `$context.httpMethod is not allowed on ${resource.path}; allowed: ${allow()}` } }),
    });
    addMockMethod(resource, 'ANY', 405, { Allow: allowHeader, 'Cache-Control': "'no-store'" }, body);
    addMockMethod(resource, 'OPTIONS', 204, { Allow: allowHeader });
    return method;
  }
}

/**
 * Adds a method answered by a MOCK integration: `statusCode` with these header values (quoted literals) and body.
 * It requires the API key like every method, so a caller without one gets 403 INVALID_API_KEY first.
 */
function addMockMethod(resource: apigateway.IResource, httpMethod: string, statusCode: number, headers: Record<string, string>, body?: string): apigateway.Method {
  const status = String(statusCode);
  const integration = new apigateway.MockIntegration({
    passthroughBehavior: apigateway.PassthroughBehavior.NEVER,
    requestTemplates: Object.fromEntries(MOCK_REQUEST_CONTENT_TYPES.map((type) => [type, `{"statusCode": ${statusCode}}`])),
    integrationResponses: [
      {
        statusCode: status,
        responseParameters: Object.fromEntries(Object.entries(headers).map(([name, value]) => [`method.response.header.${name}`, value])),
        ...(body !== undefined && { responseTemplates: { 'application/json': body } }),
      },
    ],
  });
  return resource.addMethod(httpMethod, integration, {
    methodResponses: [{ statusCode: status, responseParameters: Object.fromEntries(Object.keys(headers).map((name) => [`method.response.header.${name}`, true])) }],
  });
}
