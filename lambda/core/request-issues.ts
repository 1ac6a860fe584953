import type { z } from 'zod';

/** One thing wrong with a request, naming the field it is about. */
export interface RequestIssue {
  /**
   * Where: a dotted path into the JSON body (`messages.0.content`), `(body)` for the body as a whole, or
   * `headers.<Name>` for a request header.
   */
  path: string;
  message: string;
  /** The line of a JSONL batch input the issue is on (from 1); `path` is then inside that line. */
  line?: number;
}

export const BODY_PATH = '(body)';

/** The API's path of a field: dotted, `(body)` for the root. */
export function pathOf(segments: readonly PropertyKey[]): string {
  return segments.length === 0 ? BODY_PATH : segments.map(String).join('.');
}

type ZodIssue = z.core.$ZodIssue;

/**
 * Zod's issues as the API reports them: one entry per unknown field (`unknown field "model"`), every path in full
 * (`messages.0.content.0.text`), and a union (`string | ContentBlock[]`) reported on the branch the value took.
 */
export function requestIssues(error: { issues: readonly ZodIssue[] }): RequestIssue[] {
  return error.issues.flatMap((issue) => issuesOf(issue, []));
}

function issuesOf(issue: ZodIssue, prefix: readonly PropertyKey[]): RequestIssue[] {
  const at = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: pathOf([...at, key]), message: `unknown field ${JSON.stringify(key)}` }));
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // A branch whose issues are all "wrong type here" is one the value did not take; report the one it did.
    const taken = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
    if (taken.length === 1) return taken[0].flatMap((i) => issuesOf(i, at));
    const expected = [...new Set(issue.errors.flatMap((branch) => branch.flatMap((i) => (i.code === 'invalid_type' && i.path.length === 0 ? [i.expected] : []))))];
    if (taken.length === 0 && expected.length > 0) return [{ path: pathOf(at), message: `Invalid input: expected ${expected.join(' or ')}` }];
  }
  return [{ path: pathOf(at), message: issue.message }];
}

/** DynamoDB's number range: 38 significant digits, magnitude 1e-130 to 9.99...e125, or zero. */
const DYNAMODB_MIN_MAGNITUDE = 1e-130;

/**
 * Why DynamoDB (through the document client) cannot store this JSON number exactly, or undefined if it can. A parsed
 * JSON number is a double: at most 17 significant digits, so DynamoDB's 38-digit limit never binds; integers beyond
 * Number.MAX_SAFE_INTEGER (which also covers DynamoDB's 1e126 ceiling) were already rounded by JSON.parse.
 */
export function storableNumberProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return 'must be a finite number';
  const magnitude = Math.abs(value);
  if (magnitude > Number.MAX_SAFE_INTEGER) return `must be between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (larger numbers are not exact in JSON)`;
  if (magnitude !== 0 && magnitude < DYNAMODB_MIN_MAGNITUDE) return 'must be zero or at least 1e-130 in magnitude';
  return undefined;
}

/** An unpaired UTF-16 surrogate (from a `\ud800` escape) is not text: no UTF-8 store or model takes it. */
export function isWellFormedText(value: string): boolean {
  return !/\p{Cs}/u.test(value);
}

export interface JsonObjectLimits {
  /** UTF-8 bytes of the object serialized as JSON. */
  maxBytes: number;
  /** Levels of objects and arrays, the object itself being level 1. */
  maxDepth: number;
  /** Keys per object. */
  maxKeys: number;
  /** Characters per key (at least 1). */
  maxKeyLength: number;
}

/** An issue found below some point of the body, located by path segments (a key may contain a dot). */
export interface FieldIssue {
  path: PropertyKey[];
  message: string;
}

/** At most this many issues about one object: enough to fix it, not a second copy of it. */
const MAX_ISSUES = 10;

/**
 * What keeps a free-form JSON object (a job's `metadata`) from being stored and echoed as given: its size, nesting,
 * keys, numbers DynamoDB cannot hold and malformed text. Each issue names the field, relative to the object.
 */
export function jsonObjectIssues(value: Record<string, unknown>, limits: JsonObjectLimits): FieldIssue[] {
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > limits.maxBytes) return [{ path: [], message: `must be at most ${limits.maxBytes} bytes as JSON; it is ${bytes}` }];
  const issues: FieldIssue[] = [];
  const visit = (node: unknown, at: readonly PropertyKey[], depth: number) => {
    if (issues.length >= MAX_ISSUES) return;
    if (typeof node === 'number') {
      const problem = storableNumberProblem(node);
      if (problem) issues.push({ path: [...at], message: problem });
    } else if (typeof node === 'string') {
      if (!isWellFormedText(node)) issues.push({ path: [...at], message: 'contains an unpaired UTF-16 surrogate' });
    } else if (node !== null && typeof node === 'object') {
      if (depth > limits.maxDepth) {
        issues.push({ path: [...at], message: `nests too deep: objects and arrays may nest at most ${limits.maxDepth} levels` });
        return;
      }
      if (Array.isArray(node)) {
        node.forEach((item, i) => visit(item, [...at, i], depth + 1));
        return;
      }
      const keys = Object.keys(node);
      if (keys.length > limits.maxKeys) issues.push({ path: [...at], message: `has ${keys.length} keys; at most ${limits.maxKeys} are allowed` });
      for (const key of keys) {
        if (key.length === 0) issues.push({ path: [...at], message: `has an empty key; keys are 1-${limits.maxKeyLength} characters` });
        else if (key.length > limits.maxKeyLength) issues.push({ path: [...at, key], message: `key is ${key.length} characters; keys are 1-${limits.maxKeyLength} characters` });
        else if (!isWellFormedText(key)) issues.push({ path: [...at, key], message: 'key contains an unpaired UTF-16 surrogate' });
        else if (key === '__proto__') issues.push({ path: [...at, key], message: 'is a reserved key' });
        else visit((node as Record<string, unknown>)[key], [...at, key], depth + 1);
      }
    }
  };
  visit(value, [], 1);
  return issues.slice(0, MAX_ISSUES);
}
