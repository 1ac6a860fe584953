import type { BedrockError } from './errors';

/** One request/response pair, whichever transport (HTTP/1.1 or h2c) carried it. */
export interface Exchange {
  readonly requestId: string;
  /** True once the client went away; streaming stops writing. */
  readonly closed: boolean;
  sendJson(status: number, body: unknown, headers?: Record<string, string>): void;
  sendError(error: BedrockError): void;
  startStream(headers: Record<string, string>): void;
  /** Resolves once the chunk is flushed to the transport (respects back-pressure). */
  write(chunk: Buffer): Promise<void>;
  end(): void;
}
