// Rotary position embedding, Hugging Face rotate_half layout (the pair rotation: rope_math.cuh).
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"
#include "ops/rope_math.cuh"

namespace zipserv::ops {
namespace {

__global__ void rope_kernel(float* x, const int32_t* __restrict__ positions, const float* __restrict__ invFreq,
                            int N, int rowWidth, int firstHead, int numHeads, int headDim) {
  pdl_op_prologue();
  const int half = headDim >> 1;
  const long long total = static_cast<long long>(N) * numHeads * half;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const long long t = idx / half;
    const int h = static_cast<int>(t % numHeads);
    const int n = static_cast<int>(t / numHeads);
    float* head = x + static_cast<size_t>(n) * rowWidth + static_cast<size_t>(firstHead + h) * headDim;
    (void)rope_rotate_pair(head, i, half, positions[n], invFreq);
  }
}

}  // namespace

cudaError_t rope(float* x, const int32_t* positions, const float* invFreq, int N, int rowWidth, int firstHead,
                 int numHeads, int headDim, cudaStream_t s) {
  const long long total = static_cast<long long>(N) * numHeads * (headDim / 2);
  if (total <= 0) return cudaSuccess;
  const int threads = 256;
  const long long blocks = (total + threads - 1) / threads;
  return launch_pdl(rope_kernel, static_cast<unsigned>(blocks < 65535 ? blocks : 65535), threads, 0, s, x, positions,
                    invFreq, N, rowWidth, firstHead, numHeads, headDim);
}

}  // namespace zipserv::ops
