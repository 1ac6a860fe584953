import { BedrockError } from './errors';

/*
 * The content of a Converse request as the simulator reads it: what Bedrock would count as input tokens (text, and
 * images by their size: (width x height) / 750 after resizing to 1568 px on the long edge, as Anthropic documents),
 * which tools are offered and whether the last user message answers a tool call. Bedrock's own checks on these
 * fields (a tool block needs a toolConfig, a tool result answers a tool use of the turn before, image bytes are an
 * image of the format declared) are made here with its messages, so that a client sees here what it would there.
 */

const validation = (message: string) => new BedrockError('ValidationException', message);

export const IMAGE_FORMATS = ['png', 'jpeg', 'gif', 'webp'];
export const DOCUMENT_FORMATS = ['pdf', 'csv', 'doc', 'docx', 'xls', 'xlsx', 'html', 'txt', 'md'];
const TEXT_DOCUMENTS = new Set(['csv', 'html', 'txt', 'md']);
/** Anthropic's rule: an image's tokens are width x height / 750 after resizing to fit 1568 px on its long edge. */
const MAX_EDGE = 1568;
const PIXELS_PER_TOKEN = 750;

export interface Tool {
  name: string;
  inputSchema: Record<string, unknown>;
}

export interface ConverseContent {
  /** Text the generator reads (text blocks, documents' text, tool inputs and results). */
  text: string;
  /** Input tokens beyond the text's: images by size, binary documents by bytes. */
  extraTokens: number;
  images: number;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Reads the blocks of one message (`field` is its path, 1-based as Bedrock says it: messages.1.member.content). */
export function readBlocks(blocks: unknown[], field: string): ConverseContent {
  const content: ConverseContent = { text: '', extraTokens: 0, images: 0 };
  const texts: string[] = [];
  blocks.forEach((block, i) => {
    const at = `${field}.${i + 1}.member`;
    if (!isObject(block)) throw validation(`Value at '${at}' must be a structure.`);
    const members = Object.keys(block);
    if (members.length !== 1) throw validation(`Value at '${at}' must have exactly one member set; found ${members.length}.`);
    const [member] = members;
    const value = block[member];
    if (member === 'text') {
      if (typeof value !== 'string') throw validation(`Value at '${at}.text' must be a string.`);
      texts.push(value);
    } else if (member === 'image') {
      content.extraTokens += imageTokens(value, `${at}.image`);
      content.images += 1;
    } else if (member === 'document') {
      const document = readDocument(value, `${at}.document`);
      if (document.text !== undefined) texts.push(document.text);
      content.extraTokens += document.tokens;
    } else if (member === 'toolUse') {
      if (!isObject(value) || typeof value.toolUseId !== 'string' || typeof value.name !== 'string' || !isObject(value.input)) throw validation(`Value at '${at}.toolUse' must have toolUseId, name and input.`);
      texts.push(`${value.name} ${JSON.stringify(value.input)}`);
    } else if (member === 'toolResult') {
      if (!isObject(value) || typeof value.toolUseId !== 'string' || !Array.isArray(value.content)) throw validation(`Value at '${at}.toolResult' must have toolUseId and content.`);
      const inner = readBlocks(
        value.content.map((c) => (isObject(c) && 'json' in c ? { text: JSON.stringify(c.json) } : c)),
        `${at}.toolResult.content`,
      );
      texts.push(inner.text);
      content.extraTokens += inner.extraTokens;
      content.images += inner.images;
    } else if (member === 'cachePoint' || member === 'reasoningContent' || member === 'guardContent') {
      // Accepted and not counted.
    } else throw validation(`Unsupported content block type '${member}' at '${at}'.`);
  });
  content.text = texts.join('\n');
  return content;
}

/** The tool uses and tool results of a message, by id. */
export function toolIds(blocks: unknown[], member: 'toolUse' | 'toolResult'): string[] {
  return blocks.flatMap((b) => (isObject(b) && isObject(b[member]) && typeof (b[member] as Json).toolUseId === 'string' ? [(b[member] as Json).toolUseId as string] : []));
}

/** Bedrock's checks of tool blocks across the conversation. */
export function checkToolTurns(messages: Array<{ role: unknown; content: unknown[] }>, hasToolConfig: boolean): void {
  const usesTools = messages.some((m) => toolIds(m.content, 'toolUse').length > 0 || toolIds(m.content, 'toolResult').length > 0);
  if (usesTools && !hasToolConfig) throw validation('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  messages.forEach((m, i) => {
    const results = toolIds(m.content, 'toolResult');
    if (results.length === 0) return;
    const uses = i > 0 ? toolIds(messages[i - 1].content, 'toolUse') : [];
    if (results.length > uses.length) {
      throw validation(`The number of toolResult blocks at messages.${i}.content exceeds the number of toolUse blocks of previous turn.`);
    }
    const unknown = results.find((id) => !uses.includes(id));
    if (unknown) throw validation(`The toolUseId ${unknown} at messages.${i}.content does not match any toolUse block of the previous turn.`);
  });
}

