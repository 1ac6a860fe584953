import { createHash, randomUUID } from 'node:crypto';
import { ValidationError } from './errors';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * A job id. With an Idempotency-Key it is derived from (tenant, key), so a retried submission lands on the
 * same record and one conditional write settles who created it.
 */
export function newJobId(tenant: string, idempotencyKey?: string): string {
  if (idempotencyKey === undefined) return randomUUID();
  if (!KEY_PATTERN.test(idempotencyKey)) {
    throw new ValidationError('Idempotency-Key must be 1-255 visible ASCII characters.', { header: 'Idempotency-Key' });
  }
  return derivedUuid(tenant, idempotencyKey);
}

/** A UUID derived from its parts (SHA-256), in RFC 9562 layout with version 8 (custom), so it still reads as a UUID. */
export function derivedUuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A submission that collides with an existing job: the same request replays it, another is a conflict. */
export function idempotentReplay(existingRequestHash: string, requestHash: string): 'replay' | 'conflict' {
  return existingRequestHash === requestHash ? 'replay' : 'conflict';
}
