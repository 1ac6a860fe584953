import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { documentClient, s3Client, sqsClient } from '../aws/clients';
import { BatchObjects } from '../aws/batch-files';
import { BatchQueueClient } from '../aws/batch-queue';
import { BatchRepository } from '../aws/batch-store';
import { ResultStore } from '../aws/result-store';
import { acceptBatch } from '../core/batch-acceptance';
import { cancelBatch, describeBatch, viewBatch } from '../core/batch-control';
import { headerValue, readJsonBody } from '../core/http-body';
import { batchesSettingsSchema, ENV, readSettings, requestPolicyOf } from '../core/settings';
import { errorResponse, jsonResponse, locationOf, tenantOf } from './http';
import { instrumented, jobLog, tracer } from './observability';

/** API Gateway's own limit on a request body: an inline batch may use all of it. */
export const BATCH_BODY_MAX_BYTES = 10 * 1024 * 1024;

const settings = readSettings(batchesSettingsSchema, process.env);
const s3 = tracer.captureAWSv3Client(s3Client());
const batches = new BatchRepository(tracer.captureAWSv3Client(documentClient()), settings[ENV.jobsTable]);
const files = new BatchObjects(s3, settings[ENV.resultsBucket]);
const queue = new BatchQueueClient(tracer.captureAWSv3Client(sqsClient()), settings[ENV.batchesQueueUrl]);
const control = {
  batches,
  queue,
  resultsUrl: (key: string) => ResultStore.presignedUrl(s3, { bucket: settings[ENV.resultsBucket], key, bytes: 0 }, settings[ENV.resultUrlSeconds]),
  clock: () => new Date(),
  log: jobLog,
};

/** POST /batches, GET and DELETE /batches/{batchId} (lambda/core/batch-acceptance.ts, batch-control.ts). */
export const handler = instrumented(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  try {
    const tenant = tenantOf(event, settings[ENV.tenants]);
    const batchId = event.pathParameters?.batchId ?? '';
    if (event.httpMethod === 'GET') return jsonResponse(200, await describeBatch(batchId, tenant.name, control));
    if (event.httpMethod === 'DELETE') return jsonResponse(200, await cancelBatch(batchId, tenant.name, control));
    const { httpStatus, batch } = await acceptBatch(
      { body: readJsonBody(event, BATCH_BODY_MAX_BYTES), tenant, idempotencyKey: headerValue(event.headers, 'idempotency-key') },
      {
        batches,
        files,
        queue,
        routing: settings[ENV.routes],
        requestPolicy: requestPolicyOf(settings),
        jobTtlDays: settings[ENV.jobTtlDays],
        maxInputBytes: settings[ENV.batchInputMaxBytes],
        clock: () => new Date(),
        log: jobLog,
      },
    );
    const view = httpStatus === 202 ? { batchId: batch.batchId, status: batch.status, total: batch.total, createdAt: batch.createdAt } : await viewBatch(batch, control);
    return jsonResponse(httpStatus, view, { Location: locationOf(event, `/batches/${batch.batchId}`) });
  } catch (error) {
    return errorResponse(error);
  }
});
