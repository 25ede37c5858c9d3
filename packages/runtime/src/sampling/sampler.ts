// Host-side sampling from one row of logits. Order as in Hugging Face `generate`: repetition
// penalty, temperature, top-k, top-p, min-p, then a draw from the request's own seeded RNG (so a
// request's tokens do not depend on what else shares its batch).

import type { Rng } from '../util/rng.js';

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off. Keep tokens with p >= minP * p_max. */
  minP: number;
  /** 1 = off. HF semantics: positive logits divided, negative multiplied, for every seen token. */
  repetitionPenalty: number;
}

export const DEFAULT_SAMPLING: Readonly<SamplingParams> = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 };

export function validateSampling(p: SamplingParams): void {
  const bad = (what: string) => {
    throw new RangeError(`bad sampling parameter: ${what}`);
  };
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) bad(`temperature ${p.temperature} (need >= 0)`);
  if (!Number.isInteger(p.topK) || p.topK < 0) bad(`topK ${p.topK} (need an integer >= 0)`);
  if (!(p.topP > 0 && p.topP <= 1)) bad(`topP ${p.topP} (need 0 < topP <= 1)`);
  if (!(p.minP >= 0 && p.minP <= 1)) bad(`minP ${p.minP} (need 0 <= minP <= 1)`);
  if (!(p.repetitionPenalty > 0) || !Number.isFinite(p.repetitionPenalty)) bad(`repetitionPenalty ${p.repetitionPenalty} (need > 0)`);
}

/** Greedy requests can take the device's argmax and skip reading logits back. */
export function isDeviceGreedy(p: SamplingParams): boolean {
  return (p.temperature === 0 || p.topK === 1) && p.repetitionPenalty === 1;
}

/** First index of the largest value; NaN never wins. */
export function argmax(x: Float32Array): number {
  let best = -1;
  let bestV = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > bestV || (best < 0 && v === bestV)) {
      bestV = v;
      best = i;
    }
  }
  return Math.max(best, 0);
}

/** Applies the repetition penalty in place to every token in `seen`. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const t of seen) {
    const v = logits[t]!;
    logits[t] = v > 0 ? v / penalty : v * penalty;
  }
}

/**
 * The tokens that survive temperature/top-k/top-p/min-p and their normalised probabilities,
 * most probable first. Exposed for tests; `sample` draws from it.
 */
export function candidateDistribution(logits: Float32Array, p: SamplingParams): { ids: Int32Array; probs: Float64Array } {
  const V = logits.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === Number.NEGATIVE_INFINITY || Number.isNaN(max)) throw new Error('all logits are -inf or NaN: nothing to sample');
  const invT = 1 / p.temperature;
  // Tokens below max - 40*T have relative probability < e^-40: dropping them changes nothing a
  // 53-bit draw can see, and spares sorting a 128k vocabulary every token.
  const floor = max - 40 * p.temperature;
  let ids: number[] = [];
  for (let i = 0; i < V; i++) if (logits[i]! >= floor) ids.push(i);
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (p.topK > 0 && ids.length > p.topK) ids = ids.slice(0, p.topK);
  let probs = new Float64Array(ids.length);
  let sum = 0;
  for (let j = 0; j < ids.length; j++) {
    const e = Math.exp((logits[ids[j]!]! - max) * invT);
    probs[j] = e;
    sum += e;
  }
  for (let j = 0; j < probs.length; j++) probs[j]! /= sum;
  let keep = probs.length;
  if (p.topP < 1) {
    // Smallest prefix whose mass reaches topP (at least one token), as HF's TopPLogitsWarper.
    let cum = 0;
    for (let j = 0; j < probs.length; j++) {
      cum += probs[j]!;
      if (cum >= p.topP) {
        keep = j + 1;
        break;
      }
    }
  }
  if (p.minP > 0) {
    const threshold = p.minP * probs[0]!;
    let j = 1;
    while (j < keep && probs[j]! >= threshold) j++;
    keep = j;
  }
  if (keep < probs.length) {
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    let s = 0;
    for (let j = 0; j < keep; j++) s += probs[j]!;
    for (let j = 0; j < keep; j++) probs[j]! /= s;
  }
  return { ids: Int32Array.from(ids), probs };
}

/** Picks the next token from one row of logits (modified in place by the repetition penalty). */
export function sample(logits: Float32Array, p: SamplingParams, rng: Rng, seen: Iterable<number>): number {
  applyRepetitionPenalty(logits, seen, p.repetitionPenalty);
  if (p.temperature === 0 || p.topK === 1) return argmax(logits);
  const { ids, probs } = candidateDistribution(logits, p);
  const u = rng.nextFloat();
  let cum = 0;
  for (let j = 0; j < ids.length; j++) {
    cum += probs[j]!;
    if (u < cum) return ids[j]!;
  }
  return ids[ids.length - 1]!;
}
