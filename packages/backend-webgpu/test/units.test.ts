// Host-side pieces that need no GPU: option parsing, the ZipGEMM schedule choices, weight part
// sizing, parameter packing, RoPE frequencies against codec-ref's reference.

import { ropeInvFreq as refInvFreq } from '@zipserv/codec-ref';
import { describe, expect, it } from 'vitest';
import { parseDawnOptions } from '../src/gpu.js';
import { packParams, paramBytes, paramStruct, grid2d } from '../src/kernels/plan.js';
import { ropeInverseFrequencies } from '../src/kernels/rope.js';
import { chooseSplitK, resolvePath, tokensPerPass } from '../src/kernels/zipgemm.js';
import { smallTileRanks, tileRowsPerPart } from '../src/weights.js';
import { adversarialBf16, rng } from './shared/reference.js';
import { encodeForTest } from './shared/encode.js';
import type { DeviceLimits } from '../src/device.js';

describe('host helpers', () => {
  it('parses Dawn options from whitespace or semicolons', () => {
    expect(parseDawnOptions(' backend=vulkan ; enable-dawn-features=a,b\tx ')).toEqual(['backend=vulkan', 'enable-dawn-features=a,b', 'x']);
    expect(parseDawnOptions(undefined)).toEqual([]);
  });

  it('chooses tokens per pass and split-K', () => {
    expect([1, 2, 3, 5, 9, 16, 17, 64].map(tokensPerPass)).toEqual([1, 2, 4, 8, 16, 16, 16, 16]);
    expect(chooseSplitK(1000, 64, 528)).toBe(1); // many tile rows: no split
    // 4096x4096: 64 tile rows want ceil(528/64) = 9 splits of ceil(64/9) = 8 K tiles -> 8 splits
    expect(chooseSplitK(64, 64, 528)).toBe(8);
    expect(chooseSplitK(2, 3, 528)).toBe(1); // fewer than 8 K tiles: never split
    for (const [rows, cols] of [[64, 224], [96, 64], [448, 64], [3, 9]] as const) {
      const s = chooseSplitK(rows, cols, 528);
      const per = Math.ceil(cols / s);
      expect(per).toBeGreaterThanOrEqual(Math.min(4, cols));
      expect(Math.ceil(cols / per)).toBe(s); // no empty split
    }
    expect(resolvePath('auto', 'tca-tbe')).toBe('zipgemm');
    expect(resolvePath('auto', 'raw')).toBe('dense');
  });

  it('sizes weight parts to the binding limit', () => {
    const limits = { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 256 << 20 } as DeviceLimits;
    // 28672 x 4096 raw BF16 (235 MB) needs two parts of at most 128 MiB
    const raw = tileRowsPerPart('raw', 4096, limits);
    expect(raw * 64 * 4096 * 2).toBeLessThanOrEqual(128 << 20);
    expect(Math.ceil(448 / raw)).toBe(2);
    const tca = tileRowsPerPart('tca-tbe', 4096, limits);
    expect(tca * 64 * (4096 + 16)).toBeLessThanOrEqual(128 << 20);
  });

  it('packs parameter blocks to match their WGSL struct', () => {
    const spec = [
      ['a', 'u32'],
      ['b', 'i32'],
      ['c', 'f32'],
      ['d', 'u32'],
      ['e', 'u32'],
    ] as const;
    expect(paramBytes(spec)).toBe(32);
    expect(paramStruct(spec)).toContain('_pad7: u32');
    const view = new DataView(packParams(spec, { a: 1, b: -2, c: 0.5, d: 4, e: 0xffffffff }));
    expect([view.getUint32(0, true), view.getInt32(4, true), view.getFloat32(8, true), view.getUint32(16, true)]).toEqual([1, -2, 0.5, 0xffffffff]);
    expect(() => packParams(spec, { a: 1, b: 2, c: 3, d: -1, e: 0 })).toThrow(/'d' = -1 does not fit u32/);
    expect(() => packParams(spec, { a: 1 })).toThrow(/'b' is missing/);
    expect(grid2d(70000, 65535)).toEqual([65535, 2, 1]);
  });

  it('computes RoPE inverse frequencies like the reference (plain, linear, llama3)', () => {
    const cases = [
      [64, 10000, undefined],
      [16, 10000, { type: 'linear' as const, factor: 4 }],
      [128, 500000, { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 }],
    ] as const;
    for (const [hd, theta, scaling] of cases) {
      const ours = ropeInverseFrequencies(hd, theta, scaling);
      const ref = refInvFreq(hd, theta, scaling);
      for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i]! - ref[i]!) / ref[i]!).toBeLessThan(1e-6);
    }
  });

  it("gives every outlier its rank in the tile's segment from the small-tile rank table (ZipGEMM's lookup)", () => {
    // adversarial exponents: many outliers, spread over every small tile, in ragged tiles too
    for (const [rows, cols] of [[64, 64], [130, 200], [7, 333]] as const) {
      const m = encodeForTest(adversarialBf16(rng(rows * 31 + cols), rows * cols), rows, cols);
      const tiles = m.outlierOffsets.length - 1;
      const table = smallTileRanks(m.bitmaps, 0, tiles);
      const words = new Uint32Array(m.bitmaps.buffer, m.bitmaps.byteOffset, m.bitmaps.length * 2);
      const popcount = (v: number) => {
        let n = 0;
        for (let x = v >>> 0; x; x = (x & (x - 1)) >>> 0) n++;
        return n;
      };
      let outliers = 0;
      for (let t = 0; t < tiles; t++) {
        let expected = 0; // outliers are stored in small-tile order, then element order
        for (let s = 0; s < 64; s++) {
          const b = (t * 64 + s) * 6;
          for (let e = 0; e < 64; e++) {
            const half = e >> 5;
            const bits = words[b + half]! & words[b + 2 + half]! & words[b + 4 + half]!;
            if (((bits >>> (e & 31)) & 1) === 0) continue;
            const before = (table[t * 32 + (s >> 1)]! >>> ((s & 1) * 16)) & 0xffff;
            const base = before + (half ? popcount(words[b]! & words[b + 2]! & words[b + 4]!) : 0);
            const below = (e & 31) === 0 ? 0 : bits & ((1 << (e & 31)) - 1) & 0xffffffff;
            expect(base + popcount(below)).toBe(expected);
            expected++;
          }
        }
        const segment = m.outlierOffsets[t + 1]! - m.outlierOffsets[t]!; // bytes, padded to 16
        expect(segment).toBe(Math.ceil(expected / 16) * 16);
        outliers += expected;
      }
      expect(outliers).toBeGreaterThan(tiles * 8);
    }
  });
});