/** The tools a toolConfig offers, after Bedrock's checks of it. */
export function readTools(toolConfig: unknown): { tools: Tool[]; choice: 'auto' | 'any' | { tool: string } } | undefined {
  if (toolConfig === undefined) return undefined;
  if (!isObject(toolConfig) || !Array.isArray(toolConfig.tools) || toolConfig.tools.length === 0) throw validation("Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1");
  const tools = toolConfig.tools.map((t, i): Tool => {
    const spec = isObject(t) ? t.toolSpec : undefined;
    if (!isObject(spec) || typeof spec.name !== 'string' || !isObject(spec.inputSchema) || !isObject(spec.inputSchema.json)) {
      throw validation(`Value at 'toolConfig.tools.${i + 1}.member.toolSpec' must have a name and an inputSchema.json.`);
    }
    return { name: spec.name, inputSchema: spec.inputSchema.json };
  });
  const choice = toolConfig.toolChoice;
  if (choice === undefined || (isObject(choice) && 'auto' in choice)) return { tools, choice: 'auto' };
  if (isObject(choice) && 'any' in choice) return { tools, choice: 'any' };
  if (isObject(choice) && isObject(choice.tool) && typeof choice.tool.name === 'string') {
    if (!tools.some((t) => t.name === (choice.tool as Json).name)) throw validation(`The tool ${String(choice.tool.name)} named by toolChoice is not in toolConfig.tools.`);
    return { tools, choice: { tool: choice.tool.name } };
  }
  throw validation("Value at 'toolConfig.toolChoice' must have exactly one member set.");
}

/**
 * An input that satisfies a tool's JSON schema, for the simulator's tool calls: each required property (or every
 * property when none is required) with a value of its type (the first `enum` value, or a placeholder).
 */
export function exampleInput(schema: Json): Json {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : Object.keys(properties);
  return Object.fromEntries(required.map((name) => [name, exampleValue(isObject(properties[name]) ? (properties[name] as Json) : {}, name)]));
}

function exampleValue(schema: Json, name: string): unknown {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  switch (schema.type) {
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return exampleInput(schema);
    default:
      return `sim-${name}`;
  }
}

function readSource(source: unknown, at: string): Buffer {
  if (!isObject(source)) throw validation(`Value at '${at}' must be a structure.`);
  if (isObject(source.s3Location)) throw validation(`The simulator does not read S3 locations (${at}.s3Location): send the bytes (Quarry reads its inputs bucket itself).`);
  if (typeof source.bytes !== 'string' || source.bytes.length === 0) throw validation(`Value at '${at}.bytes' must not be null.`);
  return Buffer.from(source.bytes, 'base64');
}

function imageTokens(image: unknown, at: string): number {
  if (!isObject(image) || typeof image.format !== 'string' || !IMAGE_FORMATS.includes(image.format)) {
    throw validation(`Value at '${at}.format' failed to satisfy constraint: Member must satisfy enum value set: [${IMAGE_FORMATS.join(', ')}]`);
  }
  const bytes = readSource(image.source, `${at}.source`);
  const size = imageSize(bytes, image.format);
  if (!size) throw validation(`The model returned the following errors: Could not process image: the bytes at ${at} are not a ${image.format} image.`);
  const scale = Math.min(1, MAX_EDGE / Math.max(size.width, size.height));
  return Math.max(1, Math.ceil((Math.round(size.width * scale) * Math.round(size.height * scale)) / PIXELS_PER_TOKEN));
}

function readDocument(document: unknown, at: string): { text?: string; tokens: number } {
  if (!isObject(document) || typeof document.format !== 'string' || !DOCUMENT_FORMATS.includes(document.format)) {
    throw validation(`Value at '${at}.format' failed to satisfy constraint: Member must satisfy enum value set: [${DOCUMENT_FORMATS.join(', ')}]`);
  }
  if (typeof document.name !== 'string' || document.name.length === 0) throw validation(`Value at '${at}.name' must not be null.`);
  const bytes = readSource(document.source, `${at}.source`);
  // A text document is read as text; a binary one counts a token per 4 bytes.
  return TEXT_DOCUMENTS.has(document.format) ? { text: bytes.toString('utf8'), tokens: 0 } : { tokens: Math.ceil(bytes.length / 4) };
}

/** Width and height from an image's header (PNG, GIF, JPEG, WebP), or undefined when the bytes are not that format. */
export function imageSize(bytes: Buffer, format: string): { width: number; height: number } | undefined {
  if (format === 'png' && bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString('ascii', 12, 16) === 'IHDR') {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (format === 'gif' && bytes.length >= 10 && bytes.toString('ascii', 0, 3) === 'GIF') return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  if (format === 'jpeg' && bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  if (format === 'webp' && bytes.length >= 30 && bytes.toString('ascii', 0, 4) === 'RIFF' && bytes.toString('ascii', 8, 12) === 'WEBP') return webpSize(bytes);
  return undefined;
}

function jpegSize(bytes: Buffer): { width: number; height: number } | undefined {
  let offset = 2;
  while (offset + 9 < bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1];
    const length = bytes.readUInt16BE(offset + 2);
    // Start-of-frame markers (baseline, progressive, ...) carry the size; 0xC4, 0xC8 and 0xCC are not frames.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: bytes.readUInt16BE(offset + 5), width: bytes.readUInt16BE(offset + 7) };
    }
    offset += 2 + length;
  }
  return undefined;
}

function webpSize(bytes: Buffer): { width: number; height: number } | undefined {
  const chunk = bytes.toString('ascii', 12, 16);
  if (chunk === 'VP8X') return { width: 1 + bytes.readUIntLE(24, 3), height: 1 + bytes.readUIntLE(27, 3) };
  if (chunk === 'VP8 ') return { width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = bytes.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  return undefined;
}
