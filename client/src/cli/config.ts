import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CliConnection {
  url: string;
  apiKey?: string;
  /** Where the URL came from, for error messages. */
  source: 'flag' | 'env' | 'endpoints-file';
}

export interface ConnectionInputs {
  flags: { url?: string; key?: string };
  env: Record<string, string | undefined>;
  /** The parsed `.local/endpoints.json` of the current directory, if there is one. */
  endpoints?: { apiUrl?: string; apiKey?: string };
}

/**
 * The API URL and key, each from the first of: flags (`--url`, `--key`), environment (`QUARRY_API_URL`,
 * `QUARRY_API_KEY`), then `.local/endpoints.json` (what `npm start` writes). The file's key is used only with the
 * file's URL, so a key for the local runtime is never sent to another API.
 */
export function resolveConnection({ flags, env, endpoints }: ConnectionInputs): CliConnection | undefined {
  const nonEmpty = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());
  const flagUrl = nonEmpty(flags.url);
  const envUrl = nonEmpty(env.QUARRY_API_URL);
  const fileUrl = nonEmpty(endpoints?.apiUrl);
  const url = flagUrl ?? envUrl ?? fileUrl;
  if (!url) return undefined;
  const source = flagUrl ? 'flag' : envUrl ? 'env' : 'endpoints-file';
  const sameAsFile = fileUrl !== undefined && url.replace(/\/+$/, '') === fileUrl.replace(/\/+$/, '');
  const apiKey = nonEmpty(flags.key) ?? nonEmpty(env.QUARRY_API_KEY) ?? (sameAsFile ? nonEmpty(endpoints?.apiKey) : undefined);
  return { url, source, ...(apiKey !== undefined && { apiKey }) };
}

/** `.local/endpoints.json` under `dir`, or undefined when it is missing or unreadable. */
export function readEndpointsFile(dir: string = process.cwd()): { apiUrl?: string; apiKey?: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, '.local', 'endpoints.json'), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as { apiUrl?: string; apiKey?: string }) : undefined;
  } catch {
    return undefined;
  }
}
