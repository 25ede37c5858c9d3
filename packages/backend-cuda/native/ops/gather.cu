// Row gathers (embedding of a raw BF16 table, last-row pick) and the greedy argmax.
#include <climits>

#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "ops/ops.h"

namespace zipserv::ops {
namespace {

__global__ void gather_rows_kernel(const float* __restrict__ x, int xRows, int D, const int32_t* __restrict__ rows,
                                   int R, float* __restrict__ out) {
  for (int r = blockIdx.x; r < R; r += gridDim.x) {
    const int src = rows[r];
    const bool ok = src >= 0 && src < xRows;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      out[static_cast<size_t>(r) * D + d] = ok ? x[static_cast<size_t>(src) * D + d] : __int_as_float(0x7fc00000);
    }
  }
}

__global__ void embedding_bf16_kernel(const uint16_t* __restrict__ table, int V, int D,
                                      const int32_t* __restrict__ ids, int N, float* __restrict__ out) {
  for (int n = blockIdx.x; n < N; n += gridDim.x) {
    const int id = ids[n];
    const bool ok = id >= 0 && id < V;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      out[static_cast<size_t>(n) * D + d] = ok ? bf16_to_f32(table[static_cast<size_t>(id) * D + d]) : __int_as_float(0x7fc00000);
    }
  }
}

// (value, index) a beats b: larger value, or equal value and smaller index; NaN never enters.
__device__ __forceinline__ bool beats(float av, int ai, float bv, int bi) {
  return bi == INT_MAX || (ai != INT_MAX && (av > bv || (av == bv && ai < bi)));
}

__global__ void argmax_kernel(const float* __restrict__ x, int R, int V, int32_t* __restrict__ out) {
  __shared__ float sv[32];
  __shared__ int si[32];
  for (int r = blockIdx.x; r < R; r += gridDim.x) {
    const float* row = x + static_cast<size_t>(r) * V;
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
      const float v = row[i];
      if (!isnan(v) && beats(v, i, bv, bi)) {
        bv = v;
        bi = i;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (beats(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    if (lane == 0) {
      sv[warp] = bv;
      si[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
      const int warps = blockDim.x >> 5;
      bv = lane < warps ? sv[lane] : -INFINITY;
      bi = lane < warps ? si[lane] : INT_MAX;
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (beats(ov, oi, bv, bi)) {
          bv = ov;
          bi = oi;
        }
      }
      if (lane == 0) out[r] = bi == INT_MAX ? 0 : bi;
    }
    __syncthreads();
  }
}

unsigned rows_grid(int rows) { return static_cast<unsigned>(rows < 65535 ? rows : 65535); }
int threads_for(int D) {
  const int t = ((D + 31) / 32) * 32;
  return t < 256 ? t : 256;
}

}  // namespace

cudaError_t gather_rows(const float* x, int xRows, int D, const int32_t* rows, int R, float* out, cudaStream_t s) {
  if (R <= 0 || D <= 0) return cudaSuccess;
  gather_rows_kernel<<<rows_grid(R), threads_for(D), 0, s>>>(x, xRows, D, rows, R, out);
  return cudaGetLastError();
}

cudaError_t embedding_bf16(const uint16_t* table, int V, int D, const int32_t* ids, int N, float* out,
                           cudaStream_t s) {
  if (N <= 0 || D <= 0) return cudaSuccess;
  embedding_bf16_kernel<<<rows_grid(N), threads_for(D), 0, s>>>(table, V, D, ids, N, out);
  return cudaGetLastError();
}

cudaError_t argmax(const float* x, int R, int V, int32_t* out, cudaStream_t s) {
  if (R <= 0) return cudaSuccess;
  argmax_kernel<<<rows_grid(R), 256, 0, s>>>(x, R, V, out);
  return cudaGetLastError();
}

}  // namespace zipserv::ops
