// Paged KV cache oracle: the cache is [blocks, blockSize, Hkv, hd], f32 values or BF16 bits; a
// token at cache slot s lives in block s / blockSize at offset s % blockSize (vLLM's layout).

import { bf16ToF32, f32ToBf16 } from '@zipserv/format';

export interface PagedKvCache {
  /** [blocks, blockSize, Hkv, hd]: f32 values, or BF16 bits (Uint16Array). */
  data: Float32Array | Uint16Array;
  blocks: number;
  blockSize: number;
  numKvHeads: number;
  headDim: number;
}

/** Value of cache element `index` as a number (BF16 widened exactly). */
export function readCache(cache: PagedKvCache, index: number): number {
  const v = cache.data[index]!;
  return cache.data instanceof Uint16Array ? bf16ToF32(v) : v;
}

/** Stores f32 `value` at `index`: exact for an f32 cache, nearest-even BF16 for a bf16 cache. */
export function writeCache(cache: PagedKvCache, index: number, value: number): void {
  if (cache.data instanceof Uint16Array) cache.data[index] = f32ToBf16(value);
  else cache.data[index] = value;
}

/**
 * For each row n with slots[n] >= 0: k = qkv[n, kOffset : kOffset + Hkv*hd] goes to kCache at slot
 * slots[n], v likewise from vOffset. Negative slots skip the row (padding rows of a batch bucket).
 */
export function referenceKvAppend(
  qkv: Float32Array, // [N, rowWidth] f32
  rows: number,
  rowWidth: number,
  kOffset: number,
  vOffset: number,
  kCache: PagedKvCache,
  vCache: PagedKvCache,
  slots: Int32Array, // [N] i32
): void {
  const kvWidth = kCache.numKvHeads * kCache.headDim;
  const capacity = kCache.blocks * kCache.blockSize;
  for (let n = 0; n < rows; n++) {
    const slot = slots[n]!;
    if (slot < 0) continue;
    if (slot >= capacity) throw new RangeError(`kvAppend: slot ${slot} of row ${n} is outside the cache's ${capacity} slots`);
    for (let i = 0; i < kvWidth; i++) {
      writeCache(kCache, slot * kvWidth + i, qkv[n * rowWidth + kOffset + i]!);
      writeCache(vCache, slot * kvWidth + i, qkv[n * rowWidth + vOffset + i]!);
    }
  }
}
