// RoPE, then the paged KV-cache append of the same rows, in one kernel: a decode step's rope and kvAppend nodes
// (adjacent, on one packed q|k|v buffer) become one launch (addon/graph.cpp fuses them). One block per row rotates
// the row's heads in place with the rope kernel's arithmetic (rope_math.cuh), then, after a block barrier that makes
// the rotated k visible to every thread of the block, copies the row's k and v to its cache slot exactly as
// kv_append does: the same bits as the two kernels, for any overlap of the rotated heads and the k/v columns.
#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"
#include "ops/rope_math.cuh"

namespace zipserv::ops {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) rope_kv_append_kernel(RopeArgs r, KvAppendArgs kv) {
  pdl_op_prologue();
  const int half = r.headDim >> 1;
  const int pairs = r.numHeads * half;
  T* kCache = static_cast<T*>(kv.kCache);
  T* vCache = static_cast<T*>(kv.vCache);
  for (int n = blockIdx.x; n < r.N; n += gridDim.x) {
    float* row = r.x + static_cast<size_t>(n) * r.rowWidth;
    const int position = r.positions[n];
    for (int idx = threadIdx.x; idx < pairs; idx += kThreads) {
      const int h = idx / half;
      rope_rotate_pair(row + static_cast<size_t>(r.firstHead + h) * r.headDim, idx - h * half, half, position,
                       r.invFreq);
    }
    __syncthreads();  // the rotated row, written by every thread, is read by every thread below
    const int slot = kv.slots[n];
    if (slot < 0 || slot >= kv.numSlots) continue;  // padding row of a batch bucket
    const size_t dst = static_cast<size_t>(slot) * kv.kvWidth;
    for (int i = threadIdx.x; i < kv.kvWidth; i += kThreads) {
      store_cache(kCache + dst + i, row[kv.kOffset + i]);
      store_cache(vCache + dst + i, row[kv.vOffset + i]);
    }
  }
}

}  // namespace

cudaError_t rope_kv_append(const RopeArgs& rope, const KvAppendArgs& kv, cudaStream_t s) {
  if (rope.N <= 0) return cudaSuccess;
  if (rope.headDim % 2 || kv.qkv != rope.x) return cudaErrorInvalidValue;
  const unsigned grid = static_cast<unsigned>(rope.N < 65535 ? rope.N : 65535);
  return kv.bf16Cache ? launch_pdl(rope_kv_append_kernel<uint16_t>, grid, kThreads, 0, s, rope, kv)
                      : launch_pdl(rope_kv_append_kernel<float>, grid, kThreads, 0, s, rope, kv);
}

}  // namespace zipserv::ops
