// RMSNorm over groups of columns (whole rows, or per-head groups for q/k norms).
#include "common/cuda_check.h"
#include "ops/ops.h"

namespace zipserv::ops {
namespace {

// One block per (row, group): sum of squares in f32 (warp shuffles, then one word per warp).
__global__ void rmsnorm_kernel(const float* __restrict__ x, const float* __restrict__ w, float* out, int rowWidth,
                               int offset, int groupsPerRow, int groupSize, float eps) {
  const int row = blockIdx.x / groupsPerRow;
  const int group = blockIdx.x % groupsPerRow;
  const size_t base = static_cast<size_t>(row) * rowWidth + offset + static_cast<size_t>(group) * groupSize;
  float sum = 0.f;
  for (int i = threadIdx.x; i < groupSize; i += blockDim.x) {
    const float v = x[base + i];
    sum += v * v;
  }
  __shared__ float warpSums[32];
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  if (lane == 0) warpSums[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) >> 5;
    sum = lane < warps ? warpSums[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) warpSums[0] = sum;
  }
  __syncthreads();
  const float inv = 1.f / sqrtf(warpSums[0] / static_cast<float>(groupSize) + eps);
  // Every thread reads only its own elements above, so writing in place here is safe.
  for (int i = threadIdx.x; i < groupSize; i += blockDim.x) out[base + i] = x[base + i] * inv * w[i];
}

}  // namespace

cudaError_t rmsnorm(const float* x, const float* w, float* out, int rows, int rowWidth, int offset, int width,
                    int groupSize, float eps, cudaStream_t s) {
  if (rows <= 0 || width <= 0) return cudaSuccess;
  if (groupSize <= 0 || width % groupSize != 0) return cudaErrorInvalidValue;
  const int groupsPerRow = width / groupSize;
  const long long blocks = static_cast<long long>(rows) * groupsPerRow;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  int threads = ((groupSize + 31) / 32) * 32;
  if (threads > 512) threads = 512;
  rmsnorm_kernel<<<static_cast<unsigned>(blocks), threads, 0, s>>>(x, w, out, rowWidth, offset, groupsPerRow,
                                                                   groupSize, eps);
  return cudaGetLastError();
}

}  // namespace zipserv::ops
