// Bit-exact round trips: every BF16 pattern at every window, ragged shapes, adversarial
// distributions and the real stories260K fixture, each checked against the spec transcription.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type TcaTbeMatrix, f32ToBf16, tcaTbeStoredBytes } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { decodeMatrix, decodeRows, encodeMatrix, tcaTbeEncodedBytes } from '../src/codec/index.js';
import { decodeMatrixBySpec, encodeMatrixBySpec } from '../src/codec/spec-reference.js';
import { gaussianBf16, randomBits, seededUniform } from '../src/codec/synthetic.js';

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
/** Byte equality without vitest's element-by-element deep diff (slow on large arrays). */
const same = (a: ArrayBufferView, b: ArrayBufferView) => a.byteLength === b.byteLength && bytesOf(a).equals(bytesOf(b));

function expectSameMatrix(actual: TcaTbeMatrix, expected: TcaTbeMatrix, what: string): void {
  expect([actual.rows, actual.cols, actual.expBase], what).toEqual([expected.rows, expected.cols, expected.expBase]);
  expect(same(actual.bitmaps, expected.bitmaps), `${what}: bitmaps`).toBe(true);
  expect(same(actual.signMantissa, expected.signMantissa), `${what}: signMantissa`).toBe(true);
  expect(same(actual.outliers, expected.outliers), `${what}: outliers`).toBe(true);
  expect(same(actual.outlierOffsets, expected.outlierOffsets), `${what}: outlierOffsets`).toBe(true);
}

/** Encode, compare with the spec transcription, decode (fully and by rows), and check the size estimate. */
function checkRoundTrip(bits: Uint16Array, rows: number, cols: number, what: string, bySpec = true): TcaTbeMatrix {
  const m = encodeMatrix(bits, rows, cols);
  if (bySpec) expectSameMatrix(m, encodeMatrixBySpec(bits, rows, cols, m.expBase), what);
  expect(same(decodeMatrix(m), bits), `${what}: decodeMatrix`).toBe(true);
  expect(tcaTbeEncodedBytes(bits, rows, cols), `${what}: tcaTbeEncodedBytes`).toBe(tcaTbeStoredBytes(m));
  // A band straddling a tile-row boundary, and the last row alone.
  const start = Math.min(rows - 1, 61);
  const count = Math.min(rows - start, 7);
  expect(same(decodeRows(m, start, count), bits.subarray(start * cols, (start + count) * cols)), `${what}: decodeRows`).toBe(true);
  expect(same(decodeRows(m, rows - 1, 1), bits.subarray((rows - 1) * cols)), `${what}: last row`).toBe(true);
  return m;
}

describe('all 65,536 BF16 bit patterns', () => {
  const all = new Uint16Array(65536).map((_, i) => i); // [256, 256]: NaN payloads, +-Inf, -0, subnormals
  const uniform = seededUniform(7);
  const shuffled = all.slice();
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }

  it('round-trips at every window position 0..249', () => {
    const out = new Uint16Array(all.length);
    for (let expBase = 0; expBase <= 249; expBase++) {
      for (const [bits, rows, cols] of [
        [all, 256, 256],
        [shuffled, 128, 512],
      ] as const) {
        const m = encodeMatrix(bits, rows, cols, { expBase });
        expect(m.expBase).toBe(expBase);
        // Every pattern with an exponent outside the window is an outlier: 256 per exponent.
        expect(m.outliers.length).toBeGreaterThanOrEqual(65536 - 7 * 256);
        if (!same(decodeMatrix(m, out), bits)) throw new Error(`round trip failed at expBase ${expBase}, ${rows}x${cols}`);
      }
    }
  });

  it('matches the spec transcription byte for byte (sampled windows)', () => {
    for (const expBase of [0, 1, 6, 7, 60, 119, 120, 121, 126, 127, 128, 200, 248, 249]) {
      const m = encodeMatrix(shuffled, 256, 256, { expBase });
      expectSameMatrix(m, encodeMatrixBySpec(shuffled, 256, 256, expBase), `expBase ${expBase}`);
      expect(same(decodeMatrixBySpec(m), shuffled)).toBe(true);
    }
  });

  it('round-trips in a ragged shape with the chosen window', () => {
    const bits = new Uint16Array(241 * 272); // 65,552 >= 65,536 (the tail repeats)
    for (let i = 0; i < bits.length; i++) bits[i] = shuffled[i % 65536]!;
    checkRoundTrip(bits, 241, 272, 'all patterns 241x272');
  });
});

