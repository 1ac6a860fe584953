import type { Writable } from 'node:stream';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { QuarryError } from '../core/errors';
import type { InvocationStream } from '../core/invocation';
import { errorResponse } from './http';

/*
 * Answers on a streaming integration (`awslambda` globals: the Lambda runtime's, locally the function host's). The
 * HTTP status and headers go first, as a prelude: a JSON answer's (errors included: every 4xx a request gets before
 * it is accepted), or 200 text/event-stream once the first server-sent event is written.
 */

export const EVENT_STREAM_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

/** One server-sent event: its type and a JSON payload on one `data:` line (JSON text never holds a raw newline). */
export const sseEvent = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

export class ResponseWriter {
  private out?: Writable;
  /** Whether a piece of the answer (text or a native chunk) went out: a failure after it is `incomplete`. */
  produced = false;

  constructor(private readonly responseStream: Writable) {}

  get streaming(): boolean {
    return this.out !== undefined;
  }

  /** A whole JSON (or empty) answer. */
  json(result: APIGatewayProxyResult): void {
    this.out = awslambda.HttpResponseStream.from(this.responseStream, { statusCode: result.statusCode, headers: result.headers as Record<string, string> });
    this.out.write(result.body);
  }

  /** Writes `data` as it is (a pre-formatted event stream line), opening the event stream first. */
  raw(text: string): void {
    this.out ??= awslambda.HttpResponseStream.from(this.responseStream, { statusCode: 200, headers: EVENT_STREAM_HEADERS });
    this.out.write(text);
  }

  event(type: string, data: unknown): void {
    this.raw(sseEvent(type, data));
  }

  /** The `start`, `fallback`, `delta` and `chunk` events of an invocation as it happens. */
  invocationEvents(): InvocationStream {
    return {
      start: (choice) => this.event('start', choice),
      fallback: (change) => this.event('fallback', change),
      text: (text) => ((this.produced = true), this.event('delta', { text })),
      chunk: (chunk) => ((this.produced = true), this.event('chunk', chunk)),
    };
  }

  /** A failure: its JSON error before the stream began, else an `error` event saying whether the answer was cut. */
  fail(error: unknown): void {
    const response = errorResponse(error);
    if (!this.out) return this.json(response);
    const { code, message } = (JSON.parse(response.body) as { error: { code: string; message: string } }).error;
    const retryAfterSeconds = error instanceof QuarryError ? error.retryAfterSeconds : undefined;
    this.event('error', { code, message, incomplete: this.produced, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }) });
  }

  /** Ends the answer and waits until everything written has been handed on. */
  end(): Promise<void> {
    const stream = this.out ?? this.responseStream;
    return new Promise((resolve) => {
      if (stream.writableFinished) return resolve();
      stream.once('finish', () => resolve());
      stream.once('error', () => resolve());
      stream.end();
    });
  }
}
