/**
 * How AWS turns one request into billed units: DynamoDB item sizes, read and write request units (including the
 * writes a global secondary index adds), SQS/SNS 64 KB chunks and Lambda billed milliseconds. Pure functions: the
 * recorder feeds them what it saw on the wire, the tests feed them hand-computed cases.
 */

/** A DynamoDB attribute value in the wire format (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`, ...). */
export type AttributeValue = Record<string, unknown>;
export type Item = Record<string, AttributeValue>;

export const KB = 1024;
/** DynamoDB on-demand: a write request unit writes up to 1 KB of item. */
export const WRITE_UNIT_BYTES = KB;
/** A read request unit reads up to 4 KB strongly consistent (twice that eventually consistent). */
export const READ_UNIT_BYTES = 4 * KB;
/** Storage counts every item with 100 bytes of indexing overhead. */
export const STORAGE_OVERHEAD_BYTES_PER_ITEM = 100;
/** SQS and SNS bill each 64 KB chunk of a request's payload as one request. */
export const MESSAGE_CHUNK_BYTES = 64 * KB;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** Bytes of a number as DynamoDB stores it: one per two significant digits, plus one. */
export function numberSize(text: string): number {
  const digits = text.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Bytes of one attribute value (its name not included), by the rules of "DynamoDB item sizes and formats". */
export function valueSize(value: AttributeValue): number {
  const [type, raw] = Object.entries(value)[0] ?? ['NULL', true];
  switch (type) {
    case 'S':
      return utf8(raw as string);
    case 'N':
      return numberSize(raw as string);
    case 'B':
      return Buffer.from(raw as string, 'base64').length;
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'SS':
      return (raw as string[]).reduce((sum, s) => sum + utf8(s), 0);
    case 'NS':
      return (raw as string[]).reduce((sum, n) => sum + numberSize(n), 0);
    case 'BS':
      return (raw as string[]).reduce((sum, b) => sum + Buffer.from(b, 'base64').length, 0);
    case 'L':
      // 3 bytes per list or map, 1 per element.
      return 3 + (raw as AttributeValue[]).reduce((sum, v) => sum + valueSize(v) + 1, 0);
    case 'M':
      return 3 + Object.entries(raw as Item).reduce((sum, [name, v]) => sum + utf8(name) + valueSize(v) + 1, 0);
    default:
      throw new Error(`unknown DynamoDB attribute type ${type}`);
  }
}

/** Bytes of an item: its attribute names and values. 0 for no item. */
export function itemSize(item: Item | undefined): number {
  if (!item) return 0;
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueSize(value), 0);
}

/** Write request units of writing `bytes` of item: 1 per started KB, at least 1. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / WRITE_UNIT_BYTES));
}

/**
 * Read request units of reading `bytes` (one item, or the sum of a query's items): 1 per started 4 KB when strongly
 * consistent, half that when eventually consistent; a read that finds nothing still costs the minimum.
 */
export function readUnits(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES));
  return consistent ? units : units / 2;
}

/**
 * Units of one table write: PutItem and UpdateItem pay for the larger of the item before and after, DeleteItem for
 * the item it deletes; a write whose condition fails still pays for the item as it is.
 */
export function tableWriteUnits(write: { before?: Item; after?: Item; conditionFailed?: boolean }): number {
  if (write.conditionFailed) return writeUnits(itemSize(write.before));
  return writeUnits(Math.max(itemSize(write.before), itemSize(write.after)));
}

export interface GlobalIndex {
  name: string;
  /** Attribute names of the index's partition key and sort key. */
  keys: string[];
  /** ALL, KEYS_ONLY, or INCLUDE with these attributes. */
  projection: { type: 'ALL' | 'KEYS_ONLY' | 'INCLUDE'; attributes?: string[] };
}

/** The index entry of an item: table keys, index keys and projected attributes; undefined when not indexed. */
export function indexEntry(item: Item | undefined, index: GlobalIndex, tableKeys: string[]): Item | undefined {
  if (!item || !index.keys.every((k) => item[k] !== undefined)) return undefined;
  if (index.projection.type === 'ALL') return item;
  const names = new Set([...tableKeys, ...index.keys, ...(index.projection.type === 'INCLUDE' ? (index.projection.attributes ?? []) : [])]);
  return Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
}

/**
 * Write units a table write adds in one global secondary index, as the developer guide lists them: putting an item
 * into the index is one write, removing it one, changing its index key a delete and a put, changing only projected
 * attributes one; nothing when the item is in the index neither before nor after, or its entry did not change.
 */
export function indexWriteUnits(before: Item | undefined, after: Item | undefined, index: GlobalIndex, tableKeys: string[]): number {
  const was = indexEntry(before, index, tableKeys);
  const is = indexEntry(after, index, tableKeys);
  if (!was && !is) return 0;
  if (!was) return writeUnits(itemSize(is));
  if (!is) return writeUnits(itemSize(was));
  const keyChanged = index.keys.some((k) => JSON.stringify(was[k]) !== JSON.stringify(is[k]));
  if (keyChanged) return writeUnits(itemSize(was)) + writeUnits(itemSize(is));
  return canonical(was) === canonical(is) ? 0 : writeUnits(itemSize(is));
}

function canonical(item: Item): string {
  return JSON.stringify(Object.keys(item).sort().map((k) => [k, item[k]]));
}

/** Requests SQS or SNS bills for one call carrying `payloadBytes`: one per started 64 KB chunk, at least one. */
export function messageRequests(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / MESSAGE_CHUNK_BYTES));
}

/** Lambda bills duration in 1 ms steps, rounded up. */
export function billedMilliseconds(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs));
}

/** GB-seconds of `milliseconds` at `memoryMb` (Lambda's GB is 1024 MB). */
export function gbSeconds(milliseconds: number, memoryMb: number): number {
  return (milliseconds / 1000) * (memoryMb / 1024);
}
