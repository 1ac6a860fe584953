import { measureWorkload, type Measurement, type PhaseTotals } from '../../bench/cost/measure';

/**
 * The AWS calls the functions make on the happy path, per job and per poll, as `npm run cost` measures them on the
 * local runtime (a recording proxy between the functions and the emulators sees every SDK call, retries included).
 * A change that adds, moves or removes a call fails here.
 *
 * To update after a deliberate change: run `npx jest test/integration/call-counts.test.ts`, copy the received
 * values into the two tables below, and say in the commit why the calls changed (and what `npm run cost` says now).
 * Keys are `service Operation` plus the item kind for DynamoDB item calls; `{ atMost: n }` marks a count that
 * depends on timing (a container trusts its copy of a breaker for about a second, so most jobs read none).
 */
type Expected = Record<string, number | { atMost: number }>;

const EXPECTED_PER_JOB: Expected = {
  'dynamodb GetItem BREAKER#': { atMost: 1 },
  // A worker that outruns the record of its job (the submit sends the message first) reads it and claims again.
  'dynamodb GetItem JOB#': { atMost: 0.1 },
  'dynamodb PutItem JOB#': 1,
  // Successes are counted once per worker invocation (lambda/aws/breaker-store.ts).
  'dynamodb UpdateItem BREAKER#': { atMost: 1 },
  'dynamodb UpdateItem JOB#': { atMost: 2.1 },
  'sns Publish': 1,
  'sqs SendMessage': 1,
};

const EXPECTED_PER_POLL: Expected = {
  'dynamodb GetItem JOB#': 1,
};

const JOBS = 20;

/** Function calls per unit of a phase, keyed as the tables above. */
function perUnit(phase: PhaseTotals): Record<string, number> {
  const counts: Record<string, number> = {};
  const add = (key: string, n: number) => (counts[key] = (counts[key] ?? 0) + n);
  for (const c of phase.calls.filter((c) => c.caller === 'function')) {
    const kinds = Object.entries(c.kinds);
    const unkinded = c.requests - kinds.reduce((s, [, n]) => s + n, 0);
    for (const [kind, n] of kinds) add(`${c.service} ${c.operation} ${kind}`, n);
    if (unkinded) add(`${c.service} ${c.operation}`, unkinded);
  }
  return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, Math.round((n / phase.units) * 100) / 100]));
}

/** The measured counts in the shape of `expected`: a count within its `atMost` bound (none at all included) shows as the bound. */
function shaped(actual: Record<string, number>, expected: Expected): Expected {
  const bounded = Object.keys(expected).filter((key) => typeof expected[key] === 'object');
  return Object.fromEntries(
    Object.entries({ ...Object.fromEntries(bounded.map((key) => [key, 0])), ...actual }).map(([key, n]) => {
      const want = expected[key];
      return [key, typeof want === 'object' && n <= want.atMost ? want : n];
    }),
  );
}

let measurement: Measurement;

beforeAll(async () => {
  measurement = await measureWorkload({ jobs: JOBS, warmupJobs: 5, promptBytes: 1024, resultBytes: 2048 });
}, 600_000);

describe('the happy path on the local runtime', () => {
  it('finishes every job', () => {
    expect(measurement.results).toMatchObject({ succeeded: JOBS, failed: 0 });
  });

  it('makes the AWS calls per job the table pins, and no others', () => {
    expect(shaped(perUnit(measurement.jobs), EXPECTED_PER_JOB)).toEqual(EXPECTED_PER_JOB);
  });

  it('makes the AWS calls per poll of a finished job the table pins, and no others', () => {
    expect(shaped(perUnit(measurement.polls), EXPECTED_PER_POLL)).toEqual(EXPECTED_PER_POLL);
  });
});
