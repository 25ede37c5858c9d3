// Paged KV-cache append: each token's k and v rows go to the cache slot the scheduler gave it.
#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"

namespace zipserv::ops {
namespace {

template <typename T>
__global__ void kv_append_kernel(const float* __restrict__ qkv, int N, int rowWidth, int kOffset, int vOffset,
                                 T* kCache, T* vCache, long long numSlots, int kvWidth,
                                 const int32_t* __restrict__ slots) {
  pdl_op_prologue();
  for (int n = blockIdx.y; n < N; n += gridDim.y) {
    const int slot = slots[n];
    if (slot < 0 || slot >= numSlots) continue;  // padding row of a batch bucket
    const float* row = qkv + static_cast<size_t>(n) * rowWidth;
    const size_t dst = static_cast<size_t>(slot) * kvWidth;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < kvWidth; i += gridDim.x * blockDim.x) {
      store_cache(kCache + dst + i, row[kOffset + i]);
      store_cache(vCache + dst + i, row[vOffset + i]);
    }
  }
}

}  // namespace

cudaError_t kv_append(const float* qkv, int N, int rowWidth, int kOffset, int vOffset, void* kCache, void* vCache,
                      bool bf16Cache, long long numSlots, int kvWidth, const int32_t* slots, cudaStream_t s) {
  if (N <= 0 || kvWidth <= 0) return cudaSuccess;
  const int threads = 128;
  const dim3 grid(static_cast<unsigned>((kvWidth + threads - 1) / threads), static_cast<unsigned>(N < 65535 ? N : 65535));
  if (bf16Cache) {
    return launch_pdl(kv_append_kernel<uint16_t>, grid, threads, 0, s, qkv, N, rowWidth, kOffset, vOffset,
                      static_cast<uint16_t*>(kCache), static_cast<uint16_t*>(vCache), numSlots, kvWidth, slots);
  }
  return launch_pdl(kv_append_kernel<float>, grid, threads, 0, s, qkv, N, rowWidth, kOffset, vOffset,
                    static_cast<float*>(kCache), static_cast<float*>(vCache), numSlots, kvWidth, slots);
}

}  // namespace zipserv::ops
