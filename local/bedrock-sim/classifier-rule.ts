/*
 * The simulator's stand-in for a small classifier model (Quarry's content routing, lambda/core/classifier.ts): a
 * Converse request whose system prompt starts with CLASSIFIER_OPENING gets {"tier": ...} from this rule instead of
 * generated words. The rule looks only at size and the number of asks, not at Quarry's cue words, so it is an
 * independent second opinion; bench/routing measures what it is worth (npm run bench -- routing).
 *
 *   words: whitespace-separated words, plus one per two CJK characters
 *   asks:  question marks, plus list separators (, ; 、 ，) and the word "and"
 *   complex  when words >= 45, or asks >= 7
 *   simple   when words <= 12 and asks <= 1
 *   medium   otherwise
 */

/** The first sentence of Quarry's classifier prompt. */
export const CLASSIFIER_OPENING = 'You classify how demanding a request is for a language model.';

export function simulatedTier(request: string): 'simple' | 'medium' | 'complex' {
  const inner = /<request>\n?([\s\S]*?)\n?<\/request>/.exec(request)?.[1] ?? request;
  const cjk = inner.match(/[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]/g)?.length ?? 0;
  const words = inner.split(/\s+/).filter(Boolean).length + Math.floor(cjk / 2);
  const asks = (inner.match(/[?？,;、，]/g)?.length ?? 0) + (inner.match(/\band\b/gi)?.length ?? 0);
  if (words >= 45 || asks >= 7) return 'complex';
  if (words <= 12 && asks <= 1) return 'simple';
  return 'medium';
}
