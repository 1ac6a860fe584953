import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEndpointsFile, resolveConnection } from '../../../client/src/cli/config';

const local = { apiUrl: 'http://localhost:3000', apiKey: 'local-key' };

describe("the CLI's connection settings", () => {
  it('take flags first, then the environment, then .local/endpoints.json', () => {
    const env = { QUARRY_API_URL: 'https://env.example/v1/', QUARRY_API_KEY: 'env-key' };
    expect(resolveConnection({ flags: { url: 'https://flag.example', key: 'flag-key' }, env, endpoints: local })).toEqual({ url: 'https://flag.example', apiKey: 'flag-key', source: 'flag' });
    expect(resolveConnection({ flags: {}, env, endpoints: local })).toEqual({ url: 'https://env.example/v1/', apiKey: 'env-key', source: 'env' });
    expect(resolveConnection({ flags: {}, env: {}, endpoints: local })).toEqual({ url: 'http://localhost:3000', apiKey: 'local-key', source: 'endpoints-file' });
    expect(resolveConnection({ flags: { key: 'flag-key' }, env: {}, endpoints: local })).toEqual({ url: 'http://localhost:3000', apiKey: 'flag-key', source: 'endpoints-file' });
  });

  it("never sends the local runtime's key to another API", () => {
    expect(resolveConnection({ flags: { url: 'https://prod.example' }, env: {}, endpoints: local })).toEqual({ url: 'https://prod.example', source: 'flag' });
    expect(resolveConnection({ flags: {}, env: { QUARRY_API_URL: 'http://localhost:3000/' }, endpoints: local })).toMatchObject({ apiKey: 'local-key' });
  });

  it('is missing when no source names a URL (empty values count as unset)', () => {
    expect(resolveConnection({ flags: { url: '' }, env: { QUARRY_API_URL: ' ' }, endpoints: undefined })).toBeUndefined();
  });

  it('reads the endpoints file npm start writes, and ignores a missing or broken one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'quarry-cli-'));
    expect(readEndpointsFile(dir)).toBeUndefined();
    mkdirSync(join(dir, '.local'));
    writeFileSync(join(dir, '.local', 'endpoints.json'), '{not json');
    expect(readEndpointsFile(dir)).toBeUndefined();
    writeFileSync(join(dir, '.local', 'endpoints.json'), JSON.stringify({ ...local, bedrockUrl: 'http://localhost:4000' }));
    expect(readEndpointsFile(dir)).toMatchObject(local);
  });
});
