// Causal GQA attention oracle over a paged KV cache, decode and prefill alike, in float64.

import { type PagedKvCache, readCache } from './paged-kv.js';

export interface PagedAttentionArgs {
  qkv: Float32Array; // [N, rowWidth] f32; query head h at columns qOffset + h*hd ..
  rows: number;
  rowWidth: number;
  qOffset: number;
  kCache: PagedKvCache; // [blocks, blockSize, Hkv, hd]
  vCache: PagedKvCache;
  blockTables: Int32Array; // [S, maxBlocksPerSeq] i32
  maxBlocksPerSeq: number;
  contextLens: Int32Array; // [S] i32, tokens in the cache per sequence (this step's included)
  queryStarts: Int32Array; // [S + 1] i32, sequence s owns rows queryStarts[s] .. queryStarts[s+1]-1
  out: Float32Array; // [N, H*hd] f32
  numHeads: number;
  scale: number;
}

/**
 * Sequence s has nq = queryStarts[s+1] - queryStarts[s] query rows and L = contextLens[s] cached
 * tokens; its query row i sits at position L - nq + i and attends to cache positions 0..L-nq+i
 * (causal), head h reading kv head h / (H / Hkv). Softmax with the running maximum subtracted.
 * Rows owned by no sequence are not written.
 */
export function referencePagedAttention(a: PagedAttentionArgs): void {
  const { kCache, vCache, numHeads, scale } = a;
  const { numKvHeads, headDim, blockSize } = kCache;
  if (numHeads % numKvHeads !== 0) throw new RangeError(`attention: ${numHeads} heads is not a multiple of ${numKvHeads} kv heads`);
  const groupSize = numHeads / numKvHeads;
  const kvWidth = numKvHeads * headDim;
  const outWidth = numHeads * headDim;
  const sequences = a.contextLens.length;
  const scores = new Float64Array(a.maxBlocksPerSeq * blockSize);
  const acc = new Float64Array(headDim);
  for (let s = 0; s < sequences; s++) {
    const first = a.queryStarts[s]!;
    const end = a.queryStarts[s + 1]!;
    const contextLen = a.contextLens[s]!;
    const nq = end - first;
    if (first < 0 || end < first || end > a.rows) throw new RangeError(`attention: sequence ${s} owns rows ${first}..${end - 1}, outside 0..${a.rows - 1}`);
    if (nq === 0) continue;
    if (contextLen < nq || contextLen > a.maxBlocksPerSeq * blockSize) {
      throw new RangeError(`attention: sequence ${s} has context length ${contextLen} for ${nq} query rows and room for ${a.maxBlocksPerSeq * blockSize}`);
    }
    // Cache slot of each context position, through the block table.
    const slotOf = new Int32Array(contextLen);
    for (let p = 0; p < contextLen; p++) {
      const block = a.blockTables[s * a.maxBlocksPerSeq + Math.floor(p / blockSize)]!;
      if (block < 0 || block >= kCache.blocks) throw new RangeError(`attention: sequence ${s} maps position ${p} to block ${block}, outside 0..${kCache.blocks - 1}`);
      slotOf[p] = block * blockSize + (p % blockSize);
    }
    for (let i = 0; i < nq; i++) {
      const row = first + i;
      const lastPosition = contextLen - nq + i;
      for (let h = 0; h < numHeads; h++) {
        const kvHead = Math.floor(h / groupSize);
        const q = row * a.rowWidth + a.qOffset + h * headDim;
        let maxScore = Number.NEGATIVE_INFINITY;
        for (let p = 0; p <= lastPosition; p++) {
          const k = slotOf[p]! * kvWidth + kvHead * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += a.qkv[q + d]! * readCache(kCache, k + d);
          scores[p] = dot * scale;
          if (scores[p]! > maxScore) maxScore = scores[p]!;
        }
        let denominator = 0;
        acc.fill(0);
        for (let p = 0; p <= lastPosition; p++) {
          const weight = Math.exp(scores[p]! - maxScore);
          denominator += weight;
          const v = slotOf[p]! * kvWidth + kvHead * headDim;
          for (let d = 0; d < headDim; d++) acc[d] += weight * readCache(vCache, v + d);
        }
        for (let d = 0; d < headDim; d++) a.out[row * outWidth + h * headDim + d] = acc[d]! / denominator;
      }
    }
  }
}
