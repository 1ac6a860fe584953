import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { jobView } from '../core/job';
import { cancelJob } from '../core/job-cancel';
import { cancelSettingsSchema, ENV, readSettings } from '../core/settings';
import { errorResponse, jsonResponse, tenantOf } from './http';
import { setTimeout as sleep } from 'node:timers/promises';
import { documentClient, snsClient } from '../aws/clients';
import { JobEvents } from '../aws/job-events';
import { JobRepository } from '../aws/job-repository';
import { batchTallyFor } from './batch-deps';
import { instrumented, jobLog, tracer } from './observability';

const settings = readSettings(cancelSettingsSchema, process.env);
const deps = {
  store: new JobRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]),
  events: new JobEvents(tracer.captureAWSv3Client(snsClient()), settings[ENV.eventsTopicArn]),
  clock: () => new Date(),
  sleep: (ms: number) => sleep(ms),
  log: jobLog,
  policy: settings[ENV.resilience],
  batches: batchTallyFor(settings[ENV.jobsTable]),
};

/** DELETE /jobs/{jobId}: cancels a job that has not started (lambda/core/job-cancel.ts). */
export const handler = instrumented(async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  try {
    const tenant = tenantOf(event, settings[ENV.tenants]).name;
    const job = await cancelJob(event.pathParameters?.jobId ?? '', tenant, () => context.getRemainingTimeInMillis(), deps);
    return jsonResponse(200, jobView(job));
  } catch (error) {
    return errorResponse(error);
  }
});
