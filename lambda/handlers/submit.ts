import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { documentClient, s3Client, sqsClient } from '../aws/clients';
import { presignedUpload } from '../aws/input-store';
import { uploadPlace } from '../core/input-upload';
import { JobQueue } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { headerValue, readJsonBody } from '../core/http-body';
import { submitJob } from '../core/job-submission';
import { METRICS } from '../core/metric-names';
import { routeForPath } from '../core/routing';
import { ENV, readSettings, requestPolicyOf, submitSettingsSchema } from '../core/settings';
import { errorResponse, jsonResponse, locationOf, tenantOf } from './http';
import { instrumented, jobLog, metrics, tracer } from './observability';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

const settings = readSettings(submitSettingsSchema, process.env);
const store = new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]);
const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
const routing = settings[ENV.routes];
const requestPolicy = requestPolicyOf(settings);

// Built by the first POST /inputs: a job's submit never needs it (nor its cold start).
let objects: ReturnType<typeof s3Client> | undefined;

/** POST /inputs: where to upload an attachment (the tenant's prefix of the inputs bucket), and a URL to PUT it to. */
async function placeUpload(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const tenant = tenantOf(event, settings[ENV.tenants]);
  const place = uploadPlace(event.body ? readJsonBody(event, 4096) : {}, tenant.name, requestPolicy.inputsBucket);
  const upload = await presignedUpload((objects ??= tracer.captureAWSv3Client(s3Client())), place, settings[ENV.inputUploadSeconds]);
  jobLog.info('input upload placed', { tenant: tenant.name, key: place.key });
  return jsonResponse(201, { s3Uri: place.s3Uri, uploadUrl: upload.url, method: 'PUT', headers: { 'content-type': place.contentType }, expiresAt: upload.expiresAt });
}

export const handler = instrumented(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  if (event.resource === '/inputs') return placeUpload(event).catch(errorResponse);
  try {
    // Parsed here too so that details name every field the way the API reports them (lambda/core/request-issues.ts).
    const body = readJsonBody(event, settings[ENV.maxRequestBytes]);
    const { httpStatus, job } = await submitJob(
      {
        body,
        tenant: tenantOf(event, settings[ENV.tenants]),
        pathRoute: routeForPath(event.resource, routing),
        idempotencyKey: headerValue(event.headers, 'idempotency-key'),
      },
      {
        store,
        queue: { enqueue: (message) => queue.enqueue(settings[ENV.jobsQueueUrl], message) },
        routing,
        jobTtlDays: settings[ENV.jobTtlDays],
        clock: () => new Date(),
        log: jobLog,
        requestPolicy,
      },
    );
    if (httpStatus === 202) metrics.addMetric(METRICS.jobs.submitted, MetricUnit.Count, 1);
    return jsonResponse(httpStatus, { jobId: job.jobId, status: job.status, createdAt: job.createdAt }, { Location: locationOf(event, `/jobs/${job.jobId}`) });
  } catch (error) {
    metrics.addMetric(METRICS.jobs.rejected, MetricUnit.Count, 1);
    return errorResponse(error);
  }
});
