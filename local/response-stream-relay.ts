import type { ServerResponse } from 'node:http';
import { mapProxyResult } from './proxy-event';

/** What ends a streamed response's HTTP prelude (its JSON status and headers): eight NUL bytes. */
const DELIMITER = Buffer.alloc(8);

/**
 * API Gateway's response streaming (integration `ResponseTransferMode: STREAM`) as the local API serves it: the
 * function's bytes are read until the prelude's delimiter, the status and headers it names are sent, and every byte
 * after it is written to the client as it arrives (chunked transfer encoding), so `curl -N` shows each event when
 * the function writes it.
 */
export class ResponseStreamRelay {
  private buffered = Buffer.alloc(0);
  private started = false;
  statusCode?: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
  ) {}

  /** Whether the status and headers were sent (from then on the response can only be ended). */
  get headersSent(): boolean {
    return this.started;
  }

  push(chunk: Buffer): void {
    if (this.started) {
      this.res.write(chunk);
      return;
    }
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const at = this.buffered.indexOf(DELIMITER);
    if (at < 0) return;
    let prelude: unknown;
    try {
      prelude = JSON.parse(this.buffered.subarray(0, at).toString('utf8'));
    } catch {
      prelude = undefined;
    }
    const rest = this.buffered.subarray(at + DELIMITER.length);
    this.buffered = Buffer.alloc(0);
    this.start(prelude, rest);
  }

  /** The function returned: ends the response, or says whether it never sent a valid prelude (then nothing was sent). */
  end(): { complete: boolean } {
    if (!this.started) return { complete: false };
    this.res.end();
    return { complete: true };
  }

  private start(prelude: unknown, rest: Buffer): void {
    const mapped = mapProxyResult(prelude && typeof prelude === 'object' ? { ...prelude, body: undefined } : undefined);
    this.started = true;
    this.statusCode = mapped.statusCode;
    this.res.statusCode = mapped.statusCode;
    for (const [name, value] of mapped.headers) this.res.appendHeader(name, value);
    this.res.setHeader('x-amzn-RequestId', this.requestId);
    this.res.flushHeaders();
    if (rest.length > 0) this.res.write(rest);
  }
}
