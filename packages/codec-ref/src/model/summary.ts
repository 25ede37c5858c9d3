// Per-tensor and per-file figures reported by compress and inspect.

import type { SafetensorsDType, TensorStorage } from '@zipserv/format';

export interface TensorSummary {
  /** Weights file, relative to the model root. */
  file: string;
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  storage: TensorStorage;
  originalBytes: number;
  storedBytes: number;
  /** Stored bits per element (16 for raw BF16; 0 for an empty tensor). */
  bitsPerWeight: number;
  /** Fraction of elements stored as outliers (tca-tbe only; null for raw). */
  outlierFraction: number | null;
  /** The exponent window (tca-tbe only). */
  window: { expBase: number; exponents: [number, number] } | null;
}

export interface FileSummary {
  /** Relative to the model root. */
  file: string;
  originalBytes: number;
  storedBytes: number;
  tensors: number;
  compressedTensors: number;
}

export function tensorSummary(
  file: string,
  t: { name: string; dtype: SafetensorsDType; shape: number[] },
  storage: TensorStorage,
  originalBytes: number,
  storedBytes: number,
  tca: { expBase: number; outliers: number } | null,
): TensorSummary {
  const elements = t.shape.reduce((n, d) => n * d, 1);
  return {
    file,
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    storage,
    originalBytes,
    storedBytes,
    bitsPerWeight: elements === 0 ? 0 : (storedBytes * 8) / elements,
    outlierFraction: tca && elements > 0 ? tca.outliers / elements : tca ? 0 : null,
    window: tca ? { expBase: tca.expBase, exponents: [tca.expBase, tca.expBase + 6] } : null,
  };
}

/** Outliers (code 7 = B1&B2&B3) in u64 bitmaps [tiles, 64, 3]; padding has code 0. */
export function countBitmapOutliers(bitmaps: Uint8Array): number {
  const words = new Uint32Array(bitmaps.buffer, bitmaps.byteOffset, bitmaps.byteLength / 4); // [tiles*64, 3, 2] u32
  let n = 0;
  for (let w = 0; w + 5 < words.length; w += 6) {
    n += popcount32(words[w]! & words[w + 2]! & words[w + 4]!) + popcount32(words[w + 1]! & words[w + 3]! & words[w + 5]!);
  }
  return n;
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
