import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { LeanLogFormatter } from '../../../lambda/handlers/log-formatter';

const context = {
  awsRequestId: '6f1c4b8e-3d2a-4c1b-9e8f-0123456789ab',
  functionName: 'QuarryStack-JobWorkerFunction7BB1B3D2-AbCdEfGh1234',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:QuarryStack-JobWorkerFunction7BB1B3D2-AbCdEfGh1234',
  memoryLimitInMB: '256',
  functionVersion: '$LATEST',
} as Context;

/** The JSON lines a logger with the lean formatter writes for one info line, in a container that traces or not. */
function lines(traced: boolean, calls: number): Array<Record<string, unknown>> {
  const written: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const previous = process.env._X_AMZN_TRACE_ID;
  process.env._X_AMZN_TRACE_ID = 'Root=1-6749a3f2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1';
  try {
    const logger = new Logger({ serviceName: 'quarry', logLevel: 'INFO', logFormatter: new LeanLogFormatter(traced) });
    for (let i = 0; i < calls; i++) {
      logger.addContext(context);
      logger.info('job succeeded', { jobId: 'job-1', usage: { inputTokens: 1, outputTokens: 2 } });
    }
  } finally {
    spy.mockRestore();
    if (previous === undefined) delete process.env._X_AMZN_TRACE_ID;
    else process.env._X_AMZN_TRACE_ID = previous;
  }
  return written.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the lean log line', () => {
  it('keeps level, message, time, service, the request id and the fields, not what the log group already says', () => {
    const [first, second] = lines(false, 2);
    expect(first).toEqual({
      level: 'INFO',
      message: 'job succeeded',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      service: 'quarry',
      cold_start: expect.any(Boolean),
      function_request_id: context.awsRequestId,
      jobId: 'job-1',
      usage: { inputTokens: 1, outputTokens: 2 },
    });
    expect(second).toHaveProperty('cold_start', false);
    expect(second).toMatchObject({ function_request_id: context.awsRequestId, jobId: 'job-1' });
  });

  it('names the X-Ray trace only when the function traces', () => {
    expect(lines(false, 1)[0]).not.toHaveProperty('xray_trace_id');
    expect(lines(true, 1)[0]).toMatchObject({ xray_trace_id: '1-6749a3f2-0123456789abcdef01234567' });
  });
});
