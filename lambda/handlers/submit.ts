import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { documentClient, sqsClient } from '../aws/clients';
import { JobQueue } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { headerValue, readJsonBody } from '../core/http-body';
import { submitJob } from '../core/job-submission';
import { METRICS } from '../core/metric-names';
import { routeForPath } from '../core/routing';
import { ENV, readSettings, submitSettingsSchema } from '../core/settings';
import { errorResponse, jsonResponse, locationOf, tenantOf } from './http';
import { instrumented, jobLog, metrics, tracer } from './observability';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

const settings = readSettings(submitSettingsSchema, process.env);
const store = new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]);
const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
const routing = settings[ENV.routes];

export const handler = instrumented(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
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
      },
    );
    if (httpStatus === 202) metrics.addMetric(METRICS.jobs.submitted, MetricUnit.Count, 1);
    return jsonResponse(httpStatus, { jobId: job.jobId, status: job.status, createdAt: job.createdAt }, { Location: locationOf(event, `/jobs/${job.jobId}`) });
  } catch (error) {
    metrics.addMetric(METRICS.jobs.rejected, MetricUnit.Count, 1);
    return errorResponse(error);
  }
});