describe('shapes', () => {
  const shapes: Array<[number, number]> = [
    [1, 1],
    [1, 4096],
    [4096, 1],
    [172, 64],
    [64, 172],
    [32, 64],
    [65, 129],
    [63, 65],
    [127, 1],
    [1, 63],
    [3, 200],
    [130, 130],
  ];
  it.each(shapes)('%i x %i, N(0, 0.02) and random bits', (rows, cols) => {
    checkRoundTrip(gaussianBf16(rows * cols, 0.02, rows * 1000 + cols), rows, cols, `${rows}x${cols} gaussian`);
    checkRoundTrip(randomBits(rows * cols, rows + cols), rows, cols, `${rows}x${cols} random`);
  });

  it('random shapes', () => {
    const uniform = seededUniform(2024);
    for (let n = 0; n < 12; n++) {
      const rows = 1 + Math.floor(uniform() * 300);
      const cols = 1 + Math.floor(uniform() * 300);
      const bits = uniform() < 0.5 ? gaussianBf16(rows * cols, 0.05, n) : randomBits(rows * cols, n);
      checkRoundTrip(bits, rows, cols, `random shape ${rows}x${cols}`);
    }
  });

  it('padding holds the filler expBase << 7 (code 0, sign-mantissa 0)', () => {
    const m = encodeMatrix(gaussianBf16(65 * 129, 0.02, 3), 65, 129);
    // Tile (1, 2) holds only row 64 and col 128: every other element is padding.
    const gt = 1 * 3 + 2;
    const sm = m.signMantissa.subarray(gt * 4096, (gt + 1) * 4096);
    expect(sm.slice(1).every((x) => x === 0)).toBe(true); // stream index 0 is element (64, 128)
    const planes = m.bitmaps.subarray(gt * 192, (gt + 1) * 192);
    expect(planes.slice(3).every((w) => w === 0n)).toBe(true);
  });

  it('accepts a subarray input and decodes into a caller buffer', () => {
    const backing = gaussianBf16(1 + 100 * 70, 0.02, 11);
    const bits = backing.subarray(1); // odd element offset: the encoder's unaligned path
    const m = checkRoundTrip(bits, 100, 70, 'unaligned subarray');
    const out = new Uint16Array(100 * 70);
    expect(decodeMatrix(m, out)).toBe(out);
    const rowsOut = new Uint16Array(3 * 70);
    expect(decodeRows(m, 97, 3, rowsOut)).toBe(rowsOut);
    expect(same(rowsOut, bits.subarray(97 * 70))).toBe(true);
    expect(decodeRows(m, 5, 0).length).toBe(0);
    // An output at an odd element offset takes the decoder's unaligned path.
    const oddOut = new Uint16Array(1 + 100 * 70).subarray(1);
    expect(same(decodeMatrix(m, oddOut), bits)).toBe(true);
    const aligned = encodeMatrix(gaussianBf16(128 * 64, 0.02, 12), 128, 64);
    const oddRows = new Uint16Array(1 + 128 * 64).subarray(1);
    expect(same(decodeMatrix(aligned, oddRows), decodeMatrix(aligned))).toBe(true);
  });
});

describe('distributions', () => {
  const rows = 300;
  const cols = 200;
  it('30% exact zeros: the window follows the weights, not the zeros', () => {
    const [rows, cols] = [256, 256]; // no padding, so the ratio measures the zeros alone
    const bits = gaussianBf16(rows * cols, 0.02, 5);
    const uniform = seededUniform(6);
    for (let i = 0; i < bits.length; i++) if (uniform() < 0.3) bits[i] = uniform() < 0.5 ? 0x0000 : 0x8000;
    const m = checkRoundTrip(bits, rows, cols, '30% zeros');
    expect(m.expBase).toBeGreaterThan(100);
    // The zeros are outliers (+8 bits each): ~11.2 + 0.3 * 8 = 13.6 bits per weight, not the
    // research code's 19 (window on the zeros).
    expect((tcaTbeStoredBytes(m) * 8) / (rows * cols)).toBeLessThan(14);
  });

  it('all zeros', () => {
    const m = checkRoundTrip(new Uint16Array(rows * cols), rows, cols, 'zeros');
    expect(m.expBase).toBe(0);
    expect(m.outliers.length).toBe(0);
  });

  it('tiny exponents (subnormals and the smallest normals)', () => {
    const bits = randomBits(rows * cols, 8).map((x) => (x & 0x807f) | ((x & 3) << 7));
    const m = checkRoundTrip(bits, rows, cols, 'tiny');
    expect(m.expBase).toBe(0);
    expect(m.outliers.length).toBe(0);
  });

  it('huge exponents, infinities and NaNs', () => {
    const bits = randomBits(rows * cols, 9).map((x) => x | 0x7f00); // exponents 254, 255
    const m = checkRoundTrip(bits, rows, cols, 'huge');
    expect(m.expBase).toBe(249);
    checkRoundTrip(new Uint16Array(rows * cols).fill(f32ToBf16(Number.NaN)), rows, cols, 'NaN');
    checkRoundTrip(new Uint16Array(rows * cols).fill(0xff80), rows, cols, '-Inf');
  });

  it('random bits', () => {
    checkRoundTrip(randomBits(rows * cols, 10), rows, cols, 'random');
  });
});

describe('stories260K fixture', () => {
  const path = fileURLToPath(new URL('../../../models/stories260K/model.safetensors', import.meta.url));
  const file = readFileSync(path);
  const headerBytes = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerBytes).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const tensors = Object.entries(header).filter(([name]) => name !== '__metadata__');

  it('round-trips every BF16 tensor bit for bit', () => {
    expect(tensors.length).toBeGreaterThan(40);
    for (const [name, t] of tensors) {
      expect(t.dtype, name).toBe('BF16');
      const [a, b] = t.data_offsets;
      // Copy: the tensor data may start at an odd byte offset in the file.
      const bits = new Uint16Array(file.buffer.slice(file.byteOffset + 8 + headerBytes + a, file.byteOffset + 8 + headerBytes + b));
      const [rows, cols] = t.shape.length === 2 ? (t.shape as [number, number]) : [1, t.shape[0]!];
      const m = checkRoundTrip(bits, rows, cols, name);
      if (t.shape.length === 2 && rows * cols >= 4096) expect(tcaTbeStoredBytes(m), `${name} shrinks`).toBeLessThan(bits.byteLength);
    }
  });
});
