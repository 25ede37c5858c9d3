// Matmul kernels of the reference backend. All paths accumulate in float64 (JS numbers), k
// ascending, from +0, so zipgemm and dense (and vendor, decompress+vendor) give bit-identical
// results; the epilogue then adds bias and the previous output in float64 and rounds to f32 once.

import { GLOBAL_TILE, TILE_ELEMENTS, bf16ArrayToF32, f32ArrayToBf16, tcaTbeGeometry } from '@zipserv/format';
import { decodeMatrix } from '../codec/index.js';
import { decodeTileToF32 } from './tile-decoder.js';
import type { RefWeight } from './weights.js';

/** acc[N, M] += x[N, K] . W[M, K]^T with W as f32 values (dense, vendor and decompress+vendor). */
export function denseProduct(
  x: Float32Array, // [N, K] f32
  w: Float32Array, // [M, K] f32
  n: number,
  k: number,
  m: number,
  acc: Float64Array, // [N, M] f64
): void {
  for (let row = 0; row < n; row++) {
    const xBase = row * k;
    for (let col = 0; col < m; col++) {
      const wBase = col * k;
      let sum = acc[row * m + col]!;
      for (let i = 0; i < k; i++) sum += x[xBase + i]! * w[wBase + i]!;
      acc[row * m + col] = sum;
    }
  }
}

// One tile of scratch for every zipgemm call: JS runs one call at a time, and allocating typed
// arrays per call costs more than decoding a small matrix.
const scratchTile = new Float32Array(TILE_ELEMENTS);
const scratchTileBits = new Uint32Array(scratchTile.buffer);

/**
 * acc[N, M] += x[N, K] . W^T for a TCA-TBE weight, decoding one 64x64 tile at a time (never the
 * whole matrix). Tiles of a band run left to right, so each output still sums k ascending.
 */
export function zipgemmProduct(
  weight: Extract<RefWeight, { storage: 'tca-tbe' }>,
  x: Float32Array, // [N, K] f32
  n: number,
  acc: Float64Array, // [N, M] f64
): void {
  const { matrix, words } = weight;
  const m = matrix.rows;
  const k = matrix.cols;
  const g = tcaTbeGeometry(m, k);
  const tile = scratchTile; // [64, 64] f32, row-major
  const tileBits = scratchTileBits;
  for (let gm = 0; gm < g.tileRows; gm++) {
    const rowsHere = Math.min(GLOBAL_TILE, m - gm * GLOBAL_TILE);
    for (let gk = 0; gk < g.tileCols; gk++) {
      decodeTileToF32(matrix, words, gm * g.tileCols + gk, tileBits);
      const colsHere = Math.min(GLOBAL_TILE, k - gk * GLOBAL_TILE);
      for (let row = 0; row < n; row++) {
        const xBase = row * k + gk * GLOBAL_TILE;
        const accBase = row * m + gm * GLOBAL_TILE;
        for (let r = 0; r < rowsHere; r++) {
          const tBase = r * GLOBAL_TILE;
          let sum = acc[accBase + r]!;
          for (let c = 0; c < colsHere; c++) sum += x[xBase + c]! * tile[tBase + c]!;
          acc[accBase + r] = sum;
        }
      }
    }
  }
}

/** The whole weight as f32 values [M, K]: the cached values of a raw weight, a full decode otherwise. */
export function weightValues(weight: RefWeight): Float32Array {
  if (weight.storage === 'raw') return weight.values;
  return bf16ArrayToF32(decodeMatrix(weight.matrix));
}

/** x rounded to BF16 and widened back (what a backend with BF16 matmul inputs multiplies). */
export function roundToBf16(x: Float32Array): Float32Array {
  return bf16ArrayToF32(f32ArrayToBf16(x));
}

export interface MatmulEpilogue {
  out: Float32Array; // [N, outWidth] f32
  outWidth: number;
  outOffset: number;
  bias: Float32Array | null; // [M] f32
  accumulate: boolean;
}

/** out[n, outOffset + j] = f32(acc[n, j] + bias[j] (+ out[n, outOffset + j] when accumulating)). */
export function writeMatmulOutput(acc: Float64Array, n: number, m: number, e: MatmulEpilogue): void {
  for (let row = 0; row < n; row++) {
    const outBase = row * e.outWidth + e.outOffset;
    for (let j = 0; j < m; j++) {
      let y = acc[row * m + j]!;
      if (e.bias) y += e.bias[j]!;
      if (e.accumulate) y += e.out[outBase + j]!;
      e.out[outBase + j] = y;
    }
  }
}
