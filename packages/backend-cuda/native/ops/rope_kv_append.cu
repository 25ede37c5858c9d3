// RoPE, then the paged KV-cache append of the same rows, in one kernel: a decode step's rope and kvAppend nodes
// (adjacent, on one packed q|k|v buffer) become one launch (addon/graph.cpp fuses them when the k columns are
// whole rotated heads and the v columns are not rotated, as in every Llama step). Each thread either rotates one
// pair with the rope kernel's arithmetic (rope_math.cuh), writing it back and, for a k head, straight into the
// cache slot too, or copies one v value: the same bits as rope then kv_append, with no barrier between them.
#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"
#include "ops/rope_math.cuh"

namespace zipserv::ops {
namespace {

constexpr int kThreads = 128;

// grid (ceil((pairs + kvWidth) / kThreads), rows): item < pairs rotates a pair, the rest copy v.
template <typename T>
__global__ void __launch_bounds__(kThreads) rope_kv_append_kernel(RopeArgs r, KvAppendArgs kv) {
  pdl_op_prologue();
  const int half = r.headDim >> 1;
  const int pairs = r.numHeads * half;
  const int kHead0 = kv.kOffset / r.headDim - r.firstHead;  // the first k head among the rotated heads
  const int kHeads = kv.kvWidth / r.headDim;
  const int item = blockIdx.x * kThreads + threadIdx.x;
  if (item >= pairs + kv.kvWidth) return;
  for (int n = blockIdx.y; n < r.N; n += gridDim.y) {
    float* row = r.x + static_cast<size_t>(n) * r.rowWidth;
    const int slot = kv.slots[n];
    const bool store = slot >= 0 && slot < kv.numSlots;  // else a padding row of a batch bucket
    const size_t dst = static_cast<size_t>(slot) * kv.kvWidth;
    if (item < pairs) {
      const int h = item / half, i = item - h * half;
      const float2 v = rope_rotate_pair(row + static_cast<size_t>(r.firstHead + h) * r.headDim, i, half,
                                        r.positions[n], r.invFreq);
      const int kh = h - kHead0;
      if (store && kh >= 0 && kh < kHeads) {
        T* k = static_cast<T*>(kv.kCache) + dst + static_cast<size_t>(kh) * r.headDim;
        store_cache(k + i, v.x);
        store_cache(k + i + half, v.y);
      }
    } else if (store) {
      const int c = item - pairs;
      store_cache(static_cast<T*>(kv.vCache) + dst + c, row[kv.vOffset + c]);
    }
  }
}

}  // namespace

bool rope_kv_append_fusable(const RopeArgs& rope, const KvAppendArgs& kv) {
  const int hd = rope.headDim;
  if (hd <= 0 || hd % 2 || kv.qkv != rope.x) return false;
  const long long ropeLo = static_cast<long long>(rope.firstHead) * hd, ropeHi = ropeLo + static_cast<long long>(rope.numHeads) * hd;
  const bool kWholeHeads = kv.kOffset % hd == 0 && kv.kvWidth % hd == 0 && kv.kOffset >= ropeLo &&
                           kv.kOffset + kv.kvWidth <= ropeHi;
  const bool vUnrotated = kv.vOffset >= ropeHi || kv.vOffset + kv.kvWidth <= ropeLo;
  return kWholeHeads && vUnrotated;
}

cudaError_t rope_kv_append(const RopeArgs& rope, const KvAppendArgs& kv, cudaStream_t s) {
  if (rope.N <= 0) return cudaSuccess;
  if (!rope_kv_append_fusable(rope, kv)) return cudaErrorInvalidValue;
  const long long items = static_cast<long long>(rope.numHeads) * (rope.headDim / 2) + kv.kvWidth;
  const dim3 grid(static_cast<unsigned>((items + kThreads - 1) / kThreads), static_cast<unsigned>(rope.N < 65535 ? rope.N : 65535));
  return kv.bf16Cache ? launch_pdl(rope_kv_append_kernel<uint16_t>, grid, kThreads, 0, s, rope, kv)
                      : launch_pdl(rope_kv_append_kernel<float>, grid, kThreads, 0, s, rope, kv);
}

}  // namespace zipserv::ops
