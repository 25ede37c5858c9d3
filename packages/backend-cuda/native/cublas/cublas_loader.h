// cuBLAS, loaded at run time: the build machine and CI have no cuBLAS headers or libraries, the GPU
// host has libcublas.so.13 in its CUDA toolkit. We declare the few entry points and enums we use
// (values from cublas_api.h, stable across CUDA 12/13) and dlopen the library on the first use of a
// vendor path; a missing library is an error for those paths only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace zipserv::cublas {

struct Handle;  // opaque cublasHandle_t

/** Loads libcublas once (thread-safe); throws std::runtime_error naming the paths tried. */
void ensure_loaded();
/** Whether the library loaded (or could load); sets `why` when it did not. Never throws. */
bool available(std::string* why);
/** cuBLAS version number (e.g. 130100), after ensure_loaded. */
int version();

class Blas {
 public:
  Blas();  // creates a handle with a fixed workspace (so graph capture never allocates)
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  // y[n*ldy + m] = alpha * sum_k w[m*K + k] * x[n*K + k] + beta * y[...]
  // w: [M, K] bf16 row-major, x: [N, K] bf16 row-major, y: f32 with row stride ldy. f32 accumulate.
  cudaError_t gemm_bf16(const uint16_t* w, int M, int K, const uint16_t* x, int N, float* y, int ldy, float beta,
                        cudaStream_t s);
  size_t workspace_bytes() const { return workspaceBytes_; }

 private:
  Handle* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
};

}  // namespace zipserv::cublas
