// Row gathers (embedding of a raw BF16 table, last-row pick) and the greedy argmax.
#include <climits>

#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"

namespace zipserv::ops {
namespace {

__global__ void gather_rows_kernel(const float* __restrict__ x, int xRows, int D, const int32_t* __restrict__ rows,
                                   int R, float* __restrict__ out) {
  pdl_op_prologue();
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
  pdl_op_prologue();
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

// Argmax in two passes, so a 128K-entry vocabulary row is read by many blocks instead of one: pass 1 gives each
// (row, chunk) block its winner, pass 2 reduces a row's chunk winners. Same tie rule everywhere (larger value,
// then smaller index), so the result does not depend on the split.
constexpr int kArgmaxThreads = 256;
constexpr int kArgmaxChunk = 8192;  // values per pass-1 block

__device__ __forceinline__ void warp_argmax(float& bv, int& bi) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (beats(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
}
// Block-wide winner of (bv, bi); valid in thread 0.
__device__ __forceinline__ void block_argmax(float& bv, int& bi) {
  __shared__ float sv[32];
  __shared__ int si[32];
  warp_argmax(bv, bi);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) sv[warp] = bv, si[warp] = bi;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) >> 5;
    bv = lane < warps ? sv[lane] : -INFINITY;
    bi = lane < warps ? si[lane] : INT_MAX;
    warp_argmax(bv, bi);
  }
}

// grid (chunks, rows): winner of x[r, c*kArgmaxChunk ..) into part[r*chunks + c].
__global__ void __launch_bounds__(kArgmaxThreads) argmax_chunk_kernel(const float* __restrict__ x, int V,
                                                                      float2* __restrict__ part) {
  pdl_op_prologue();
  const int r = blockIdx.y, c = blockIdx.x;
  const float* row = x + static_cast<size_t>(r) * V;
  const int lo = c * kArgmaxChunk, hi = min(V, lo + kArgmaxChunk);
  float bv = -INFINITY;
  int bi = INT_MAX;
#pragma unroll 4
  for (int i = lo + threadIdx.x; i < hi; i += kArgmaxThreads) {
    const float v = __ldg(row + i);
    if (!isnan(v) && beats(v, i, bv, bi)) bv = v, bi = i;
  }
  block_argmax(bv, bi);
  if (threadIdx.x == 0) part[static_cast<size_t>(r) * gridDim.x + c] = make_float2(bv, __int_as_float(bi));
}

// grid rows: out[r] = winner of the row's chunk winners (a row of NaN gives 0).
__global__ void argmax_reduce_kernel(const float2* __restrict__ part, int chunks, int32_t* __restrict__ out) {
  pdl_op_prologue();
  const int r = blockIdx.x;
  float bv = -INFINITY;
  int bi = INT_MAX;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    const float2 p = part[static_cast<size_t>(r) * chunks + c];
    const int pi = __float_as_int(p.y);
    if (beats(p.x, pi, bv, bi)) bv = p.x, bi = pi;
  }
  block_argmax(bv, bi);
  if (threadIdx.x == 0) out[r] = bi == INT_MAX ? 0 : bi;
}

unsigned rows_grid(int rows) { return static_cast<unsigned>(rows < 65535 ? rows : 65535); }
int threads_for(int D) {
  const int t = ((D + 31) / 32) * 32;
  return t < 256 ? t : 256;
}

}  // namespace

cudaError_t gather_rows(const float* x, int xRows, int D, const int32_t* rows, int R, float* out, cudaStream_t s) {
  if (R <= 0 || D <= 0) return cudaSuccess;
  return launch_pdl(gather_rows_kernel, rows_grid(R), threads_for(D), 0, s, x, xRows, D, rows, R, out);
}

cudaError_t embedding_bf16(const uint16_t* table, int V, int D, const int32_t* ids, int N, float* out,
                           cudaStream_t s) {
  if (N <= 0 || D <= 0) return cudaSuccess;
  return launch_pdl(embedding_bf16_kernel, rows_grid(N), threads_for(D), 0, s, table, V, D, ids, N, out);
}

size_t argmax_workspace_bytes(int R, int V) {
  if (R <= 0 || V <= 0) return 0;
  return static_cast<size_t>(R) * ((V + kArgmaxChunk - 1) / kArgmaxChunk) * sizeof(float2);
}

cudaError_t argmax(const float* x, int R, int V, int32_t* out, void* workspace, cudaStream_t s) {
  if (R <= 0) return cudaSuccess;
  if (V <= 0 || R > 65535 || !workspace) return cudaErrorInvalidValue;
  const int chunks = (V + kArgmaxChunk - 1) / kArgmaxChunk;
  float2* part = static_cast<float2*>(workspace);
  ZS_TRY(launch_pdl(argmax_chunk_kernel, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(R)), kArgmaxThreads,
                    0, s, x, V, part));
  return launch_pdl(argmax_reduce_kernel, static_cast<unsigned>(R), 32, 0, s, part, chunks, out);
}

}  // namespace zipserv::ops
