import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { configTable, readmeWithConfigTable } from '../../lib/config-docs';

describe('the README configuration table', () => {
  it('is the one rendered from the config schema (run `npm run docs:config` after changing lib/config.ts)', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(readmeWithConfigTable(readme)).toBe(readme);
  });

  it('lists every option with its default', () => {
    const table = configTable();
    for (const option of ['worker.maxConcurrency', 'worker.maxReceiveCount', 'results.inlineMaxBytes', 'subscriptions', 'logPromptText']) {
      expect(table).toContain(`| \`${option}\` |`);
    }
    expect(table).toContain('| `worker.batchSize` | integer (1..100) | `10` |');
    expect(table).toContain('| `functions.tracing` | boolean | `false` |');
  });
});
