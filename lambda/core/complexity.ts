import type { NormalizedJobRequest } from './job-request';

/*
 * The rules half of content-based routing: how demanding a request looks, from its text alone, in well under a
 * millisecond. Each feature adds points (lambda/core/complexity.ts is the one home of the weights); the points
 * become a score in [0, 1] and a tier. The cue lists cover English, Spanish, French, German, Portuguese, Italian,
 * Japanese and Chinese; bench/routing measures them on a labeled set (npm run bench -- routing).
 */

export const COMPLEXITY_TIERS = ['simple', 'medium', 'complex'] as const;
export type ComplexityTier = (typeof COMPLEXITY_TIERS)[number];

/** Score boundaries between the tiers: below `medium` is simple, from `complex` up is complex. */
export interface TierThresholds {
  medium: number;
  complex: number;
}

export const DEFAULT_THRESHOLDS: TierThresholds = { medium: 0.22, complex: 0.4 };

/** One feature that moved the score, and by how many points: the explanation a job's routing record carries. */
export interface ScoredFeature {
  feature: string;
  points: number;
}

export interface ComplexityAssessment {
  /** 0 (plainly simple) .. 1 (plainly complex), rounded to two decimals. */
  score: number;
  tier: ComplexityTier;
  features: ScoredFeature[];
}

/** Points per unit of score: a score of 1 is 9 points (ZERO_POINTS + 12). */
const POINTS_PER_SCORE = 12;
/** The points of a score of 0: a request this plainly simple or plainer. */
const ZERO_POINTS = -3;

/** A cue: a pattern (matched on the lower-cased text) and its points when present. */
interface Cue {
  pattern: RegExp;
  points: number;
}

const cues = (points: number, ...patterns: RegExp[]): Cue[] => patterns.map((pattern) => ({ pattern, points }));

/** Reasoning, proof, design and analysis: what a large model is for. Each counts once; their sum is capped. */
const DEMANDING: Cue[] = [
  ...cues(
    2,
    /\bprove\b|\bproof\b|\bderive\b|\brigorous(ly)?\b|\btheorem\b|\blinearizab|\bcounterexample/,
    /\bdesign (a|an|the)\b|\barchitecture\b|\bsystem design\b|\bprotocol\b/,
    /\btrade-?offs?\b|\bfailure modes?\b|\bthreat-model|\bstride\b/,
    /\bstep by step\b|\bthink step\b|\breason through\b|\bwalk (me )?through\b/,
    /\bcritical(ly)?\b|\bsensitivity analysis\b|\bcausal\b|\bconfound/,
    /\bdistributed\b|\bconcurren|\bdeadlock|\block-free\b|\bidempoten|\bexactly[- ]once\b|\bconsisten(t|cy)\b|\bconverge/,
    /\bmigrat(e|ion)\b|\brefactor|\bproduction-ready\b|\bzero downtime\b|\bwithout downtime\b/,
    /\bstrategy\b|\broadmap\b|\bscenarios\b|\bbatna\b|\bdecision framework\b/,
    // es, pt, it
    /\bdemuestra|\bdemonstre|\bdimostra|\bdiseñ[ae]|\bprojete\b|\bprogetta\b|\bpaso a paso\b|\bpasso a passo\b|\bpasso dopo passo\b/,
    /\bcompromisos\b|\bcompromessi\b|\bescenarios\b|\bcenários\b|\bestrategia\b|\bestratégia\b|\brazona\b|\bragiona\b/,
    // fr
    /\bdémontre|\bconcev(ez|oir)\b|\bjustifiez\b|\bcompromis\b|\bstratégie\b|\bde manière critique\b|\brigoureusement\b/,
    // de
    /\bbeweise\b|\bentwirf\b|\barchitektur\b|\bbegründe\b|\bkompromisse\b|\bschritt für schritt\b|\bübergangsplan\b/,
    // ja, zh (no word boundaries)
    /設計|証明|戦略|トレードオフ|論じ|设计|证明|利弊|逐步|策略/,
  ),
  ...cues(
    1,
    /\banaly[sz](e|is)\b|\bevaluate\b|\bassess\b|\bjustify\b|\bhypothes[ie]s\b|\bin depth\b|\bin detail\b|\bsecond-order\b|\bfeedback loops?\b/,
    /\boptimi[sz]e\b|\bscal(e|ability|able)\b|\bthroughput\b|\blatency\b|\bper second\b|\bmillion\b/,
    /\bimplement\b|\bcomplete,? (implementation|production)|\bend[- ]to[- ]end\b/,
    /\bcomplexity\b|\brecurrence\b|\beigen|\bdifferential equation|\binduction\b|\bintegral\b|\bderivative\b|\bbayes|\bsignifican(t|ce)\b|\bconfidence interval\b/,
    /\banaliza|\banalise\b|\banalysez\b|\banalysiere\b|\bavalie\b|\bvaluta\b|\ben détail\b|\bdetalladamente\b/,
    /分析|詳しく|推理|影响/,
  ),
];

