import {
  billedMilliseconds,
  gbSeconds,
  indexWriteUnits,
  itemSize,
  messageRequests,
  numberSize,
  readUnits,
  tableWriteUnits,
  writeUnits,
  type GlobalIndex,
  type Item,
} from '../../bench/cost/units';

const sweepIndex: GlobalIndex = { name: 'BySweepTime', keys: ['sweepShard', 'sweepAt'], projection: { type: 'KEYS_ONLY' } };
const base64Of = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');

describe('DynamoDB item sizes', () => {
  it('count attribute names and values: UTF-8 strings, raw binary bytes, 1 byte for booleans and nulls', () => {
    expect(itemSize({ pk: { S: 'JOB#1' } })).toBe(2 + 5);
    expect(itemSize({ name: { S: 'é' } })).toBe(4 + 2);
    expect(itemSize({ b: { B: base64Of(10) } })).toBe(1 + 10);
    expect(itemSize({ ok: { BOOL: true }, gone: { NULL: true } })).toBe(2 + 1 + 4 + 1);
    expect(itemSize(undefined)).toBe(0);
  });

  it('count a number as one byte per two significant digits plus one, leading and trailing zeros dropped', () => {
    expect(numberSize('123')).toBe(3);
    expect(numberSize('1000')).toBe(2);
    expect(numberSize('0.5')).toBe(2);
    expect(numberSize('-12.34')).toBe(3);
    expect(numberSize('1764376992000')).toBe(6);
    expect(itemSize({ n: { N: '42' } })).toBe(1 + 2);
  });

  it('count 3 bytes per list or map and 1 per element, map keys included', () => {
    expect(itemSize({ m: { M: { a: { S: 'xy' } } } })).toBe(1 + 3 + (1 + 2 + 1));
    expect(itemSize({ l: { L: [{ N: '1' }, { BOOL: true }] } })).toBe(1 + 3 + (2 + 1) + (1 + 1));
    expect(itemSize({ e: { M: {} } })).toBe(1 + 3);
    expect(itemSize({ ss: { SS: ['ab', 'c'] } })).toBe(2 + 3);
  });
});

describe('DynamoDB request units', () => {
  it('bill 1 write unit per started KB, at least one', () => {
    expect(writeUnits(0)).toBe(1);
    expect(writeUnits(1024)).toBe(1);
    expect(writeUnits(1025)).toBe(2);
    expect(writeUnits(3900)).toBe(4);
  });

  it('bill 1 read unit per started 4 KB strongly consistent, half eventually consistent, the minimum for a miss', () => {
    expect(readUnits(4096, true)).toBe(1);
    expect(readUnits(4097, true)).toBe(2);
    expect(readUnits(4097, false)).toBe(1);
    expect(readUnits(3900, false)).toBe(0.5);
    expect(readUnits(0, true)).toBe(1);
  });

  it('bill a write for the larger of the item before and after, and a failed condition for the item as it is', () => {
    const big: Item = { pk: { S: 'JOB#1' }, text: { S: 'x'.repeat(3000) } };
    const small: Item = { pk: { S: 'JOB#1' }, text: { S: 'x'.repeat(500) } };
    expect(tableWriteUnits({ before: big, after: small })).toBe(3);
    expect(tableWriteUnits({ before: small, after: big })).toBe(3);
    expect(tableWriteUnits({ after: small })).toBe(1);
    expect(tableWriteUnits({ before: { pk: { S: 'JOB#1' }, text: { S: 'x'.repeat(1500) } }, conditionFailed: true })).toBe(2);
    expect(tableWriteUnits({ conditionFailed: true })).toBe(1);
  });

  it('add index writes: a put into the index, a removal, a key change as delete + put, nothing for an item outside it', () => {
    const plain: Item = { pk: { S: 'JOB#1' }, status: { S: 'QUEUED' } };
    const at = (t: string): Item => ({ ...plain, sweepShard: { S: 'S3' }, sweepAt: { N: t } });
    expect(indexWriteUnits(undefined, plain, sweepIndex, ['pk'])).toBe(0);
    expect(indexWriteUnits(undefined, at('100'), sweepIndex, ['pk'])).toBe(1);
    expect(indexWriteUnits(at('100'), at('200'), sweepIndex, ['pk'])).toBe(2);
    expect(indexWriteUnits(at('100'), plain, sweepIndex, ['pk'])).toBe(1);
    // Only a non-projected attribute changed: the KEYS_ONLY entry is the same.
    expect(indexWriteUnits(at('100'), { ...at('100'), status: { S: 'RUNNING' } }, sweepIndex, ['pk'])).toBe(0);
  });

  it('add one index write when only a projected attribute changes, sized by the index entry', () => {
    const byStatus: GlobalIndex = { name: 'ByTenant', keys: ['tenant'], projection: { type: 'INCLUDE', attributes: ['status'] } };
    const item = (status: string): Item => ({ pk: { S: 'JOB#1' }, tenant: { S: 't1' }, status: { S: status }, text: { S: 'x'.repeat(5000) } });
    expect(indexWriteUnits(item('QUEUED'), item('RUNNING'), byStatus, ['pk'])).toBe(1);
    const all: GlobalIndex = { ...byStatus, projection: { type: 'ALL' } };
    expect(indexWriteUnits(undefined, item('QUEUED'), all, ['pk'])).toBe(5);
  });
});

describe('SQS, SNS and Lambda units', () => {
  it('bill one SQS or SNS request per started 64 KB chunk of payload, at least one', () => {
    expect(messageRequests(0)).toBe(1);
    expect(messageRequests(65_536)).toBe(1);
    expect(messageRequests(65_537)).toBe(2);
    expect(messageRequests(256 * 1024)).toBe(4);
  });

  it('bill Lambda duration in whole milliseconds, as GB-seconds of the configured memory', () => {
    expect(billedMilliseconds(12.1)).toBe(13);
    expect(billedMilliseconds(0)).toBe(1);
    expect(gbSeconds(1000, 1024)).toBe(1);
    expect(gbSeconds(5100, 512)).toBeCloseTo(2.55, 10);
  });
});
