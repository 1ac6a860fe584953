import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { API_ERRORS } from '../../lambda/core/errors';

describe("the README's table of error codes", () => {
  it('lists exactly the codes of API_ERRORS, each with its status', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const table = /<!-- error-codes:start -->([\s\S]*?)<!-- error-codes:end -->/.exec(readme)?.[1] ?? '';
    const rows = [...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map(([, code, status]) => `${code} ${status}`);
    expect(rows.sort()).toEqual(Object.entries(API_ERRORS).map(([code, { status }]) => `${code} ${status}`).sort());
  });
});
