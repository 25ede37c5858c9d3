// Window choice: best coverage of the true elements, ties to the smallest expBase.

import { bf16Exponent } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { chooseWindow, encodeMatrix, windowFromHistogram } from '../src/codec/index.js';
import { gaussianBf16, randomBits, seededUniform } from '../src/codec/synthetic.js';

/** Tries every window. */
function bruteForceWindow(bits: Uint16Array): { expBase: number; covered: number } {
  let best = { expBase: -1, covered: -1 };
  for (let base = 0; base <= 249; base++) {
    let covered = 0;
    for (const x of bits) if (bf16Exponent(x) >= base && bf16Exponent(x) <= base + 6) covered++;
    if (covered > best.covered) best = { expBase: base, covered };
  }
  return best;
}

/** count values with exponent e (sign and mantissa varied). */
function withExponents(spec: Array<[exponent: number, count: number]>): Uint16Array {
  const values: number[] = [];
  for (const [e, n] of spec) for (let i = 0; i < n; i++) values.push(((i & 1) << 15) | (e << 7) | (i % 128));
  return Uint16Array.from(values);
}

describe('chooseWindow', () => {
  it('agrees with a brute-force search', () => {
    const uniform = seededUniform(99);
    for (let n = 0; n < 20; n++) {
      // Clusters of exponents at random places, random sizes: many near-ties.
      const spec: Array<[number, number]> = [];
      for (let k = 0; k < 6; k++) spec.push([Math.floor(uniform() * 256), 1 + Math.floor(uniform() * 40)]);
      const bits = withExponents(spec);
      expect(chooseWindow(bits, 1, bits.length)).toEqual(bruteForceWindow(bits));
    }
    const gaussian = gaussianBf16(5000, 0.02, 1);
    expect(chooseWindow(gaussian, 50, 100)).toEqual(bruteForceWindow(gaussian));
    const random = randomBits(5000, 2);
    expect(chooseWindow(random, 100, 50)).toEqual(bruteForceWindow(random));
  });

  it('breaks ties toward the smallest expBase', () => {
    // Two equal clusters 20 apart: the first window reaching the lower one wins (4 = 10 - 6).
    expect(chooseWindow(withExponents([[10, 5], [30, 5]]), 1, 10)).toEqual({ expBase: 4, covered: 5 });
    // One exponent: every window containing it ties; the smallest one is 10 - 6.
    expect(chooseWindow(withExponents([[100, 3]]), 3, 1).expBase).toBe(94);
    expect(chooseWindow(withExponents([[2, 3]]), 3, 1).expBase).toBe(0);
    expect(chooseWindow(withExponents([[255, 3]]), 3, 1).expBase).toBe(249);
  });

  it('counts only the true elements and ignores the sign', () => {
    const bits = withExponents([[120, 64]]).map((x, i) => (i % 3 === 0 ? x | 0x8000 : x));
    expect(chooseWindow(bits, 8, 8)).toEqual({ expBase: 114, covered: 64 });
    // 65 x 1: 63 padding rows would be in-window filler, but only the 65 true elements count.
    const tall = withExponents([[7, 65]]);
    expect(chooseWindow(tall, 65, 1)).toEqual({ expBase: 1, covered: 65 });
  });

  it('is what encodeMatrix uses', () => {
    const bits = gaussianBf16(100 * 64, 0.02, 3);
    expect(encodeMatrix(bits, 100, 64).expBase).toBe(chooseWindow(bits, 100, 64).expBase);
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => chooseWindow(new Uint16Array(10), 3, 3)).toThrow(/holds 10 BF16 values, shape 3x3 needs 9/);
    expect(() => chooseWindow(new Uint16Array(0), 0, 0)).toThrow(RangeError);
  });

  it('windowFromHistogram works on a bare histogram', () => {
    const hist = new Float64Array(256);
    hist[200] = 3;
    hist[206] = 3;
    hist[207] = 5;
    expect(windowFromHistogram(hist)).toEqual({ expBase: 201, covered: 8 });
  });
});