/** The most the demanding cues add together: beyond this, more cue words do not make a request harder. */
const DEMANDING_CAP = 7;

/** Explaining, comparing and writing at some length: a medium model's work. Counted once each, capped. */
const ELABORATE: Cue[] = cues(
  1,
  /\bexplain\b|\bdescribe\b|\bcompare\b|\bdifferences?\b|\bpros and cons\b|\bhow (does|do|should)\b|\bwhy\b|\bwhat should\b/,
  /\bwrite (a|an|the|unit|five|ten|\d+)\b|\bdraft\b|\bcreate (a|an)\b|\boutline\b|\bplan\b|\bitinerary\b|\bsuggest\b|\bpropose\b/,
  /\bsummar(y|ize|ise)\b|\bkey takeaways\b|\bmain (arguments|causes|differences|consequences)\b|\bstep-by-step\b|\binstructions\b/,
  /\bexamples?\b|\btests?\b|\breview\b|\bfunction\b|\bscript\b|\bquery\b|\bsnippet\b/,
  /\bexplica|\bdescribe\b|\bcompara\b|\bdiferencia|\bescrib[ae]\b|\bresum[ea]\b|\bventajas\b|\bcómo funciona\b|\bescreva\b|\bexplique\b|\bdescreva\b|\bdiferença\b|\bquais\b|\bcomo funciona\b/,
  /\bexplique\b|\bdécri[st]\b|\bdifférence\b|\brédige\b|\brésume\b|\bavantages\b|\bpropose\b|\bcomment\b|\bquels sont\b/,
  /\berkläre\b|\bbeschreibe\b|\bvergleiche\b|\bunterschied\b|\bschreibe\b|\bvor- und nachteile\b|\bwelche\b/,
  /\bspiega\b|\bdescrivi\b|\bconfronta\b|\bdifferenza\b|\bscrivi\b|\briassumi\b/,
  /説明|比較|違い|書いて|紹介|要約|解释|比较|异同|写一|说明|总结/,
);

const ELABORATE_CAP = 3;

/** Lookups, labels, conversions and one-line answers: a small model's work. */
const QUICK: Cue[] = cues(
  -1,
  /^(what|who|which|when|where) (is|are|was|were|did|does|year|port|gas|ocean|vitamin|currency|language|file|time zone)\b/,
  /\bhow many\b|\bcapital of\b|\bwho (wrote|painted)\b|\bname (the|a)\b|\bstand for\b|\bdefine\b|\bwhat does .{1,30} mean\b/,
  /\btranslate\b|\bsynonym\b|\bplural\b|\bopposite of\b|\bspelling\b|\bcorrect the grammar\b|\bfix the spelling\b|\brhyme\b/,
  /\bpositive or negative\b|\bpositive, negative or neutral\b|\bclassify\b|\bcategori[sz]e\b|\blabel (this|the)\b|\btag (this|the)\b|\bis (this|the following|the) .{0,40}(spam|question)\b|\banswer (yes|positive)\b/,
  /\bextract\b|\bpull out\b|\breturn (just|only)\b|\bgive me the\b|\bwhich product\b|\blist the names\b/,
  /\bconvert\b|\bformat\b|\bsort\b|\bround\b|\btitle case\b|\buppercase\b|\bbulleted list\b|\bremove the duplicates\b|\bchange this date\b/,
  /\byes or no\b|\bone word\b|\bone sentence\b|\bone-line\b|\bone line\b|\btweet-length\b|\bshort\b|\bquick\b/,
  /\bcuál es\b|\bcuántos\b|\btraduce\b|\bsinónimo\b|\bpositivo o negativo\b|\bextrae\b|\bqual é\b|\btraduza\b|\bclassifique\b|\bqual è\b|\btraduci\b/,
  /\bquelle est\b|\bquel est\b|\bcombien\b|\btraduis\b|\bcorrige\b|\bpositif ou négatif\b|\bwie heißt\b|\bübersetze\b|\bpositiv oder negativ\b|\bwas bedeutet\b|\bwas ist\b/,
  /翻訳|翻译|何ですか|肯定的ですか|哪里|正面还是负面/,
);

/** CJK characters carry about four Latin letters' worth of content each. */
const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]/g;

/** Length in Latin-letter equivalents. */
function effectiveLength(text: string): number {
  const cjk = text.match(CJK)?.length ?? 0;
  return text.length + 3 * cjk;
}

/** Length on a log scale: about 0 points at 120 letters, +1 per doubling, between -1.5 and +3. */
function lengthPoints(length: number): number {
  return Math.round(Math.min(3, Math.max(-1.5, Math.log2(Math.max(1, length) / 120))) * 10) / 10;
}

