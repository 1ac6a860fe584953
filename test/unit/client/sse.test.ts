import { SseParser, readSse } from '../../../client/src/sse';

const parseAll = (...chunks: string[]) => {
  const parser = new SseParser();
  return chunks.flatMap((chunk) => parser.push(chunk));
};

describe('the SSE parser', () => {
  it('reads named events with one JSON data line each, as POST /invoke/stream sends them', () => {
    expect(parseAll('event: start\ndata: {"route":"generate"}\n\nevent: delta\ndata: {"text":"Once"}\n\n')).toEqual([
      { event: 'start', data: '{"route":"generate"}' },
      { event: 'delta', data: '{"text":"Once"}' },
    ]);
  });

  it('joins multi-line data with newlines and strips only one leading space', () => {
    expect(parseAll('data: first\ndata:  second\ndata:third\n\n')).toEqual([{ event: 'message', data: 'first\n second\nthird' }]);
  });

  it('ignores comments (keep-alives) and unknown fields, and drops events with no data', () => {
    expect(parseAll(': keep-alive\n\nretry: 1000\nfoo: bar\nevent: ping\n\nevent: stop\n: mid-event comment\ndata: {}\n\n')).toEqual([{ event: 'stop', data: '{}' }]);
  });

  it('handles CRLF and CR line ends, also when a CRLF is split between chunks', () => {
    expect(parseAll('event: a\r\ndata: 1\r', '\n\r', '\nevent: b\rdata: 2\r\r')).toEqual([
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
    ]);
  });

  it('reassembles an event split anywhere across chunks, and discards one left unfinished at the end', () => {
    expect(parseAll('ev', 'ent: del', 'ta\nda', 'ta: {"text":"x"}', '\n', '\n', 'event: stop\ndata: {}\n')).toEqual([{ event: 'delta', data: '{"text":"x"}' }]);
  });

  it('keeps the last event id for the events after it', () => {
    expect(parseAll('id: 7\ndata: a\n\ndata: b\n\n')).toEqual([
      { event: 'message', data: 'a', id: '7' },
      { event: 'message', data: 'b', id: '7' },
    ]);
  });

  it('decodes UTF-8 split inside a character across byte chunks', async () => {
    const bytes = new TextEncoder().encode('data: {"text":"héllo €"}\n\n');
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 3) yield bytes.slice(i, i + 3);
    }
    const events = [];
    for await (const event of readSse(chunks())) events.push(event);
    expect(events).toEqual([{ event: 'message', data: '{"text":"héllo €"}' }]);
  });
});
