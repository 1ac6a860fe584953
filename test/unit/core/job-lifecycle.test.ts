import type { Job } from '../../../lambda/core/job';
import { afterDeadLetter, deadlineOf, deadlineSecondsOf, decideSweep, redeliveryDelaySeconds, secondsToDeadline, sweepAtFor, tooLateToRun } from '../../../lambda/core/job-lifecycle';
import { DEFAULT_RESILIENCE } from '../../../lambda/core/settings';

const now = new Date('2026-11-25T10:00:00Z');
const t = now.getTime();
const policy = { ...DEFAULT_RESILIENCE, sweepGraceSeconds: 300, jobDeadlineSeconds: 3600 };
const job = (overrides: Partial<Job> = {}): Job => ({
  jobId: 'j',
  status: 'QUEUED',
  tenant: 'acme',
  route: 'generate',
  modelId: 'm',
  createdAt: new Date(t - 600_000).toISOString(),
  updatedAt: now.toISOString(),
  request: { messages: [] },
  requestHash: 'h',
  attempts: [],
  expiresAt: t / 1000 + 3600,
  ...overrides,
});

describe('crash redelivery backoff', () => {
  it('lets a healthy job through a 3-minute outage on the default settings with receives to spare', () => {
    // Receives come at 0, 60, 180, 420 ... s; the first one after a 180 s outage is the third of five.
    const receiveTimes = [0];
    for (let n = 1; n < 5; n++) receiveTimes.push(receiveTimes[n - 1] + redeliveryDelaySeconds(n, DEFAULT_RESILIENCE));
    const firstAfterOutage = receiveTimes.findIndex((t) => t >= 180) + 1;
    expect(firstAfterOutage).toBeLessThanOrEqual(3);
  });

  it('waits minutes, doubling per receive, so five receives span a quarter of an hour', () => {
    const delays = [1, 2, 3, 4, 5].map((n) => redeliveryDelaySeconds(n, DEFAULT_RESILIENCE));
    expect(delays).toEqual([60, 120, 240, 480, 900]);
    expect(delays.slice(0, 4).reduce((a, b) => a + b)).toBeGreaterThanOrEqual(180);
  });
});

describe('what the sweep does with a job past its sweep time', () => {
  it.each([
    ['announces a terminal job whose event is owed', job({ status: 'SUCCEEDED' }), 'announce'],
    ['forgets a terminal job already announced', job({ status: 'FAILED', eventPublishedAt: now.toISOString() }), 'forget'],
    ['looks later at a job whose lease is live', job({ status: 'RUNNING', lease: { owner: 'w', expiresAt: t + 1 } }), 'look-later'],
    ['looks later at a QUEUED job (its message holds it)', job(), 'look-later'],
    ['looks later at a RUNNING job whose lease expired (its message comes back)', job({ status: 'RUNNING', lease: { owner: 'w', expiresAt: t - 1 } }), 'look-later'],
    ['fails a job past its deadline', job({ createdAt: new Date(t - 3600_000).toISOString() }), 'fail-past-deadline'],
  ])('%s', (_what, subject, kind) => {
    expect(decideSweep(subject, now, policy).kind).toBe(kind);
  });

  it('looks again at a job nobody holds at its deadline, when it must be failed if still not done', () => {
    expect(decideSweep(job(), now, policy)).toEqual({ kind: 'look-later', nextSweepAt: deadlineOf(job(), policy) });
  });

  it('looks again at a held job one grace period after its lease ends', () => {
    expect(decideSweep(job({ status: 'RUNNING', lease: { owner: 'w', expiresAt: t + 10_000 } }), now, policy)).toEqual({ kind: 'look-later', nextSweepAt: sweepAtFor(t + 10_000, policy) });
  });
});

describe('what the dead-letter handler does', () => {
  it('requeues a job within its deadline, no later than its deadline', () => {
    expect(afterDeadLetter(job(), now, policy)).toEqual({ kind: 'requeue', delaySeconds: 900 });
    expect(afterDeadLetter(job({ createdAt: new Date(t - 3500_000).toISOString() }), now, policy)).toEqual({ kind: 'requeue', delaySeconds: 100 });
  });
  it('fails a job past its deadline, or dead-lettered too often (poison)', () => {
    expect(afterDeadLetter(job({ createdAt: new Date(t - 3600_000).toISOString() }), now, policy)).toEqual({ kind: 'fail', reason: 'past-deadline' });
    expect(afterDeadLetter(job({ deadLetters: 2 }), now, policy)).toEqual({ kind: 'fail', reason: 'poison' });
  });
  it('leaves a terminal job as it is', () => {
    expect(afterDeadLetter(job({ status: 'SUCCEEDED' }), now, policy)).toEqual({ kind: 'settled' });
  });
});

describe('deadlines', () => {
  const invocation = { invocationArn: 'arn:aws:bedrock:us-east-1:1:async-invoke/x', startedAt: now.toISOString(), outputUri: 's3://b/async/j/', polls: 3 };

  it("takes the job's own deadline (a batch's, an async model's) over the policy's", () => {
    expect(deadlineSecondsOf(job(), policy)).toBe(3600);
    expect(deadlineSecondsOf(job({ deadlineSeconds: 86_400 }), policy)).toBe(86_400);
    expect(deadlineOf(job({ deadlineSeconds: 60 }), policy)).toBe(t - 600_000 + 60_000);
  });

  it('bounds a delay by the whole seconds left, never less than one', () => {
    expect(secondsToDeadline(job(), policy, now)).toBe(3000);
    expect(secondsToDeadline(job(), policy, new Date(t + 2_999_500))).toBe(1);
    expect(secondsToDeadline(job(), policy, new Date(t + 4_000_000))).toBe(1);
  });

  it('refuses to run a job claimed past its deadline, but lets a started async invocation be looked at once more', () => {
    const late = new Date(t + 3_000_000);
    expect(tooLateToRun(job(), new Date(t + 2_999_000), policy)).toBe(false);
    expect(tooLateToRun(job(), late, policy)).toBe(true);
    expect(tooLateToRun(job({ status: 'RUNNING', asyncInvocation: invocation }), late, policy)).toBe(false);
  });
});
