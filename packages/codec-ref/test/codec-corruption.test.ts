// Bad input and corrupted matrices: clear RangeErrors naming the problem, never wrong output.

import type { TcaTbeMatrix } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { EncoderPool, decodeMatrix, decodeRows, encodeMatrix, tcaTbeEncodedBytes } from '../src/codec/index.js';
import { gaussianBf16 } from '../src/codec/synthetic.js';

/** Deep copy, so each case corrupts its own matrix. */
function copyOf(m: TcaTbeMatrix): TcaTbeMatrix {
  return {
    ...m,
    bitmaps: m.bitmaps.slice(),
    signMantissa: m.signMantissa.slice(),
    outliers: m.outliers.slice(),
    outlierOffsets: m.outlierOffsets.slice(),
  };
}

/** Outliers of global tile gt, from its bitmaps. */
function tileOutliers(m: TcaTbeMatrix, gt: number): number {
  let n = 0;
  for (let t = 0; t < 64; t++) {
    const w = (gt * 64 + t) * 3;
    let mask = m.bitmaps[w]! & m.bitmaps[w + 1]! & m.bitmaps[w + 2]!;
    for (; mask !== 0n; mask &= mask - 1n) n++;
  }
  return n;
}

/** Marks element (small tile t, pos) of tile gt as an outlier (code 7). */
function markOutlier(m: TcaTbeMatrix, gt: number, t: number, pos: number): void {
  for (let plane = 0; plane < 3; plane++) m.bitmaps[(gt * 64 + t) * 3 + plane]! |= 1n << BigInt(pos);
}

describe('corruption', () => {
  // 192 x 128: 3 x 2 tiles; N(0, 0.02) puts ~2% outliers in each.
  const rows = 192;
  const cols = 128;
  const bits = gaussianBf16(rows * cols, 0.02, 17);
  const clean = encodeMatrix(bits, rows, cols);

  it('a bitmap flip that adds an outlier past its segment throws, naming the tile', () => {
    const m = copyOf(clean);
    const gt = 4;
    const count = tileOutliers(m, gt);
    const segment = m.outlierOffsets[gt + 1]! - m.outlierOffsets[gt]!;
    // Add outliers until the count needs another 16 bytes.
    let added = 0;
    for (let pos = 0; added < segment - count + 1; pos++) {
      const before = tileOutliers(m, gt);
      markOutlier(m, gt, 10, pos);
      added += tileOutliers(m, gt) - before;
    }
    expect(() => decodeMatrix(m)).toThrow(RangeError);
    expect(() => decodeMatrix(m)).toThrow(/tile 4 \(tile row 2, tile col 0\): bitmaps mark \d+ outliers/);
    // decodeRows checks the tiles it touches, and only those.
    expect(() => decodeRows(m, 130, 2)).toThrow(/tile 4/);
    expect(decodeRows(m, 0, 128)).toEqual(bits.subarray(0, 128 * cols));
  });

  it('clearing the only outlier of a segment throws', () => {
    // A 64 x 64 tile with exactly one outlier: its 16-byte segment then holds none.
    const single = gaussianBf16(64 * 64, 0.001, 5).map((x) => (x & 0x807f) | (120 << 7));
    single[100] = 0x7f80; // +Inf: exponent 255
    const m = encodeMatrix(single, 64, 64);
    expect(m.outliers.length).toBe(16);
    // Element 100 = (1, 36) sits in small tile 8 (mt 0, s 2, j 0), pos 12.
    m.bitmaps[8 * 3]! &= ~(1n << 12n);
    expect(() => decodeMatrix(m)).toThrow(/tile 0 .*bitmaps mark 0 outliers but its segment spans bytes 0\.\.16/);
  });

  it('bad offsets throw', () => {
    const shifted = copyOf(clean);
    shifted.outlierOffsets[2]! += 16; // still aligned and monotone: tile 1 and 2 segments no longer fit
    expect(() => decodeMatrix(shifted)).toThrow(/tile 1 /);
    const unaligned = copyOf(clean);
    unaligned.outlierOffsets[3]! += 1;
    expect(() => decodeMatrix(unaligned)).toThrow(RangeError);
    const decreasing = copyOf(clean);
    decreasing.outlierOffsets[1] = 1 << 20;
    expect(() => decodeMatrix(decreasing)).toThrow(RangeError);
    const past = copyOf(clean);
    past.outlierOffsets[6]! += 16;
    expect(() => decodeMatrix(past)).toThrow(/outlier stream holds/);
    // decodeRows does only O(1) checks up front; the kernel catches a segment past the stream.
    expect(() => decodeRows(past, 150, 1)).toThrow(/tile 5 .*of \d+/);
  });

  it('truncated arrays and bad windows throw', () => {
    expect(() => decodeMatrix({ ...clean, signMantissa: clean.signMantissa.subarray(1) })).toThrow(/signMantissa holds/);
    expect(() => decodeMatrix({ ...clean, bitmaps: clean.bitmaps.subarray(3) })).toThrow(/bitmaps hold/);
    expect(() => decodeMatrix({ ...clean, expBase: 250 })).toThrow(/expBase 250/);
    expect(() => decodeRows({ ...clean, outlierOffsets: clean.outlierOffsets.subarray(1) }, 0, 1)).toThrow(RangeError);
    expect(() => decodeRows(clean, 190, 3)).toThrow(/rows 190\.\.193 outside 0\.\.192/);
    expect(() => decodeMatrix(clean, new Uint16Array(5))).toThrow(/output must be a Uint16Array of 24576 values/);
  });

  it('bad encoder input throws', () => {
    expect(() => encodeMatrix(new Uint16Array(10), 3, 3)).toThrow(/holds 10 BF16 values, shape 3x3 needs 9/);
    expect(() => encodeMatrix(new Uint16Array(0), 0, 5)).toThrow(/at least 1 x 1/);
    expect(() => encodeMatrix(new Uint16Array(4), 2, 2, { expBase: 250 })).toThrow(/expBase 250 outside 0\.\.249/);
    expect(() => encodeMatrix(new Uint16Array(4), 2, 2, { expBase: 1.5 })).toThrow(RangeError);
    expect(() => encodeMatrix(new Float32Array(4) as unknown as Uint16Array, 2, 2)).toThrow(/must be a Uint16Array/);
    expect(() => tcaTbeEncodedBytes(new Uint16Array(3), 2, 2)).toThrow(RangeError);
  });

  it('the pool reports corruption the same way', async () => {
    const pool = new EncoderPool({ threads: 2, minParallelElements: 0 });
    try {
      const shifted = copyOf(clean);
      shifted.outlierOffsets[2]! += 16;
      shifted.outlierOffsets[3]! += 16;
      shifted.outlierOffsets[4]! += 16;
      shifted.outlierOffsets[5]! += 16;
      shifted.outlierOffsets[6]! += 16;
      shifted.outliers = new Uint8Array(shifted.outliers.length + 16);
      await expect(pool.decode(shifted)).rejects.toThrow(RangeError);
      await expect(pool.decode(shifted)).rejects.toThrow(/tile 1 /);
      await expect(pool.encode(new Uint16Array(10), 3, 3)).rejects.toThrow(/shape 3x3 needs 9/);
      // The pool still works after a failed job.
      expect(await pool.decode(clean)).toEqual(bits);
    } finally {
      await pool.close();
    }
  });
});
