// Error plumbing shared by the addon and the op launchers.
// Launchers return cudaError_t (capture-safe, no exceptions across kernel code); the addon turns a
// failure into a CudaError exception with a one-line message naming what failed.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace zipserv {

class CudaError : public std::runtime_error {
 public:
  CudaError(cudaError_t code, const std::string& what)
      : std::runtime_error(what + ": " + cudaGetErrorName(code) + " (" + cudaGetErrorString(code) + ")"), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

inline void check(cudaError_t code, const char* what) {
  if (code != cudaSuccess) throw CudaError(code, what);
}
inline void check(cudaError_t code, const std::string& what) {
  if (code != cudaSuccess) throw CudaError(code, what);
}

}  // namespace zipserv

// Inside launchers: return the first error (a launch's configuration error included).
#define ZS_TRY(expr)                          \
  do {                                        \
    cudaError_t zs_err_ = (expr);             \
    if (zs_err_ != cudaSuccess) return zs_err_; \
  } while (0)

#define ZS_LAUNCH_CHECK() ZS_TRY(cudaGetLastError())
