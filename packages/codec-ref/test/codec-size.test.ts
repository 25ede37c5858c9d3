// Sizes: the N(0, 0.02) target ratio, exact size prediction, incompressible input, stats.

import { tcaTbeStoredBytes } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { encodeMatrix, tcaTbeEncodedBytes, tcaTbeStats } from '../src/codec/index.js';
import { gaussianBf16, randomBits } from '../src/codec/synthetic.js';

describe('sizes', () => {
  it('N(0, 0.02) 4096 x 4096 stores at <= 0.706 of its size', () => {
    const bits = gaussianBf16(4096 * 4096, 0.02, 42);
    const m = encodeMatrix(bits, 4096, 4096);
    const stats = tcaTbeStats(m);
    expect(stats.originalBytes).toBe(bits.byteLength);
    expect(stats.storedBytes).toBe(tcaTbeStoredBytes(m));
    expect(stats.storedBytes / stats.originalBytes).toBeLessThanOrEqual(0.706);
    expect(tcaTbeEncodedBytes(bits, 4096, 4096)).toBe(stats.storedBytes);
    // 3 + 8 + 8f bits plus segment padding and offsets (SPEC.md section 3).
    expect(stats.outlierFraction).toBeGreaterThan(0.01);
    expect(stats.outlierFraction).toBeLessThan(0.03);
    expect(stats.bitsPerWeight).toBeGreaterThan(11 + 8 * stats.outlierFraction);
    expect(stats.bitsPerWeight).toBeLessThan(11 + 8 * stats.outlierFraction + 0.1);
    expect(stats.outlierFraction * 4096 * 4096).toBe(countOutliersBySpec(bits, stats.expBase));
  });

  it('uniformly random bits would not shrink (callers store raw)', () => {
    const bits = randomBits(512 * 512, 1);
    expect(tcaTbeEncodedBytes(bits, 512, 512)).toBeGreaterThanOrEqual(bits.byteLength);
    expect(tcaTbeEncodedBytes(bits, 512, 512)).toBe(tcaTbeStoredBytes(encodeMatrix(bits, 512, 512)));
  });

  it('predicts the exact size of ragged shapes', () => {
    for (const [rows, cols] of [
      [1, 1],
      [65, 129],
      [4096, 1],
      [172, 64],
    ] as const) {
      const bits = gaussianBf16(rows * cols, 0.5, rows + cols);
      expect(tcaTbeEncodedBytes(bits, rows, cols), `${rows}x${cols}`).toBe(tcaTbeStoredBytes(encodeMatrix(bits, rows, cols)));
    }
    // 1 x 1: one whole tile (1536 + 4096) and two offsets; an in-window value has no outlier segment.
    expect(tcaTbeEncodedBytes(new Uint16Array([0x3f80]), 1, 1)).toBe(1536 + 4096 + 8);
  });

  it('stats of an all-outlier-free matrix', () => {
    const stats = tcaTbeStats(encodeMatrix(new Uint16Array(64 * 64).fill(0x3f80), 64, 64));
    expect(stats).toEqual({ expBase: 121, outlierFraction: 0, bitsPerWeight: 11.015625, storedBytes: 5640, originalBytes: 8192 });
  });
});

function countOutliersBySpec(bits: Uint16Array, expBase: number): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    const e = (bits[i]! >> 7) & 0xff;
    if (e < expBase || e > expBase + 6) n++;
  }
  return n;
}
