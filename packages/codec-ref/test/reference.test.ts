// The float64 reference math checked against independent facts: closed forms, invariants and
// naive re-implementations (contiguous instead of paged), never against itself.

import { bf16ToF32, f32ToBf16 } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import {
  allBf16Patterns,
  countNaN,
  createRng,
  firstBitMismatch,
  hashString,
  maxAbsDifference,
  randomBf16Exponents,
  randomBf16Normal,
  randomF32,
  referenceArgmax,
  referenceGemm,
  referenceKvAppend,
  referencePagedAttention,
  referenceRmsNorm,
  referenceRope,
  referenceSiluMul,
  relativeError,
  ropeInvFreq,
  silu,
} from '../src/reference/index.js';

describe('prng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const seqA = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(seqA);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(seqA);
    expect(createRng(0).nextU32()).not.toBe(createRng(0).fork('x').nextU32());
    expect(hashString('matmul.zipgemm')).not.toBe(hashString('matmul.dense'));
  });

  it('draws uniform ints in range and standard normals', () => {
    const rng = createRng(7);
    let sum = 0;
    let sumSquares = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      sum += z;
      sumSquares += z * z;
      const k = rng.int(-3, 5);
      expect(k >= -3 && k <= 5 && Number.isInteger(k)).toBe(true);
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.05);
    expect(Math.abs(sumSquares / n - 1)).toBeLessThan(0.05);
  });

  it('makes BF16 data with the requested exponents and all 65,536 patterns', () => {
    const rng = createRng(1);
    const bits = randomBf16Exponents(rng, 4096, 1, 6, 0.3);
    let zeros = 0;
    for (const b of bits) {
      const e = (b >> 7) & 0xff;
      if ((b & 0x7fff) === 0) zeros++;
      else expect(e >= 1 && e <= 6).toBe(true);
    }
    expect(zeros / bits.length).toBeGreaterThan(0.2);
    const all = allBf16Patterns(rng);
    expect(new Set(all).size).toBe(65536);
    const w = randomBf16Normal(rng, 10000, 0.02);
    const values = Array.from(w, bf16ToF32);
    expect(Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length)).toBeCloseTo(0.02, 2);
  });
});

describe('metrics', () => {
  it('relative error is 0 for equal data, NaN with any NaN, Infinity against a zero reference', () => {
    expect(relativeError([1, 2], [1, 2])).toBe(0);
    expect(relativeError([0, 0], [0, 0])).toBe(0);
    expect(relativeError([3, 4], [0, 0])).toBe(Number.POSITIVE_INFINITY);
    expect(relativeError([Number.NaN, 1], [1, 1])).toBeNaN();
    expect(relativeError([1.1, 2], [1, 2])).toBeCloseTo(0.1 / Math.sqrt(5), 12);
    expect(maxAbsDifference([1, 5], [2, 3])).toBe(2);
    expect(countNaN(new Float32Array([Number.NaN, 0, Number.NaN]))).toBe(2);
  });

  it('bit comparison sees NaN payloads and signed zeros', () => {
    const a = new Float32Array([0, 1, Number.NaN]);
    const b = new Float32Array([-0, 1, Number.NaN]);
    expect(firstBitMismatch(a, b)).toBe(0);
    b[0] = 0;
    expect(firstBitMismatch(a, b)).toBe(-1);
    new Uint32Array(b.buffer)[2] = 0x7fc00001;
    expect(firstBitMismatch(a, b)).toBe(2);
  });
});

describe('referenceGemm', () => {
  it('computes y = x W^T on a hand example', () => {
    const x = new Float32Array([1, 2, 3, -1, 0.5, 4]); // [2, 3]
    const w = Uint16Array.from([1, 0, 2, 0, -1, 0.25, 3, 3, 3, 0.5, 0, 0], f32ToBf16); // [4, 3]
    const y = referenceGemm(x, w, 2, 3, 4);
    expect(Array.from(y)).toEqual([7, -1.25, 18, 0.5, 7, 0.5, 10.5, -0.5]);
  });

  it('rounds inputs to BF16 on request', () => {
    const x = new Float32Array([1 + 2 ** -10]); // not a BF16 value: rounds to 1
    const w = Uint16Array.of(f32ToBf16(1));
    expect(referenceGemm(x, w, 1, 1, 1)[0]).toBe(1 + 2 ** -10);
    expect(referenceGemm(x, w, 1, 1, 1, { roundInputToBf16: true })[0]).toBe(1);
  });
});

