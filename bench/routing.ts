import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BedrockRuntimeClient, ConverseCommand, type Message, type SystemContentBlock } from '@aws-sdk/client-bedrock-runtime';
import { parseConfig } from '../lib/config';
import { routingTableOf } from '../lib/quarry-stack';
import { estimateInputTokens } from '../lambda/core/admission';
import { classifierRequest, parseClassifierAnswer } from '../lambda/core/classifier';
import { assessComplexity, COMPLEXITY_TIERS, DEFAULT_THRESHOLDS, isUncertain, type ComplexityTier } from '../lambda/core/complexity';
import type { NormalizedJobRequest } from '../lambda/core/job-request';
import { routingTableSchema } from '../lambda/core/settings';
import { startBedrockSimulator } from '../local/bedrock-sim';

/*
 * `npm run bench -- routing`: content-based routing on the labeled set (bench/routing/labeled-prompts.jsonl, written
 * for this project: tier, domain, language and the reason for each label). It reports the accuracy of the rules
 * alone and of rules + classifier at several uncertainty bands, the share escalated, how often a complex prompt
 * lands on the simple tier, the scorer's time per prompt, and the model cost of the set under the default `auto`
 * route versus always the large model, at the default config's list prices.
 *
 * The classifier is the Bedrock simulator's stand-in (local/bedrock-sim/classifier-rule.ts: a size-and-asks rule,
 * documented there), called through the real AWS SDK with Quarry's classifier prompt: the bench measures the
 * mechanism (which prompts escalate, what the answer does to the tier), not how good a real small model would be.
 */

interface Labeled {
  tier: ComplexityTier;
  domain: string;
  lang: string;
  prompt: string;
  reason: string;
}

/** Output tokens a prompt of each (true) tier is assumed to need, whichever model answers it. */
const OUTPUT_TOKENS: Record<ComplexityTier, number> = { simple: 100, medium: 500, complex: 1500 };

const BANDS = [0.03, 0.05, 0.08];

const requestOf = (prompt: string): NormalizedJobRequest => ({ messages: [{ role: 'user', content: [{ text: prompt }] }] });