/** Quantities to work with (three or more numbers) or mathematical notation: a calculation to carry out. */
function quantitativePoints(text: string): number {
  const numbers = (text.match(/\d+(?:[.,]\d+)?/g) ?? []).length;
  const notation = /[a-z]\^\d|\b[a-z]\s*[=<>]\s*\d|\d\s*[=<>+*/]\s*[a-z\d]|√|∑|∫|\blog\b|\bo\(n/.test(text);
  return (numbers >= 3 ? 1 : 0) + (notation ? 1 : 0);
}

/** Sub-tasks asked for: questions, enumerations and comma-separated deliverables. */
function partsPoints(text: string): number {
  const questions = (text.match(/[?？]/g) ?? []).length;
  const enumerated = (text.match(/(^|\s)(\(?[a-e1-9]\)|\d\.\s|first,|second,|third,|fourth,|then\b|finally\b|after the\b)/gi) ?? []).length;
  const listed = (text.match(/[,，、;]/g) ?? []).length;
  let points = 0;
  if (questions >= 2) points += 1;
  if (enumerated >= 2) points += 1;
  if (listed >= 5) points += 1;
  if (listed >= 9) points += 1;
  return points;
}

/** Code in the prompt: fences, or lines that look like statements. */
const CODE = /```|^\s*(def |function |class |fn |func |var |let |const |import |select |for |if |return )|[;{}]\s*$|=>/m;

/** "2,000 words", "3,000-word": how much the answer is asked to be. */
function requestedLengthPoints(text: string, maxTokens: number | undefined): number {
  const words = /(\d[\d,.]*)[\s-]*(words?|palabras|mots|wörter|palavras|parole)\b/.exec(text);
  const count = words ? Number(words[1].replace(/[,.]/g, '')) : undefined;
  let points = 0;
  if (count !== undefined) points += count >= 1500 ? 3 : count >= 600 ? 1 : 0;
  if (maxTokens !== undefined) points += maxTokens >= 8000 ? 1 : maxTokens <= 100 ? -1 : 0;
  return points;
}

function cuePoints(text: string, list: Cue[], cap: number): number {
  let points = 0;
  for (const cue of list) if (cue.pattern.test(text)) points += cue.points;
  return Math.sign(points) * Math.min(Math.abs(points), cap);
}

/** The text the score reads: the last user message's text (earlier turns count only as their number). */
export function lastUserText(request: Pick<NormalizedJobRequest, 'messages'>): string {
  const last = [...request.messages].reverse().find((m) => m.role === 'user');
  return (last?.content ?? []).map((block) => ('text' in block && typeof block.text === 'string' ? block.text : '')).join('\n');
}

function attachmentCount(request: Pick<NormalizedJobRequest, 'messages'>): number {
  return request.messages.reduce((n, m) => n + m.content.filter((block) => 'image' in block || 'document' in block).length, 0);
}

export function tierOf(score: number, thresholds: TierThresholds = DEFAULT_THRESHOLDS): ComplexityTier {
  if (score >= thresholds.complex) return 'complex';
  return score >= thresholds.medium ? 'medium' : 'simple';
}

/** Scores a request's demands from its text: deterministic, no I/O. */
export function assessComplexity(request: Pick<NormalizedJobRequest, 'messages' | 'inferenceConfig'>, thresholds: TierThresholds = DEFAULT_THRESHOLDS): ComplexityAssessment {
  const raw = lastUserText(request);
  const text = raw.toLowerCase();
  const features: ScoredFeature[] = [];
  const add = (feature: string, points: number) => {
    if (points !== 0) features.push({ feature, points });
  };
  add('length', lengthPoints(effectiveLength(raw)));
  add('reasoning', cuePoints(text, DEMANDING, DEMANDING_CAP));
  add('elaboration', cuePoints(text, ELABORATE, ELABORATE_CAP));
  add('lookup', cuePoints(text, QUICK, 2));
  add('parts', partsPoints(raw));
  add('code', CODE.test(raw) ? 1 : 0);
  add('quantities', quantitativePoints(text));
  add('outputSize', requestedLengthPoints(text, request.inferenceConfig?.maxTokens));
  const attachments = attachmentCount(request);
  add('attachments', attachments === 0 ? 0 : attachments > 2 ? 2 : 1);
  add('turns', request.messages.length > 5 ? 1 : 0);
  const points = features.reduce((sum, f) => sum + f.points, 0);
  const score = Math.round(Math.min(1, Math.max(0, (points - ZERO_POINTS) / POINTS_PER_SCORE)) * 100) / 100;
  return { score, tier: tierOf(score, thresholds), features };
}

/** Whether the score is close enough to a tier boundary that the classifier should decide. */
export function isUncertain(score: number, band: number, thresholds: TierThresholds = DEFAULT_THRESHOLDS): boolean {
  return Math.abs(score - thresholds.medium) < band || Math.abs(score - thresholds.complex) < band;
}
