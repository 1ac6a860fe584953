import { setTimeout as sleep } from 'node:timers/promises';
import { documentClient, snsClient, sqsClient } from '../aws/clients';
import { JobEvents } from '../aws/job-events';
import { JobQueue } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import type { ResiliencePolicy } from '../core/settings';
import type { JobMessage } from '../core/ports';
import { batchTallyFor } from './batch-deps';
import { jobLog, tracer } from './observability';

/**
 * What the functions that settle jobs outside a delivery (dead-letter handler, sweep) need: the job store, the
 * events topic, the queue to put a job back on, and the policy. One container-wide set per function.
 */
export function settlingDeps(env: { table: string; queueUrl: string; topicArn: string; policy: ResiliencePolicy }) {
  const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
  const store = new JobRepository(tracer.captureAWSv3Client(documentClient()), env.table);
  return {
    store,
    events: new JobEvents(tracer.captureAWSv3Client(snsClient()), env.topicArn),
    requeuer: { requeue: (message: JobMessage, delaySeconds: number) => queue.requeue(env.queueUrl, message, delaySeconds) },
    log: jobLog,
    clock: () => new Date(),
    sleep: (ms: number) => sleep(ms),
    policy: env.policy,
    batches: batchTallyFor(env.table),
  };
}
