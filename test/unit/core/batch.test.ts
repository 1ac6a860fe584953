import { batchJobId, countsOf, isShardDone, shardCountOf, shardLines, shardOf, TALLY_SHARD_SIZE, type TallyShard } from '../../../lambda/core/batch';

const shard = (n: number, sets: Partial<Omit<TallyShard, 'shard'>> = {}): TallyShard => ({ shard: n, started: [], succeeded: [], failed: [], cancelled: [], ...sets });

describe('the batch tally', () => {
  it('shards lines by TALLY_SHARD_SIZE, the last one short', () => {
    expect(shardCountOf(1)).toBe(1);
    expect(shardCountOf(TALLY_SHARD_SIZE + 1)).toBe(2);
    expect(shardOf(TALLY_SHARD_SIZE)).toBe(1);
    expect(shardLines(1, TALLY_SHARD_SIZE + 5)).toBe(5);
  });

  it('counts each line once, by its furthest state: ended over started over queued', () => {
    const counts = countsOf(10, [shard(0, { started: [0, 1, 2, 3], succeeded: [0, 1], failed: [2], cancelled: [5] })]);
    expect(counts).toEqual({ queued: 5, running: 1, succeeded: 2, failed: 1, cancelled: 1 });
  });

  it('calls a shard done only when every one of its lines ended', () => {
    expect(isShardDone(shard(0, { succeeded: [0, 1], failed: [2] }), 3)).toBe(true);
    expect(isShardDone(shard(0, { succeeded: [0, 1], started: [2] }), 3)).toBe(false);
    expect(isShardDone(shard(1, { cancelled: [64] }), 65)).toBe(true);
  });

  it('derives each line its own stable job id', () => {
    expect(batchJobId('b', 1)).toBe(batchJobId('b', 1));
    expect(batchJobId('b', 1)).not.toBe(batchJobId('b', 2));
    expect(batchJobId('b', 1)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
