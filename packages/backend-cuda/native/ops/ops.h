// Launchers of the transformer ops (everything but the GEMMs, which live in native/gemm/).
// Every launcher is capture-safe: it only enqueues kernels on `s` (no allocation, no host reads of
// device data, no synchronization), so a whole step can be recorded into one CUDA graph.
// Shapes: N token rows, H query heads, Hkv kv heads, hd head dim, S sequences, V vocabulary.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace zipserv::ops {

// ---- norm.cu
// out = x / sqrt(mean(x^2) + eps) * w over each group of `groupSize` columns inside
// [offset, offset + width) of every row. x, out: [rows, rowWidth] f32 (out may be x); w: [groupSize].
cudaError_t rmsnorm(const float* x, const float* w, float* out, int rows, int rowWidth, int offset, int width,
                    int groupSize, float eps, cudaStream_t s);

// ---- rope.cu
// Rotary embedding in place (HF rotate_half), heads [firstHead, firstHead+numHeads) of each row.
// x: [N, rowWidth] f32; positions: [N] i32; invFreq: [headDim/2] f32 (scaling already applied).
cudaError_t rope(float* x, const int32_t* positions, const float* invFreq, int N, int rowWidth, int firstHead,
                 int numHeads, int headDim, cudaStream_t s);

// ---- kv_cache.cu
// Paged append: token n goes to cache slot slots[n] (negative or >= numSlots: skipped).
// qkv: [N, rowWidth] f32; caches: [numSlots, kvWidth] (= [blocks, blockSize, Hkv, hd]) f32 or bf16.
cudaError_t kv_append(const float* qkv, int N, int rowWidth, int kOffset, int vOffset, void* kCache, void* vCache,
                      bool bf16Cache, long long numSlots, int kvWidth, const int32_t* slots, cudaStream_t s);

// ---- rope_kv_append.cu
// A rope node and the kvAppend node after it on the same packed rows, fused by the graph compiler: the same
// bits as rope(...) then kv_append(...), one launch instead of two. Fusable when the k columns are whole heads
// among the rotated ones and the v columns are outside them (rope_kv_append_fusable).
struct RopeArgs {
  float* x;  // [N, rowWidth] f32, rotated in place
  const int32_t* positions;  // [N]
  const float* invFreq;  // [headDim/2]
  int N, rowWidth, firstHead, numHeads, headDim;
};
struct KvAppendArgs {
  const float* qkv;  // [N, rowWidth] f32 (the rope's x)
  int kOffset, vOffset, kvWidth;
  void* kCache;  // [numSlots, kvWidth] f32 or bf16
  void* vCache;
  bool bf16Cache;
  long long numSlots;
  const int32_t* slots;  // [N]
};
bool rope_kv_append_fusable(const RopeArgs& rope, const KvAppendArgs& kv);
cudaError_t rope_kv_append(const RopeArgs& rope, const KvAppendArgs& kv, cudaStream_t s);

// ---- attention.cu
struct AttentionParams {
  const float* qkv;  // [N, rowWidth] f32
  int N, rowWidth, qOffset;
  const void* kCache;  // [numBlocks, blockSize, Hkv, hd] f32 or bf16
  const void* vCache;
  bool bf16Cache;
  int numBlocks, blockSize;
  const int32_t* blockTables;  // [S, maxBlocksPerSeq]
  int maxBlocksPerSeq;
  const int32_t* contextLens;  // [S]
  const int32_t* queryStarts;  // [S + 1]
  int S;
  float* out;  // [N, H*hd] f32
  int H, Hkv, hd;
  float scale;
  // Flash-decoding split of the context, fixed when the graph is planned: each (row, kv head) is handled
  // by `splits` blocks, merged by the last of them to finish; at run time a row's actual context is divided
  // among them.
  int splits;
  // [N, Hkv] arrival counters, zero before a launch and left zero after it (splits > 1 only). They must
  // outlive the workspace's other uses between launches: the graph keeps them in a buffer of their own.
  unsigned* counters;
};

// Picks the split count for a graph (from the largest context the block table can address) and
// returns the workspace bytes the launch needs (0 without a split).
size_t plan_attention(AttentionParams& p, int numSMs);
// Arrival counters a planned launch needs (0 without a split).
size_t attention_counter_count(const AttentionParams& p);
cudaError_t attention(const AttentionParams& p, void* workspace, cudaStream_t s);

// ---- activation.cu
// out[n, i] = silu(x[n, i]) * x[n, I + i];  x: [N, 2I], out: [N, I] f32.
cudaError_t silu_mul(const float* x, float* out, int N, int I, cudaStream_t s);
// out = a + b elementwise over n floats (out may alias a or b).
cudaError_t add(const float* a, const float* b, float* out, size_t n, cudaStream_t s);
// y[n, outOffset + m] += bias[m];  y: [N, ldy] f32.
cudaError_t add_bias(float* y, int N, int ldy, int outOffset, const float* bias, int M, cudaStream_t s);
// out = bf16(x) (round to nearest even) over n values: the vendor GEMM's activation operand.
cudaError_t f32_to_bf16(const float* x, uint16_t* out, size_t n, cudaStream_t s);

// ---- gather.cu
// out[r, :] = x[rows[r], :]; x: [xRows, D]; an index outside 0..xRows-1 gives a NaN row (loud, like the
// compressed embedding gather).
cudaError_t gather_rows(const float* x, int xRows, int D, const int32_t* rows, int R, float* out, cudaStream_t s);
// out[r] = first index of the largest x[r, :] (NaN never wins; a row of NaN gives 0). Two passes through a
// workspace of argmax_workspace_bytes(R, V) bytes (R <= 65535).
size_t argmax_workspace_bytes(int R, int V);
cudaError_t argmax(const float* x, int R, int V, int32_t* out, void* workspace, cudaStream_t s);
// out[n, :] = f32(table[ids[n], :]) for a raw BF16 table [V, D]; an id outside 0..V-1 gives a NaN row.
cudaError_t embedding_bf16(const uint16_t* table, int V, int D, const int32_t* ids, int N, float* out,
                           cudaStream_t s);

}  // namespace zipserv::ops
