import { resolvePending, turnMessages, type ConversationMessage, type PendingTurn } from '../../../lambda/core/conversation';
import type { Job } from '../../../lambda/core/job';

const turn = (n: number, user: string, assistant?: string): ConversationMessage[] => [
  { role: 'user', content: user, turn: n },
  ...(assistant !== undefined ? [{ role: 'assistant' as const, content: assistant, turn: n }] : []),
];

describe('turnMessages', () => {
  it('sends the whole history and the new message while they fit', () => {
    expect(turnMessages([...turn(1, 'a', 'b')], 'c', 0, 1000, 100)).toEqual([
      { role: 'user', content: [{ text: 'a' }] },
      { role: 'assistant', content: [{ text: 'b' }] },
      { role: 'user', content: [{ text: 'c' }] },
    ]);
  });

  it('drops the oldest turns first, whole, until the rest fits the window less the output and the system prompt', () => {
    const long = 'x'.repeat(400); // 100 tokens
    const history = [...turn(1, long, long), ...turn(2, long, long), ...turn(3, long, long)];
    // Window 600 - 100 output - 25 system (100 chars) = 475 tokens: the new message and two messages (one turn) fit.
    const sent = turnMessages(history, long, 25, 600, 100);
    expect(sent).toHaveLength(3);
    expect(sent[0].role).toBe('user');
  });

  it('always sends the newest message, even alone over the window', () => {
    expect(turnMessages(turn(1, 'a', 'b'), 'y'.repeat(10_000), 0, 100, 10)).toEqual([{ role: 'user', content: [{ text: 'y'.repeat(10_000) }] }]);
  });

  it("merges a user message left unanswered (a failed job's) into the next one, so roles alternate", () => {
    expect(turnMessages([...turn(1, 'a', 'b'), ...turn(2, 'lost')], 'again', 0, undefined, 10)).toEqual([
      { role: 'user', content: [{ text: 'a' }] },
      { role: 'assistant', content: [{ text: 'b' }] },
      { role: 'user', content: [{ text: 'lost' }, { text: 'again' }] },
    ]);
  });

  it('never keeps a tool result whose tool call was trimmed away: the pair goes together', () => {
    const long = 'x'.repeat(400); // 100 tokens
    const toolUse = { toolUse: { toolUseId: 't1', name: 'lookup', input: { q: long } } };
    const toolResult = { toolResult: { toolUseId: 't1', content: [{ text: 'found' }] } };
    const history: ConversationMessage[] = [
      { role: 'user', content: long, turn: 1 },
      { role: 'assistant', content: [toolUse], turn: 1 },
      { role: 'user', content: [toolResult], turn: 2 },
      { role: 'assistant', content: 'done', turn: 2 },
    ];
    // 100 tokens of room for ~210: dropping turn 1 fits, but would leave a tool result first, answering nothing.
    const sent = turnMessages(history, 'next', 0, 150, 50);
    expect(sent).toEqual([{ role: 'user', content: [{ text: 'next' }] }]);
  });
});

describe('resolvePending', () => {
  const now = 1_000_000;
  const pending = (over: Partial<PendingTurn> = {}): PendingTurn => ({ turn: 3, content: 'q', mode: 'job', since: now - 1000, ...over });
  const job = (status: Job['status'], text?: string) => ({ status, ...(text !== undefined && { result: { text, stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 2 }, modelId: 'm' } }) }) as Job;

  it('records a succeeded job as the user message and its answer', () => {
    expect(resolvePending(pending({ jobId: 'j' }), job('SUCCEEDED', 'answer'), now, 60_000)).toEqual({
      kind: 'record',
      messages: [
        { role: 'user', content: 'q', turn: 3, jobId: 'j' },
        { role: 'assistant', content: 'answer', turn: 3, usage: { inputTokens: 1, outputTokens: 2 }, jobId: 'j' },
      ],
    });
  });

  it("records a failed job's user message only, and waits on a running one", () => {
    expect(resolvePending(pending({ jobId: 'j' }), job('FAILED'), now, 60_000)).toEqual({ kind: 'record', messages: [{ role: 'user', content: 'q', turn: 3, jobId: 'j' }] });
    expect(resolvePending(pending({ jobId: 'j' }), job('RUNNING'), now, 60_000)).toEqual({ kind: 'busy' });
  });

  it('clears a synchronous turn (or a job that never appeared) only once its lease is over', () => {
    expect(resolvePending(pending({ mode: 'sync' }), undefined, now, 60_000)).toEqual({ kind: 'busy' });
    expect(resolvePending(pending({ mode: 'sync', since: now - 61_000 }), undefined, now, 60_000)).toEqual({ kind: 'clear' });
    expect(resolvePending(pending({ jobId: 'gone', since: now - 61_000 }), undefined, now, 60_000)).toEqual({ kind: 'clear' });
    expect(resolvePending(undefined, undefined, now, 60_000)).toEqual({ kind: 'none' });
  });
});
