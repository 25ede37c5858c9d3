// Elementwise ops: SiLU-gated product, residual add, bias add, f32 -> bf16 rounding.
#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"

namespace zipserv::ops {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(size_t n) {
  const size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

__global__ void silu_mul_kernel(const float* __restrict__ x, float* __restrict__ out, int N, int I) {
  pdl_op_prologue();
  const size_t total = static_cast<size_t>(N) * I;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t n = idx / I;
    const size_t i = idx - n * I;
    const float gate = x[n * 2 * I + i];
    const float up = x[n * 2 * I + I + i];
    out[idx] = gate / (1.f + expf(-gate)) * up;
  }
}

__global__ void add_kernel(const float* a, const float* b, float* out, size_t n) {
  pdl_op_prologue();
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void add_bias_kernel(float* y, int N, int ldy, int outOffset, const float* __restrict__ bias, int M) {
  pdl_op_prologue();
  const size_t total = static_cast<size_t>(N) * M;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t n = idx / M;
    const size_t m = idx - n * M;
    y[n * ldy + outOffset + m] += bias[m];
  }
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, uint16_t* __restrict__ out, size_t n) {
  pdl_op_prologue();
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    out[i] = zipserv::f32_to_bf16(x[i]);
  }
}

}  // namespace

cudaError_t silu_mul(const float* x, float* out, int N, int I, cudaStream_t s) {
  const size_t total = static_cast<size_t>(N) * I;
  if (total == 0) return cudaSuccess;
  return launch_pdl(silu_mul_kernel, grid_for(total), kThreads, 0, s, x, out, N, I);
}

cudaError_t add(const float* a, const float* b, float* out, size_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return launch_pdl(add_kernel, grid_for(n), kThreads, 0, s, a, b, out, n);
}

cudaError_t add_bias(float* y, int N, int ldy, int outOffset, const float* bias, int M, cudaStream_t s) {
  const size_t total = static_cast<size_t>(N) * M;
  if (total == 0) return cudaSuccess;
  return launch_pdl(add_bias_kernel, grid_for(total), kThreads, 0, s, y, N, ldy, outOffset, bias, M);
}

cudaError_t f32_to_bf16(const float* x, uint16_t* out, size_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return launch_pdl(f32_to_bf16_kernel, grid_for(n), kThreads, 0, s, x, out, n);
}

}  // namespace zipserv::ops
