import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { documentClient, s3Client } from '../aws/clients';
import { BatchRepository } from '../aws/batch-store';
import { JobRepository } from '../aws/job-repository';
import { ResultStore } from '../aws/result-store';
import { BatchNotFoundError, JobNotFoundError } from '../core/errors';
import { jobView, pollAfterSeconds } from '../core/job';
import { encodeBatchCursor, encodeCursor, jobSummary, listBatchJobs, parseListQuery } from '../core/job-listing';
import { METRICS } from '../core/metric-names';
import { ENV, readSettings, statusSettingsSchema } from '../core/settings';
import { errorResponse, jsonResponse, tenantOf } from './http';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { instrumented, metrics, tracer } from './observability';

const settings = readSettings(statusSettingsSchema, process.env);
const store = new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]);
const s3 = s3Client();
const batches = new BatchRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]);

export const handler = instrumented(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  metrics.addMetric(METRICS.jobs.statusReads, MetricUnit.Count, 1);
  try {
    if (event.resource === '/jobs') return await listJobs(event);
    const jobId = event.pathParameters?.jobId ?? '';
    // Polls read eventually consistent (half the cost); only a job not seen yet (just submitted) is read again strongly.
    const now = new Date();
    const job = /^[A-Za-z0-9-]{1,64}$/.test(jobId) ? ((await store.get(jobId, now, 'eventual')) ?? (await store.get(jobId, now))) : undefined;
    // Another tenant's job answers exactly like an unknown one.
    if (!job || job.tenant !== tenantOf(event, settings[ENV.tenants]).name) throw new JobNotFoundError(jobId);
    const resultUrl = job.resultLocation ? await ResultStore.presignedUrl(s3, job.resultLocation, settings[ENV.resultUrlSeconds]) : undefined;
    const output = job.result?.output && (await ResultStore.presignedOutput(s3, job.result.output, settings[ENV.resultUrlSeconds]));
    const retryAfter = pollAfterSeconds(job, now, settings[ENV.resilience].sweepGraceSeconds);
    const shown = output ? { ...job, result: { ...job.result!, output } } : job;
    return jsonResponse(200, jobView(shown, resultUrl), retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) });
  } catch (error) {
    return errorResponse(error);
  }
});

/** GET /jobs: the caller's jobs, newest first (lambda/core/job-listing.ts). */
async function listJobs(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const tenant = tenantOf(event, settings[ENV.tenants]).name;
  const query = parseListQuery(event.queryStringParameters, tenant);
  if (query.batch) {
    const { batchId, fromSeq } = query.batch;
    const batch = await batches.get(batchId);
    if (!batch || batch.tenant !== tenant) throw new BatchNotFoundError(batchId);
    const page = await listBatchJobs(batch, { limit: query.limit, fromSeq, ...(query.status && { status: query.status }) }, (ids) => store.getMany(ids, new Date()));
    return jsonResponse(200, { jobs: page.jobs.map(jobSummary), ...(page.nextSeq !== undefined && { nextToken: encodeBatchCursor(tenant, batchId, page.nextSeq) }) });
  }
  const page = await store.listForTenant(tenant, query, new Date());
  return jsonResponse(200, { jobs: page.jobs.map(jobSummary), ...(page.next && { nextToken: encodeCursor(tenant, page.next) }) });
}
