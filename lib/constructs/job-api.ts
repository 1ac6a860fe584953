import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export const API_STAGE = 'v1';

export interface JobApiProps {
  /** Handles `POST /jobs` and every static route path. */
  readonly submitFunction: lambda.IFunction;
  /** Handles `GET /jobs/{jobId}`. */
  readonly statusFunction: lambda.IFunction;
  /** Handles `GET /models` (models and their circuit breakers). */
  readonly modelsFunction: lambda.IFunction;
  /** JSON schema (draft 4) of the POST body, checked by API Gateway before the submit function runs. */
  readonly jobRequestSchema: apigateway.JsonSchema;
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
  details?: string;
  headers?: Record<string, string>;
}

/** Error responses API Gateway itself sends, in the API's `{error:{code,message}}` shape. */
const GATEWAY_ERRORS: GatewayError[] = [
  { type: apigateway.ResponseType.BAD_REQUEST_BODY, code: 'INVALID_REQUEST', details: '$context.error.validationErrorString' },
  { type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS, code: 'INVALID_REQUEST' },
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
  // API Gateway answers an unknown path or method with 403 "Missing Authentication Token"; it is a 404.
  { type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, statusCode: '404', code: 'NOT_FOUND', message: '"No such resource or method"' },
  { type: apigateway.ResponseType.DEFAULT_4XX, code: '$context.error.responseType' },
  { type: apigateway.ResponseType.DEFAULT_5XX, code: '$context.error.responseType' },
];

/**
 * The public REST API, stage `v1`: `POST /jobs`, `GET /jobs/{jobId}`, `GET /models` and a `POST` per static route
 * path, all Lambda proxy integrations.
 *
 * Default settings: regional endpoint (a regional WAF web ACL can be attached: `webAclArn`), stage throttling,
 * with `cloudWatchRole` JSON access logs and execution logs at ERROR without request/response data, X-Ray tracing,
 * CloudWatch metrics, request body validation against the job request model, JSON error responses from the
 * gateway itself (403 for a missing or invalid API key, 429 with `Retry-After` when throttled or over quota). Every
 * method requires an API key; the keys and usage plans are ApiTenants'.
 */
export class JobApi extends Construct {
  public readonly api: apigateway.RestApi;
  /** The access log group, when `cloudWatchRole` is on. */
  public readonly accessLogGroup?: logs.LogGroup;
  public readonly jobRequestModel: apigateway.Model;
  public readonly requestValidator: apigateway.RequestValidator;
  public readonly webAclAssociation?: wafv2.CfnWebACLAssociation;

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
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: logging ? apigateway.MethodLoggingLevel.ERROR : apigateway.MethodLoggingLevel.OFF,
        dataTraceEnabled: false,
      },
    });

    // The stack exports the URL once, as ApiUrl.
    this.api.node.tryRemoveChild('Endpoint');

    for (const error of GATEWAY_ERRORS) {
      const message = error.message ?? '$context.error.messageString';
      const details = error.details ? `,"details":"${error.details}"` : '';
      this.api.addGatewayResponse(`${error.type.responseType}Response`, {
        type: error.type,
        statusCode: error.statusCode,
        responseHeaders: { 'Content-Type': "'application/json'", ...error.headers },
        templates: { 'application/json': `{"error":{"code":"${error.code}","message":${message}${details}}}` },
      });
    }

    this.jobRequestModel = this.api.addModel('JobRequestModel', {
      contentType: 'application/json',
      modelName: 'JobRequest',
      description: 'Body of POST /jobs and the static route paths',
      schema: props.jobRequestSchema,
    });
    this.requestValidator = this.api.addRequestValidator('RequestValidator', {
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });

    const submit = new apigateway.LambdaIntegration(props.submitFunction, { allowTestInvoke: false });
    const status = new apigateway.LambdaIntegration(props.statusFunction, { allowTestInvoke: false });
    const submitOptions: apigateway.MethodOptions = {
      requestValidator: this.requestValidator,
      requestModels: { 'application/json': this.jobRequestModel },
      requestParameters: { 'method.request.header.Idempotency-Key': false },
    };

    const jobs = this.api.root.addResource('jobs');
    jobs.addMethod('POST', submit, submitOptions);
    jobs.addResource('{jobId}').addMethod('GET', status, {
      requestValidator: this.requestValidator,
      requestParameters: { 'method.request.path.jobId': true },
    });
    this.api.root.addResource('models').addMethod('GET', new apigateway.LambdaIntegration(props.modelsFunction, { allowTestInvoke: false }));
    for (const routePath of props.routePaths ?? []) {
      this.api.root.resourceForPath(routePath).addMethod('POST', submit, submitOptions);
    }

    if (props.webAclArn) {
      this.webAclAssociation = new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: props.webAclArn,
      });
    }
  }
}
