// TCA-TBE decoder (CPU, single thread): the exact inverse of encodeMatrix.

import {
  BITMAP_PLANES,
  MAX_EXP_BASE,
  SMALL_TILES_PER_TILE,
  TILE_ELEMENTS,
  type TcaTbeMatrix,
  tcaTbeGeometry,
  validateTcaTbeMatrix,
} from '@zipserv/format';
import { assertLittleEndian } from './input.js';
import { decodeRowRange } from './kernels/decode-kernel.js';

/** The u64 bitmap words as u32 halves (low word first), without copying. */
export function bitmapWords32(bitmaps: BigUint64Array): Uint32Array {
  return new Uint32Array(bitmaps.buffer, bitmaps.byteOffset, bitmaps.length * 2);
}

function outputFor(out: Uint16Array | undefined, length: number, what: string): Uint16Array {
  if (out === undefined) return new Uint16Array(length);
  if (!(out instanceof Uint16Array) || out.length !== length) {
    throw new RangeError(`${what}: output must be a Uint16Array of ${length} values, got ${out?.length ?? typeof out}`);
  }
  return out;
}

/** Exact inverse. Validates structure (validateTcaTbeMatrix) and each tile's outlier count vs its segment; throws RangeError naming the tile on corruption. */
export function decodeMatrix(m: TcaTbeMatrix, out?: Uint16Array /* [rows*cols] */): Uint16Array {
  assertLittleEndian();
  validateTcaTbeMatrix(m);
  const dst = outputFor(out, m.rows * m.cols, 'decodeMatrix');
  decodeRowRange(bitmapWords32(m.bitmaps), m.signMantissa, m.outliers, m.outlierOffsets, m.rows, m.cols, m.expBase, 0, m.rows, dst, 0);
  return dst;
}

/** Decode only rows [rowStart, rowStart+rowCount) into out [rowCount*cols] (embedding gather, streaming). */
export function decodeRows(m: TcaTbeMatrix, rowStart: number, rowCount: number, out?: Uint16Array): Uint16Array {
  assertLittleEndian();
  // O(1) checks only: a per-token gather must not walk the whole matrix. The kernel checks every
  // tile it touches (segment bounds and outlier count).
  const g = tcaTbeGeometry(m.rows, m.cols);
  if (!Number.isInteger(m.expBase) || m.expBase < 0 || m.expBase > MAX_EXP_BASE) {
    throw new RangeError(`expBase ${m.expBase} outside 0..${MAX_EXP_BASE}`);
  }
  if (
    m.bitmaps.length !== g.tiles * SMALL_TILES_PER_TILE * BITMAP_PLANES ||
    m.signMantissa.length !== g.tiles * TILE_ELEMENTS ||
    m.outlierOffsets.length !== g.tiles + 1
  ) {
    throw new RangeError(`TCA-TBE arrays do not match shape ${m.rows}x${m.cols}`);
  }
  if (!Number.isInteger(rowStart) || !Number.isInteger(rowCount) || rowStart < 0 || rowCount < 0 || rowStart + rowCount > m.rows) {
    throw new RangeError(`decodeRows: rows ${rowStart}..${rowStart + rowCount} outside 0..${m.rows}`);
  }
  const dst = outputFor(out, rowCount * m.cols, 'decodeRows');
  if (rowCount === 0) return dst;
  decodeRowRange(
    bitmapWords32(m.bitmaps),
    m.signMantissa,
    m.outliers,
    m.outlierOffsets,
    m.rows,
    m.cols,
    m.expBase,
    rowStart,
    rowStart + rowCount,
    dst,
    0,
  );
  return dst;
}
