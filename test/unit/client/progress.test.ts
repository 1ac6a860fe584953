import { countsLine, progressBar } from '../../../client/src/cli/progress';
import { errorLine } from '../../../client/src/cli/main';
import { QuarryError } from '../../../client/src/errors';

describe("the CLI's output", () => {
  it('draws a batch as a bar of its finished lines with counts by status', () => {
    const counts = { queued: 3, running: 2, succeeded: 4, failed: 1, cancelled: 0 };
    expect(progressBar(counts, 10, 10)).toBe('[#####-----] 5/10  succeeded 4  failed 1  running 2  queued 3  cancelled 0');
    expect(progressBar({ ...counts, queued: 0, running: 0, succeeded: 9 }, 10, 10)).toMatch(/^\[#{10}\] 10\/10/);
    expect(countsLine({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 })).toBe('succeeded 0  failed 0  running 0  queued 0  cancelled 0');
  });

  it('prints any error as one line with its code and the fields it names', () => {
    const invalid = new QuarryError({ code: 'VALIDATION_ERROR', status: 400, message: 'The job request is invalid.', details: [{ path: 'prompt', message: 'Too small' }, { path: 'model', message: 'unknown field "model"' }] });
    expect(errorLine(invalid)).toBe('quarry: VALIDATION_ERROR: The job request is invalid. (prompt: Too small; model: unknown field "model")');
    expect(errorLine(new QuarryError({ code: 'MODEL_BUSY', status: 429, message: 'busy\nnow', retryAfter: 4 }))).toBe('quarry: MODEL_BUSY: busy now [retry after 4s]');
    expect(errorLine(new Error('boom'))).toBe('quarry: ERROR: boom');
  });
});