describe('referenceRmsNorm', () => {
  it('normalises each group, in place and out of place, and leaves other columns alone', () => {
    const x = new Float32Array([3, 3, 3, 3, -2, -2, 5, 7]); // [1, 8]
    const weight = new Float32Array([1, 2]);
    const out = new Float32Array(8).fill(Number.NaN);
    referenceRmsNorm(x, 1, 8, weight, 1e-12, out, { offset: 2, width: 4 });
    expect(Array.from(out.subarray(2, 6)).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([1, 2, -1, -2]);
    expect(countNaN(out)).toBe(4); // columns 0,1,6,7 untouched
    const row = randomF32(createRng(3), 64);
    const copy = row.slice();
    referenceRmsNorm(row, 1, 64, new Float32Array(64).fill(1), 1e-5, row);
    const rms = Math.sqrt(Array.from(copy).reduce((s, v) => s + v * v, 0) / 64 + 1e-5);
    expect(maxAbsDifference(row, Array.from(copy, (v) => v / rms))).toBeLessThan(1e-6);
  });
});

describe('rope', () => {
  it('computes default inverse frequencies as theta^(-2i/d)', () => {
    const inv = ropeInvFreq(8, 10000);
    expect(inv.length).toBe(4);
    inv.forEach((v, i) => {
      expect(Math.abs(v - 10000 ** (-(2 * i) / 8)) / v).toBeLessThan(2e-7);
    });
    const linear = ropeInvFreq(8, 10000, { type: 'linear', factor: 4 });
    linear.forEach((v, i) => {
      expect(v).toBe(Math.fround(inv[i]! / 4));
    });
  });

  it('applies llama3 scaling by wavelength band (Llama 3.1 8B parameters)', () => {
    const scaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as const;
    const base = ropeInvFreq(128, 500000);
    const scaled = ropeInvFreq(128, 500000, scaling);
    let high = 0;
    let low = 0;
    let medium = 0;
    for (let i = 0; i < 64; i++) {
      const wavelen = (2 * Math.PI) / base[i]!;
      if (wavelen < 2048) {
        expect(scaled[i]).toBe(base[i]);
        high++;
      } else if (wavelen > 8192) {
        expect(scaled[i]).toBe(Math.fround(base[i]! / 8));
        low++;
      } else {
        // Smooth interpolation between inv/8 and inv, in float64 for comparison.
        const smooth = (8192 / wavelen - 1) / 3;
        const expected = ((1 - smooth) * base[i]!) / 8 + smooth * base[i]!;
        expect(Math.abs(scaled[i]! - expected) / expected).toBeLessThan(1e-6);
        medium++;
      }
    }
    expect([high > 0, medium > 0, low > 0]).toEqual([true, true, true]);
  });

  it('rotates each (i, i + hd/2) pair by position * invFreq[i] and preserves norms', () => {
    const hd = 4;
    const inv = ropeInvFreq(hd, 10000); // [1, 0.01]
    const x = new Float32Array([1, 2, 3, 4, 9, 9, 9, 9, 5, 6, 7, 8]); // [1, 12]: heads 0, 1, 2
    referenceRope(x, 1, 12, Int32Array.of(3), 1, 1, hd, inv); // rotate head 1 only
    expect(Array.from(x.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    expect(Array.from(x.subarray(8, 12))).toEqual([5, 6, 7, 8]);
    const a0 = Math.fround(3 * inv[0]!);
    const a1 = Math.fround(3 * inv[1]!);
    const expected = [9 * Math.cos(a0) - 9 * Math.sin(a0), 9 * Math.cos(a1) - 9 * Math.sin(a1), 9 * Math.cos(a0) + 9 * Math.sin(a0), 9 * Math.cos(a1) + 9 * Math.sin(a1)];
    expect(maxAbsDifference(x.subarray(4, 8), expected)).toBeLessThan(1e-5);
    const y = new Float32Array([1, 2, 3, 4]);
    referenceRope(y, 1, 4, Int32Array.of(0), 0, 1, hd, inv);
    expect(Array.from(y)).toEqual([1, 2, 3, 4]); // position 0 is the identity
  });
});

describe('paged KV cache and attention', () => {
  it('appends k and v to their slots, skips negative slots, rounds to BF16 for a bf16 cache', () => {
    const qkv = new Float32Array([0, 1.001, 2, 3, 4, 0, 5, 6, 7, 8]); // [2, 5]: k at 1..2, v at 3..4
    const k = { data: new Float32Array(8).fill(-1), blocks: 2, blockSize: 2, numKvHeads: 1, headDim: 2 };
    const v = { data: new Uint16Array(8), blocks: 2, blockSize: 2, numKvHeads: 1, headDim: 2 };
    referenceKvAppend(qkv, 2, 5, 1, 3, k, v, Int32Array.of(3, -1));
    expect(Array.from(k.data)).toEqual([-1, -1, -1, -1, -1, -1, Math.fround(1.001), 2]);
    expect(Array.from(v.data.subarray(6))).toEqual([f32ToBf16(3), f32ToBf16(4)]);
    expect(() => referenceKvAppend(qkv, 1, 5, 1, 3, k, v, Int32Array.of(4))).toThrow(/slot 4/);
  });

  it('matches a naive contiguous causal GQA attention for decode and prefill over shuffled blocks', () => {
    const rng = createRng(11);
    const H = 4;
    const Hkv = 2;
    const hd = 4;
    const blockSize = 3;
    const blocks = 12;
    const lens = [5, 8, 1]; // context per sequence
    const nqs = [1, 3, 1]; // query rows per sequence (seq 1 is a prefill chunk)
    const N = nqs.reduce((a, b) => a + b, 0) + 1; // one padding row owned by nobody
    const C = H * hd + 2 * Hkv * hd;
    const qkv = randomF32(rng, N * C);
    const kData = randomF32(rng, blocks * blockSize * Hkv * hd);
    const vData = randomF32(rng, blocks * blockSize * Hkv * hd);
    const maxBlocks = 3;
    const order = [7, 2, 9, 0, 4, 11, 1, 5, 3]; // blocks handed out out of order
    const blockTables = new Int32Array(3 * maxBlocks);
    for (let i = 0; i < order.length; i++) blockTables[i] = order[i]!;
    const queryStarts = Int32Array.of(0, 1, 4, 5);
    const out = new Float32Array(N * H * hd).fill(Number.NaN);
    const cache = (data: Float32Array) => ({ data, blocks, blockSize, numKvHeads: Hkv, headDim: hd });
    referencePagedAttention({ qkv, rows: N, rowWidth: C, qOffset: 0, kCache: cache(kData), vCache: cache(vData), blockTables, maxBlocksPerSeq: maxBlocks, contextLens: Int32Array.from(lens), queryStarts, out, numHeads: H, scale: 0.5 });
    for (let s = 0; s < 3; s++) {
      const slot = (p: number) => blockTables[s * maxBlocks + Math.floor(p / blockSize)]! * blockSize + (p % blockSize);
      for (let i = 0; i < nqs[s]!; i++) {
        const row = queryStarts[s]! + i;
        const last = lens[s]! - nqs[s]! + i;
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / Hkv));
          const logits = [];
          for (let p = 0; p <= last; p++) {
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += qkv[row * C + h * hd + d]! * kData[(slot(p) * Hkv + g) * hd + d]!;
            logits.push(Math.exp(0.5 * dot));
          }
          const z = logits.reduce((a, b) => a + b, 0);
          for (let d = 0; d < hd; d++) {
            let y = 0;
            for (let p = 0; p <= last; p++) y += (logits[p]! / z) * vData[(slot(p) * Hkv + g) * hd + d]!;
            expect(Math.abs(out[row * H * hd + h * hd + d]! - y)).toBeLessThan(1e-5);
          }
        }
      }
    }
    expect(countNaN(out.subarray((N - 1) * H * hd))).toBe(H * hd); // padding row untouched
  });

  it('returns v itself for a single cached token', () => {
    const kv = { data: new Float32Array([1, 2, 3, 4]), blocks: 1, blockSize: 1, numKvHeads: 1, headDim: 4 };
    const out = new Float32Array(4);
    referencePagedAttention({ qkv: new Float32Array([5, -5, 5, -5]), rows: 1, rowWidth: 4, qOffset: 0, kCache: kv, vCache: kv, blockTables: Int32Array.of(0), maxBlocksPerSeq: 1, contextLens: Int32Array.of(1), queryStarts: Int32Array.of(0, 1), out, numHeads: 1, scale: 1 });
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
  });
});

describe('siluMul and argmax', () => {
  it('silu has the textbook values and saturates without NaN', () => {
    expect(silu(0)).toBe(0);
    expect(silu(1)).toBeCloseTo(0.7310585786300049, 15);
    expect(silu(-1000)).toBe(-0);
    expect(silu(1000)).toBe(1000);
    const out = new Float32Array(2);
    referenceSiluMul(new Float32Array([1, -2, 3, 4]), 1, 2, out);
    expect(out[0]).toBeCloseTo(0.7310585786 * 3, 6);
    expect(out[1]).toBeCloseTo((-2 / (1 + Math.exp(2))) * 4, 6);
  });

  it('argmax takes the first maximum and never a NaN', () => {
    const x = new Float32Array([1, 3, 3, 0, Number.NaN, -1, 2, Number.NaN, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, Number.NaN]);
    const out = new Int32Array(3);
    referenceArgmax(x, 3, 4, out);
    expect(Array.from(out)).toEqual([1, 2, 0]);
    referenceArgmax(new Float32Array([Number.NaN, Number.NaN]), 1, 2, out);
    expect(out[0]).toBe(0);
  });
});
