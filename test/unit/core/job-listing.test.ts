import { encodeCursor, jobSummary, parseListQuery } from '../../../lambda/core/job-listing';
import { QuarryError } from '../../../lambda/core/errors';

/* GET /jobs's query string and page token: each bad parameter named, a token only for the tenant it was issued to. */

const detailsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(QuarryError);
    return (error as QuarryError).details?.map((d) => d.path);
  }
  throw new Error('accepted');
};

it('defaults to 20 newest jobs and reads limit, status and the token', () => {
  expect(parseListQuery(undefined, 'acme')).toEqual({ limit: 20 });
  const token = encodeCursor('acme', { createdAt: '2026-12-07T13:00:00.000Z', jobId: 'job-1' });
  expect(parseListQuery({ limit: '5', status: 'FAILED', nextToken: token }, 'acme')).toEqual({ limit: 5, status: 'FAILED', after: { createdAt: '2026-12-07T13:00:00.000Z', jobId: 'job-1' } });
});

it('names each bad parameter', () => {
  expect(detailsOf(() => parseListQuery({ limit: '0' }, 'acme'))).toEqual(['limit']);
  expect(detailsOf(() => parseListQuery({ limit: '1000' }, 'acme'))).toEqual(['limit']);
  expect(detailsOf(() => parseListQuery({ limit: '-1', status: 'done', order: 'asc' }, 'acme'))).toEqual(expect.arrayContaining(['limit', 'status', 'order']));
});

it("refuses a token that does not parse, was changed, or is another tenant's", () => {
  const token = encodeCursor('acme', { createdAt: '2026-12-07T13:00:00.000Z', jobId: 'job-1' });
  expect(detailsOf(() => parseListQuery({ nextToken: token }, 'globex'))).toEqual(['nextToken']);
  expect(detailsOf(() => parseListQuery({ nextToken: 'x' }, 'acme'))).toEqual(['nextToken']);
  const tampered = Buffer.from(JSON.stringify({ v: 1, t: 'acme', c: '2026-12-07T13:00:00.000Z', j: 'JOB#../x' })).toString('base64url');
  expect(detailsOf(() => parseListQuery({ nextToken: tampered }, 'acme'))).toEqual(['nextToken']);
});

it('summarizes a job without its result, naming the model that answered', () => {
  const job = { jobId: 'j', status: 'FAILED' as const, tenant: 't', route: 'r', modelId: 'queued-with', createdAt: 'c', updatedAt: 'u', requestHash: 'h', attempts: [], expiresAt: 0, error: { code: 'MODEL_ERROR', message: 'long text' } };
  expect(jobSummary(job)).toEqual({ jobId: 'j', status: 'FAILED', createdAt: 'c', updatedAt: 'u', route: 'r', modelId: 'queued-with', metadata: {}, error: { code: 'MODEL_ERROR' } });
});
