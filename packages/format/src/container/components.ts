// A compressed tensor as four stored tensors, and back to a TcaTbeMatrix.

import type { SafetensorsTensorLayout } from '../safetensors/header.js';
import {
  BITMAP_PLANES,
  SMALL_TILES_PER_TILE,
  TILE_ELEMENTS,
  type TcaTbeMatrix,
  tcaTbeGeometry,
  validateTcaTbeMatrix,
} from '../tca-tbe/layout.js';
import { TCA_COMPONENTS, type TcaComponentKey } from './schema.js';

/** Stored-tensor names of compressed tensor `name`, in TCA_COMPONENTS order. */
export function tcaComponentNames(name: string): string[] {
  return TCA_COMPONENTS.map((c) => name + c.suffix);
}

/** Bytes of the fixed-size arrays (everything but the outlier stream) of a rows x cols matrix. */
export function tcaTbeFixedBytes(rows: number, cols: number): number {
  const { tiles } = tcaTbeGeometry(rows, cols);
  return tiles * SMALL_TILES_PER_TILE * BITMAP_PLANES * 8 + tiles * TILE_ELEMENTS + (tiles + 1) * 4;
}

/** Stored-tensor layouts (name, dtype, shape) of a compressed rows x cols matrix. */
export function tcaComponentLayout(name: string, rows: number, cols: number, outlierBytes: number): SafetensorsTensorLayout[] {
  const { tiles } = tcaTbeGeometry(rows, cols);
  const shapes: Record<TcaComponentKey, number[]> = {
    bitmaps: [tiles * SMALL_TILES_PER_TILE * BITMAP_PLANES], // [tiles*64*3] u64
    signMantissa: [tiles * TILE_ELEMENTS], // [tiles*4096] u8
    outliers: [outlierBytes], // [outlierBytes] u8
    outlierOffsets: [tiles + 1], // [tiles+1] u32
  };
  return TCA_COMPONENTS.map((c) => ({ name: name + c.suffix, dtype: c.dtype, shape: shapes[c.key] }));
}

/** The four arrays of `m` as byte views (no copy), in TCA_COMPONENTS order. */
export function tcaComponentBytes(m: TcaTbeMatrix): Uint8Array[] {
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return [bytes(m.bitmaps), bytes(m.signMantissa), bytes(m.outliers), bytes(m.outlierOffsets)];
}

/**
 * Builds a TcaTbeMatrix from the stored bytes of its four components (TCA_COMPONENTS order) and
 * validates its structure (throws RangeError). Bytes that are not aligned for their element type
 * are copied; aligned ones are viewed in place.
 */
export function tcaMatrixFromComponents(
  rows: number,
  cols: number,
  expBase: number,
  parts: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array],
): TcaTbeMatrix {
  const [bitmaps, signMantissa, outliers, outlierOffsets] = parts;
  if (bitmaps.byteLength % 8 !== 0) throw new RangeError(`bitmaps hold ${bitmaps.byteLength} bytes, not whole u64 words`);
  if (outlierOffsets.byteLength % 4 !== 0) throw new RangeError(`outlier offsets hold ${outlierOffsets.byteLength} bytes, not whole u32 words`);
  const aligned = (b: Uint8Array, align: number): Uint8Array => (b.byteOffset % align === 0 ? b : b.slice());
  const bm = aligned(bitmaps, 8);
  const off = aligned(outlierOffsets, 4);
  const m: TcaTbeMatrix = {
    rows,
    cols,
    expBase,
    bitmaps: new BigUint64Array(bm.buffer, bm.byteOffset, bm.byteLength / 8), // [tiles, 64, 3] u64
    signMantissa, // [tiles, 4096] u8
    outliers, // [outlierBytes] u8
    outlierOffsets: new Uint32Array(off.buffer, off.byteOffset, off.byteLength / 4), // [tiles+1] u32
  };
  validateTcaTbeMatrix(m);
  return m;
}
