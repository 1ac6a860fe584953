import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { documentClient, sqsClient } from '../aws/clients';
import { DynamoConversationStore } from '../aws/conversation-store';
import { JobQueue } from '../aws/job-queue';
import { JobRepository } from '../aws/job-repository';
import { ConversationNotFoundError, conversationView } from '../core/conversation';
import { createConversation, deleteConversation, postTurn, readConversation, type ConversationDeps } from '../core/conversation-turns';
import { readJsonBody } from '../core/http-body';
import { conversationSettingsSchema, ENV, readSettings } from '../core/settings';
import type { ResponseWriter } from './event-stream';
import { jsonResponse, locationOf, tenantOf } from './http';
import type { invocationDeps } from './invocation-deps';
import { jobLog, tracer } from './observability';

type Invocation = ReturnType<typeof invocationDeps>;

/** Seconds a crashed synchronous turn blocks its conversation, beyond the stream timeout: then it is cleared. */
const TURN_LEASE_MARGIN_MS = 60_000;


/** The conversation dependencies of the streaming function: one set per container. */
export function conversationDeps(env: Record<string, string | undefined>, invocation: Invocation): ConversationDeps {
  const settings = readSettings(conversationSettingsSchema, env);
  const documents = tracer.captureAWSv3Client(documentClient());
  const store = new JobRepository(documents, settings[ENV.jobsTable]);
  const queue = new JobQueue(tracer.captureAWSv3Client(sqsClient()));
  return {
    conversations: new DynamoConversationStore(documents, settings[ENV.jobsTable]),
    jobs: store,
    submission: {
      store,
      queue: { enqueue: (message) => queue.enqueue(settings[ENV.jobsQueueUrl], message) },
      routing: invocation.settings[ENV.routes],
      jobTtlDays: settings[ENV.jobTtlDays],
      clock: () => new Date(),
      log: jobLog,
      requestPolicy: invocation.deps.requestPolicy,
    },
    invocation: invocation.deps,
    turnLeaseMs: invocation.timeoutSeconds * 1000 + TURN_LEASE_MARGIN_MS,
    ttlDays: settings[ENV.jobTtlDays],
  };
}

/**
 * The /conversations paths, on the streaming integration so that a turn can stream: every other answer is JSON,
 * written through the stream's HTTP prelude.
 */
export async function answerConversation(event: APIGatewayProxyEvent, writer: ResponseWriter, context: Context, invocation: Invocation, deps: ConversationDeps): Promise<void> {
  const tenant = tenantOf(event, invocation.settings[ENV.tenants]);
  const conversationId = event.pathParameters?.conversationId ?? '';
  if (event.resource === '/conversations') {
    const conversation = await createConversation(readJsonBody(event, invocation.settings[ENV.maxRequestBytes]), tenant, deps);
    return writer.json(jsonResponse(201, { conversationId: conversation.conversationId }, { Location: locationOf(event, `/conversations/${conversation.conversationId}`) }));
  }
  if (!/^[A-Za-z0-9-]{1,64}$/.test(conversationId)) throw new ConversationNotFoundError(conversationId);
  if (event.resource === '/conversations/{conversationId}' && event.httpMethod === 'GET') {
    return writer.json(jsonResponse(200, conversationView(await readConversation(conversationId, tenant, deps))));
  }
  if (event.resource === '/conversations/{conversationId}' && event.httpMethod === 'DELETE') {
    await deleteConversation(conversationId, tenant, deps);
    return writer.json({ statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' });
  }
  const outcome = await postTurn(
    conversationId,
    readJsonBody(event, invocation.settings[ENV.maxRequestBytes]),
    tenant,
    { remainingMillis: invocation.remainingMillis(event, context), seconds: invocation.timeoutSeconds, stream: writer.invocationEvents() },
    deps,
  );
  if (outcome.mode === 'job') return writer.json(jsonResponse(202, { jobId: outcome.jobId, turn: outcome.turn }, { Location: locationOf(event, `/jobs/${outcome.jobId}`) }));
  if (outcome.mode === 'sync') return writer.json(jsonResponse(200, { ...outcome.answer, turn: outcome.turn }));
  const { answer } = outcome;
  writer.event('stop', { stopReason: answer.stopReason, usage: answer.usage, modelId: answer.modelId, latencyMs: answer.latencyMs, ...(answer.content && { content: answer.content }), turn: outcome.turn });
}
