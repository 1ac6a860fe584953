/** One dispatched server-sent event: its `event:` name (default "message"), its data lines joined by "\n", its `id:`. */
export interface RawSseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental parser of `text/event-stream` as the WHATWG HTML standard defines it: lines end in CRLF, LF or CR
 * (also split across chunks), `:` starts a comment, a field's value loses one leading space, `data` lines accumulate,
 * a blank line dispatches, an event with no data is dropped, and an unfinished event at the end of the stream is
 * discarded.
 */
export class SseParser {
  private buffer = '';
  private skipLeadingLf = false;
  private eventName = '';
  private data: string[] = [];
  private id?: string;
  private lastId?: string;

  push(text: string): RawSseEvent[] {
    const events: RawSseEvent[] = [];
    if (this.skipLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLeadingLf = false;
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.buffer.slice(0, end);
      let rest = end + 1;
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) this.skipLeadingLf = true;
        else if (this.buffer[end + 1] === '\n') rest = end + 2;
      }
      this.buffer = this.buffer.slice(rest);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): RawSseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.eventName = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return undefined;
  }

  private dispatch(): RawSseEvent | undefined {
    if (this.id !== undefined) this.lastId = this.id;
    const event = this.data.length ? { event: this.eventName || 'message', data: this.data.join('\n'), ...(this.lastId !== undefined && { id: this.lastId }) } : undefined;
    this.eventName = '';
    this.data = [];
    this.id = undefined;
    return event;
  }
}

/** The events of a byte stream of `text/event-stream`, as they arrive. */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<RawSseEvent> {
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.push(decoder.decode(chunk, { stream: true }));
  yield* parser.push(decoder.decode());
}
