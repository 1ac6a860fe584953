import { MalformedJsonError, PayloadTooLargeError, UnsupportedMediaTypeError } from './errors';

/** Header lookup that ignores case, as HTTP does (API Gateway passes headers as the client sent them). */
export function headerValue(headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The JSON body of a request, after the checks every JSON endpoint makes: media type, size, syntax. */
export function readJsonBody(
  request: { headers?: Record<string, string | undefined> | null; body: string | null; isBase64Encoded?: boolean },
  maxBytes: number,
): unknown {
  const contentType = headerValue(request.headers, 'content-type');
  const mediaType = contentType?.split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/json' && !mediaType?.endsWith('+json')) throw new UnsupportedMediaTypeError(contentType);
  const raw = request.body ?? '';
  const text = request.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text, 'utf8') > maxBytes) throw new PayloadTooLargeError(maxBytes);
  if (text.trim() === '') throw new MalformedJsonError('is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new MalformedJsonError(syntaxProblem((error as Error).message));
  }
}

/** Where JSON.parse gave up, without echoing the body (V8 quotes a piece of it in some messages). */
function syntaxProblem(parserMessage: string): string {
  const position = /at position (\d+)/.exec(parserMessage)?.[1];
  if (position !== undefined) return `is not valid JSON (error at position ${position})`;
  return /end of JSON input/.test(parserMessage) ? 'is not valid JSON (it ends too early)' : 'is not valid JSON';
}
