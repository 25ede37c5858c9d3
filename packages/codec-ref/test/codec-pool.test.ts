// EncoderPool: identical bytes to encodeMatrix for every thread count, from the TypeScript
// sources here and from the built package (ESM and CJS) in a child process.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TcaTbeMatrix } from '@zipserv/format';
import { afterAll, describe, expect, it } from 'vitest';
import { EncoderPool, decodeMatrix, encodeMatrix } from '../src/codec/index.js';
import { splitTileRows } from '../src/codec/pool.js';
import { gaussianBf16, randomBits } from '../src/codec/synthetic.js';

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: ArrayBufferView, b: ArrayBufferView) => a.byteLength === b.byteLength && bytesOf(a).equals(bytesOf(b));

function expectSameMatrix(actual: TcaTbeMatrix, expected: TcaTbeMatrix, what: string): void {
  expect([actual.rows, actual.cols, actual.expBase], what).toEqual([expected.rows, expected.cols, expected.expBase]);
  expect(same(actual.bitmaps, expected.bitmaps), `${what}: bitmaps`).toBe(true);
  expect(same(actual.signMantissa, expected.signMantissa), `${what}: signMantissa`).toBe(true);
  expect(same(actual.outliers, expected.outliers), `${what}: outliers`).toBe(true);
  expect(same(actual.outlierOffsets, expected.outlierOffsets), `${what}: outlierOffsets`).toBe(true);
}

const shapes: Array<[number, number]> = [
  [1, 1],
  [65, 129],
  [172, 64],
  [4096, 1],
  [1, 4096],
  [300, 500],
  [640, 320],
];

describe('EncoderPool', () => {
  const pools: EncoderPool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it.each([1, 2, 3, 4])('matches encodeMatrix and decodeMatrix with %i thread(s)', async (threads) => {
    const pool = new EncoderPool({ threads, minParallelElements: 0 });
    pools.push(pool);
    expect(pool.threads).toBe(threads);
    for (const [rows, cols] of shapes) {
      for (const bits of [gaussianBf16(rows * cols, 0.02, rows * cols), randomBits(rows * cols, rows)]) {
        const expected = encodeMatrix(bits, rows, cols);
        const actual = await pool.encode(bits, rows, cols);
        expectSameMatrix(actual, expected, `${threads} threads, ${rows}x${cols}`);
        expect(same(await pool.decode(expected), bits), `${threads} threads, ${rows}x${cols}: decode`).toBe(true);
      }
    }
  });

  it('encodes a shared input in place, runs concurrent calls, and its results decode anywhere', async () => {
    const pool = new EncoderPool({ threads: 2 });
    pools.push(pool);
    expect(pool.minParallelElements).toBe(1 << 20);
    const rows = 1030;
    const cols = 1100; // above the default threshold: runs on the workers
    const plain = gaussianBf16(rows * cols, 0.02, 77);
    const shared = new Uint16Array(new SharedArrayBuffer(plain.byteLength));
    shared.set(plain);
    const [a, b, c] = await Promise.all([pool.encode(shared, rows, cols), pool.encode(plain, rows, cols), pool.encode(plain.subarray(0, 64 * cols), 64, cols)]);
    const expected = encodeMatrix(plain, rows, cols);
    expectSameMatrix(a, expected, 'shared input');
    expectSameMatrix(b, expected, 'plain input');
    expectSameMatrix(c, encodeMatrix(plain.subarray(0, 64 * cols), 64, cols), 'one tile row');
    expect(a.signMantissa.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(same(decodeMatrix(a), plain)).toBe(true);
    expect(same(await pool.decode(a), plain)).toBe(true);
    // Decoding into caller buffers: shared (in place) and plain (copied).
    const sharedOut = new Uint16Array(new SharedArrayBuffer(plain.byteLength));
    expect(await pool.decode(a, sharedOut)).toBe(sharedOut);
    expect(same(sharedOut, plain)).toBe(true);
    const plainOut = new Uint16Array(plain.length);
    expect(await pool.decode(b, plainOut)).toBe(plainOut);
    expect(same(plainOut, plain)).toBe(true);
    await expect(pool.decode(a, new Uint16Array(3))).rejects.toThrow(/output must be a Uint16Array of 1133000 values/);
  });

  it('codes small matrices on the calling thread', async () => {
    const pool = new EncoderPool({ threads: 2, minParallelElements: 1000 });
    pools.push(pool);
    const bits = gaussianBf16(20 * 30, 0.02, 1);
    const m = await pool.encode(bits, 20, 30);
    expect(m.signMantissa.buffer).toBeInstanceOf(ArrayBuffer);
    expectSameMatrix(m, encodeMatrix(bits, 20, 30), 'in-thread');
  });

  it('rejects bad options and calls after close', async () => {
    expect(() => new EncoderPool({ threads: 0 })).toThrow(/threads must be an integer >= 1, got 0/);
    expect(() => new EncoderPool({ threads: 1.5 })).toThrow(RangeError);
    expect(new EncoderPool().threads).toBeGreaterThanOrEqual(1);
    const pool = new EncoderPool({ threads: 1, minParallelElements: 0 });
    const pending = expect(pool.encode(randomBits(64 * 64, 3), 64, 64)).rejects.toThrow(/closed/);
    await pool.close();
    await pending;
    await expect(pool.encode(new Uint16Array(1), 1, 1)).rejects.toThrow(/EncoderPool is closed/);
    await pool.close(); // idempotent
  });

  it('splits tile rows into near-equal bands', () => {
    expect(splitTileRows(10, 3)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 10 },
    ]);
    expect(splitTileRows(2, 8)).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
    ]);
  });
});

// The built package must start its workers too (turbo builds before testing).
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
describe.skipIf(!existsSync(`${dist}index.js`) || !existsSync(`${dist}index.cjs`))('EncoderPool from dist', () => {
  const script = (load: string) => `
    ${load}
    const rows = 333, cols = 200;
    const bits = new Uint16Array(rows * cols);
    for (let i = 0; i < bits.length; i++) bits[i] = (Math.imul(i + 1, 2654435761) >>> 16) & 0x3fff;
    const pool = new codec.EncoderPool({ threads: 3, minParallelElements: 0 });
    const bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    Promise.resolve().then(async () => {
      const m = await pool.encode(bits, rows, cols);
      const r = codec.encodeMatrix(bits, rows, cols);
      const equal = ['bitmaps', 'signMantissa', 'outliers', 'outlierOffsets'].every((k) => bytes(m[k]).equals(bytes(r[k])));
      const back = await pool.decode(m);
      await pool.close();
      process.stdout.write(equal && bytes(back).equals(bytes(bits)) ? 'ok' : 'mismatch');
    });`;
  it('ESM', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script(`import * as codec from ${JSON.stringify(`${dist}index.js`)};`)]);
    expect(out.toString()).toBe('ok');
  });
  it('CommonJS', () => {
    const out = execFileSync(process.execPath, ['-e', script(`const codec = require(${JSON.stringify(`${dist}index.cjs`)});`)]);
    expect(out.toString()).toBe('ok');
  });
});
