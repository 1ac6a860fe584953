import { hashText, seededRandom } from './random';

/** What every request format boils down to before generation. */
export interface Prompt {
  /** All prompt text (system and every message), in order. */
  text: string;
  /** Text of the last user message; `[[sim:...]]` directives are read from it. */
  lastUserText: string;
  /** The caller's explicit output limit, if any. */
  maxTokens?: number;
  /** Input tokens beyond the text's (images, binary documents). */
  extraInputTokens?: number;
}

export interface Completion {
  /** One entry per output token; the streaming delta of token i is `deltas[i]`. */
  deltas: string[];
  text: string;
  truncated: boolean;
  inputTokens: number;
  outputTokens: number;
}

export const DEFAULT_MAX_TOKENS = 4096;
const MAX_DIRECTIVE_TOKENS = 100_000;

const WORDS = (
  'quarry stone granite basalt marble slate ledge seam vein chisel hammer wedge block slab cut ' +
  'river valley ridge summit meadow forest harbor lantern signal beacon current tide compass ' +
  'pattern model answer result summary detail careful steady quiet bright clear simple ' +
  'measure gather carry build shape sort weigh check record report deliver return finish begin ' +
  'the a of and to in with for on by from over under through across between'
).split(' ');

export function countInputTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** `[[sim:tokens=N]]` in the last user message asks for exactly N output tokens (still capped by maxTokens). */
export function requestedOutputTokens(lastUserText: string): number | undefined {
  const match = /\[\[sim:tokens=(\d+)\]\]/.exec(lastUserText);
  if (!match) return undefined;
  return Math.min(Math.max(1, Number(match[1])), MAX_DIRECTIVE_TOKENS);
}

export function plannedOutputTokens(prompt: Prompt, outputTokens: number, defaultMaxTokens: number) {
  const wanted = requestedOutputTokens(prompt.lastUserText) ?? outputTokens;
  const maxTokens = prompt.maxTokens ?? defaultMaxTokens;
  return { count: Math.min(wanted, maxTokens), truncated: wanted > maxTokens };
}

/** Same seed and prompt text always give the same words; one word is one token. */
export function generate(prompt: Prompt, seed: number, count: number, truncated: boolean): Completion {
  const random = seededRandom(hashText(`${seed}\u0000${prompt.text}`));
  const words: string[] = [];
  let sentenceLength = 0;
  for (let i = 0; i < count; i++) {
    let word = WORDS[Math.floor(random() * WORDS.length)];
    if (sentenceLength === 0) word = word[0].toUpperCase() + word.slice(1);
    sentenceLength++;
    const endsSentence = i === count - 1 ? !truncated : sentenceLength >= 6 && random() < 0.25;
    if (endsSentence) {
      word += '.';
      sentenceLength = 0;
    }
    words.push(word);
  }
  const deltas = words.map((word, i) => (i === 0 ? word : ` ${word}`));
  return {
    deltas,
    text: deltas.join(''),
    truncated,
    inputTokens: countInputTokens(prompt.text) + (prompt.extraInputTokens ?? 0),
    outputTokens: count,
  };
}
