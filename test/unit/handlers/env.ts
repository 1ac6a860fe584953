import { DEFAULT_RESILIENCE } from '../../../lambda/core/settings';

/** The environment the stack gives the functions, for handler tests (set before a handler module loads). */
export function setFunctionEnvironment(): void {
  Object.assign(process.env, {
    JOBS_TABLE_NAME: 'jobs',
    JOBS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
    EVENTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:events',
    RESULTS_BUCKET_NAME: 'results',
    QUARRY_ROUTES: JSON.stringify({
      defaultRoute: 'generate',
      routes: { classify: { modelId: 'haiku', path: '/api/classify' }, generate: { modelId: 'sonnet', path: '/api/generate', fallback: ['haiku'] } },
    }),
    QUARRY_RESILIENCE: JSON.stringify({ ...DEFAULT_RESILIENCE, retry: { attemptsPerModel: 1, baseDelayMs: 0, maxDelayMs: 0 }, requeue: { baseDelaySeconds: 7, maxDelaySeconds: 60 } }),
    RESULT_INLINE_MAX_BYTES: '64',
    MAX_REQUEST_BYTES: '2000',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
  });
}

export const lambdaContext = {
  awsRequestId: 'req-1',
  functionName: 'fn',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
  memoryLimitInMB: '512',
  logGroupName: 'g',
  logStreamName: 's',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 60_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
};
