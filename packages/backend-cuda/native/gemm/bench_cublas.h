// The few cuBLAS entry points the kernel benchmark needs, loaded with dlopen (this build machine has
// no cuBLAS headers or library; the GPU host has libcublas.so.13). Values from cublas_api.h.
#pragma once

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace zipserv::gemm::bench {

class Cublas {
 public:
  Cublas() {
    const char* names[] = {"libcublas.so.13", "libcublas.so", "/usr/local/cuda/lib64/libcublas.so.13"};
    for (const char* n : names) {
      lib_ = dlopen(n, RTLD_NOW | RTLD_LOCAL);
      if (lib_) break;
    }
    if (!lib_) throw std::runtime_error("cuBLAS: could not dlopen libcublas.so.13 (is the CUDA toolkit installed?)");
    create_ = reinterpret_cast<int (*)(void**)>(dlsym(lib_, "cublasCreate_v2"));
    destroy_ = reinterpret_cast<int (*)(void*)>(dlsym(lib_, "cublasDestroy_v2"));
    setStream_ = reinterpret_cast<int (*)(void*, cudaStream_t)>(dlsym(lib_, "cublasSetStream_v2"));
    gemmEx_ = reinterpret_cast<GemmEx>(dlsym(lib_, "cublasGemmEx"));
    getVersion_ = reinterpret_cast<int (*)(void*, int*)>(dlsym(lib_, "cublasGetVersion_v2"));
    if (!create_ || !destroy_ || !setStream_ || !gemmEx_) throw std::runtime_error("cuBLAS: missing entry points");
    if (create_(&handle_) != 0) throw std::runtime_error("cuBLAS: cublasCreate failed");
  }
  ~Cublas() {
    if (handle_) destroy_(handle_);
  }
  int version() const {
    int v = 0;
    if (getVersion_) getVersion_(handle_, &v);
    return v;
  }
  // y[n*ldy + m] = sum_k w[m*K + k] * x[n*K + k]; w [M,K] bf16, x [N,K] bf16, y f32; fp32 accumulate,
  // default heuristic.
  int gemm(const uint16_t* w, int M, int K, const uint16_t* x, int N, float* y, int ldy, cudaStream_t s) {
    setStream_(handle_, s);
    const float alpha = 1.f, beta = 0.f;
    return gemmEx_(handle_, kOpT, kOpN, M, N, K, &alpha, w, kR16BF, K, x, kR16BF, K, &beta, y, kR32F, ldy, kCompute32F,
                   kGemmDefault);
  }

 private:
  using GemmEx = int (*)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                         const void*, void*, int, int, int, int);
  static constexpr int kOpN = 0, kOpT = 1, kR16BF = 14, kR32F = 0, kCompute32F = 68, kGemmDefault = -1;
  void* lib_ = nullptr;
  void* handle_ = nullptr;
  int (*create_)(void**) = nullptr;
  int (*destroy_)(void*) = nullptr;
  int (*setStream_)(void*, cudaStream_t) = nullptr;
  int (*getVersion_)(void*, int*) = nullptr;
  GemmEx gemmEx_ = nullptr;
};

}  // namespace zipserv::gemm::bench
