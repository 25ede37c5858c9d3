import { describe, expect, it } from 'vitest';
import { DEFAULT_SAMPLING, argmax, candidateDistribution, sample, validateSampling } from '../src/sampling/sampler.js';
import { Rng } from '../src/util/rng.js';

const logitsOf = (probs: number[]) => Float32Array.from(probs.map((p) => Math.log(p)));

describe('sampler', () => {
  it('argmax: first max wins, NaN never wins', () => {
    expect(argmax(Float32Array.from([1, 3, 3, 2]))).toBe(1);
    expect(argmax(Float32Array.from([Number.NaN, -1, Number.NaN, -0.5]))).toBe(3);
    expect(argmax(Float32Array.from([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]))).toBe(0);
  });

  it('top-k keeps the k most probable', () => {
    const d = candidateDistribution(logitsOf([0.1, 0.4, 0.2, 0.3]), { ...DEFAULT_SAMPLING, topK: 2 });
    expect([...d.ids]).toEqual([1, 3]);
    expect(d.probs[0]).toBeCloseTo(0.4 / 0.7, 6);
    expect(d.probs[1]).toBeCloseTo(0.3 / 0.7, 6);
  });

  it('top-p keeps the smallest prefix reaching p', () => {
    const l = logitsOf([0.5, 0.25, 0.15, 0.1]);
    expect([...candidateDistribution(l, { ...DEFAULT_SAMPLING, topP: 0.5 }).ids]).toEqual([0]);
    expect([...candidateDistribution(l, { ...DEFAULT_SAMPLING, topP: 0.7 }).ids]).toEqual([0, 1]);
    expect([...candidateDistribution(l, { ...DEFAULT_SAMPLING, topP: 0.8 }).ids]).toEqual([0, 1, 2]);
  });

  it('min-p keeps tokens with p >= minP * pmax', () => {
    const l = logitsOf([0.5, 0.25, 0.15, 0.1]);
    expect([...candidateDistribution(l, { ...DEFAULT_SAMPLING, minP: 0.29 }).ids]).toEqual([0, 1, 2]);
    expect([...candidateDistribution(l, { ...DEFAULT_SAMPLING, minP: 0.6 }).ids]).toEqual([0]);
    expect([...candidateDistribution(l, { ...DEFAULT_SAMPLING, minP: 0.31 }).ids]).toEqual([0, 1]);
  });

  it('temperature sharpens and flattens', () => {
    const l = logitsOf([0.6, 0.4]);
    const cold = candidateDistribution(l, { ...DEFAULT_SAMPLING, temperature: 0.5 });
    const hot = candidateDistribution(l, { ...DEFAULT_SAMPLING, temperature: 2 });
    expect(cold.probs[0]).toBeCloseTo(0.36 / 0.52, 5);
    expect(hot.probs[0]).toBeGreaterThan(0.5);
    expect(hot.probs[0]).toBeLessThan(0.6);
  });

  it('draws follow the distribution, and a seed reproduces them', () => {
    const l = logitsOf([0.5, 0.3, 0.2]);
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 4000 }, () => sample(Float32Array.from(l), DEFAULT_SAMPLING, rng, []));
    };
    const a = draw(7);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
    const freq = [0, 1, 2].map((t) => a.filter((x) => x === t).length / a.length);
    expect(freq[0]).toBeCloseTo(0.5, 1);
    expect(freq[1]).toBeCloseTo(0.3, 1);
    expect(freq[2]).toBeCloseTo(0.2, 1);
  });

  it('repetition penalty follows HF: divide positive, multiply negative logits', () => {
    const l = Float32Array.from([2, -1, 1.9]);
    // Greedy with penalty: token 0 (seen) drops to 1.0 below token 2.
    expect(sample(l, { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 2 }, new Rng(1), [0, 1])).toBe(2);
    expect(l[0]).toBe(1);
    expect(l[1]).toBe(-2);
  });

  it('validates parameters', () => {
    expect(() => validateSampling({ ...DEFAULT_SAMPLING, topP: 0 })).toThrow(/topP/);
    expect(() => validateSampling({ ...DEFAULT_SAMPLING, temperature: -1 })).toThrow(/temperature/);
    expect(() => validateSampling({ ...DEFAULT_SAMPLING, topK: 1.5 })).toThrow(/topK/);
  });
});
