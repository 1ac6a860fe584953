// AWS event-stream binary framing (application/vnd.amazon.eventstream):
// [total length u32][headers length u32][prelude CRC32][headers][payload][message CRC32], all big-endian.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const HEADER_TYPE_STRING = 7;

function encodeHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const valueBytes = Buffer.from(value, 'utf8');
    const prefix = Buffer.alloc(1);
    prefix.writeUInt8(nameBytes.length);
    const typeAndLength = Buffer.alloc(3);
    typeAndLength.writeUInt8(HEADER_TYPE_STRING, 0);
    typeAndLength.writeUInt16BE(valueBytes.length, 1);
    parts.push(prefix, nameBytes, typeAndLength, valueBytes);
  }
  return Buffer.concat(parts);
}

export function encodeMessage(headers: Record<string, string>, payload: Buffer): Buffer {
  const headerBytes = encodeHeaders(headers);
  const totalLength = 12 + headerBytes.length + payload.length + 4;
  const message = Buffer.alloc(totalLength);
  message.writeUInt32BE(totalLength, 0);
  message.writeUInt32BE(headerBytes.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  headerBytes.copy(message, 12);
  payload.copy(message, 12 + headerBytes.length);
  message.writeUInt32BE(crc32(message.subarray(0, totalLength - 4)), totalLength - 4);
  return message;
}

export function encodeEvent(eventType: string, payload: unknown): Buffer {
  return encodeMessage(
    { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    Buffer.from(JSON.stringify(payload), 'utf8'),
  );
}

/** `exceptionType` is the union member name the SDK models, e.g. `modelStreamErrorException`. */
export function encodeException(exceptionType: string, payload: unknown): Buffer {
  return encodeMessage(
    { ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' },
    Buffer.from(JSON.stringify(payload), 'utf8'),
  );
}