export async function routingBenchmark(): Promise<Record<string, unknown>> {
  const file = path.join(__dirname, 'routing', 'labeled-prompts.jsonl');
  const set = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Labeled);
  const table = routingTableSchema.parse(routingTableOf(parseConfig({})));
  const auto = table.routes.auto;
  if (!auto?.tiers || !auto.classifier) throw new Error('the default config has no content route "auto" with a classifier');
  const thresholds = auto.thresholds ?? DEFAULT_THRESHOLDS;

  // The scorer's time: every prompt scored 20 times.
  const started = process.hrtime.bigint();
  for (let round = 0; round < 20; round++) for (const row of set) assessComplexity(requestOf(row.prompt), thresholds);
  const microsPerPrompt = Number(process.hrtime.bigint() - started) / 1000 / (20 * set.length);

  const assessed = set.map((row) => ({ row, rules: assessComplexity(requestOf(row.prompt), thresholds) }));
  const simulator = await startBedrockSimulator();
  const client = new BedrockRuntimeClient({ endpoint: simulator.url, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const verdicts = new Map<string, ComplexityTier | undefined>();
  const classify = async (prompt: string): Promise<ComplexityTier | undefined> => {
    if (verdicts.has(prompt)) return verdicts.get(prompt);
    const request = classifierRequest(prompt);
    const answer = await client.send(
      new ConverseCommand({
        modelId: auto.classifier!.modelId,
        system: [{ text: request.system! }] as SystemContentBlock[],
        messages: request.messages as Message[],
        inferenceConfig: request.inferenceConfig,
      }),
    );
    const tier = parseClassifierAnswer(answer.output?.message?.content?.map((c) => c.text ?? '').join('') ?? '');
    verdicts.set(prompt, tier);
    return tier;
  };

  const price = (modelId: string) => table.models[modelId]?.price ?? { in: 0, out: 0 };
  const callCost = (modelId: string, inputTokens: number, outputTokens: number) => (price(modelId).in * inputTokens + price(modelId).out * outputTokens) / 1e6;
  const largest = auto.tiers.complex.modelId;

  const rows: Array<Record<string, unknown>> = [];
  try {
    for (const band of [0, ...BANDS]) {
      const confusion: Record<string, Record<string, number>> = Object.fromEntries(COMPLEXITY_TIERS.map((t) => [t, Object.fromEntries(COMPLEXITY_TIERS.map((u) => [u, 0]))]));
      let correct = 0;
      let escalated = 0;
      let cost = 0;
      let alwaysLarge = 0;
      for (const { row, rules } of assessed) {
        let tier = rules.tier;
        const inputTokens = estimateInputTokens(requestOf(row.prompt));
        if (band > 0 && isUncertain(rules.score, band, thresholds)) {
          escalated++;
          tier = (await classify(row.prompt)) ?? tier;
          cost += callCost(auto.classifier.modelId, inputTokens + 150, 8);
        }
        confusion[row.tier][tier]++;
        if (tier === row.tier) correct++;
        cost += callCost(auto.tiers[tier].modelId, inputTokens, OUTPUT_TOKENS[row.tier]);
        alwaysLarge += callCost(largest, inputTokens, OUTPUT_TOKENS[row.tier]);
      }
      const complexTotal = set.filter((r) => r.tier === 'complex').length;
      rows.push({
        mode: band === 0 ? 'rules alone' : `rules + classifier, band ${band}`,
        accuracy: Math.round((correct / set.length) * 1000) / 1000,
        escalatedShare: Math.round((escalated / set.length) * 1000) / 1000,
        complexToSimple: Math.round((confusion.complex.simple / complexTotal) * 1000) / 1000,
        confusion,
        modelCostUsd: Math.round(cost * 10_000) / 10_000,
        alwaysLargeUsd: Math.round(alwaysLarge * 10_000) / 10_000,
        costRatio: Math.round((cost / alwaysLarge) * 1000) / 1000,
      });
    }
  } finally {
    client.destroy();
    await simulator.stop();
  }

  const rules = rows[0] as { accuracy: number; complexToSimple: number };
  const met = rules.accuracy >= 0.8 && rules.complexToSimple <= 0.03;
  const byLanguage = Object.fromEntries(
    [...new Set(set.map((r) => r.lang))].map((lang) => {
      const of = assessed.filter((a) => a.row.lang === lang);
      return [lang, { prompts: of.length, accuracy: Math.round((of.filter((a) => a.rules.tier === a.row.tier).length / of.length) * 1000) / 1000 }];
    }),
  );
  const table_ = rows
    .map((r) => `  ${String(r.mode).padEnd(34)} accuracy ${String(r.accuracy).padEnd(6)} escalated ${String(r.escalatedShare).padEnd(6)} complex->simple ${String(r.complexToSimple).padEnd(6)} model cost $${r.modelCostUsd} vs always ${largest} $${r.alwaysLargeUsd} (${r.costRatio}x)`)
    .join('\n');
  const summary =
    `routing: ${set.length} labeled prompts (${COMPLEXITY_TIERS.map((t) => `${set.filter((r) => r.tier === t).length} ${t}`).join(', ')}; ${Object.keys(byLanguage).length} languages), ` +
    `thresholds ${thresholds.medium}/${thresholds.complex}, scorer ${microsPerPrompt.toFixed(1)} us per prompt\n${table_}\n` +
    `  target (rules alone >= 0.8 accuracy, complex->simple <= 0.03): ${met ? 'met' : 'NOT met'}; the classifier is the simulator's size-and-asks rule (local/bedrock-sim/classifier-rule.ts), not a real model`;
  return { set: path.relative(process.cwd(), file), prompts: set.length, thresholds, microsPerPrompt, rows, byLanguage, targetMet: met, summary };
}
