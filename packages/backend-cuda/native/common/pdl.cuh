// Programmatic dependent launch (sm_90+). A kernel launched with programmatic stream serialisation may start before
// its predecessor on the stream has finished. The GEMMs stream their weights, then call griddep_wait() before
// reading the predecessor's outputs; the small ops (launch_pdl below) call griddep_wait() first of all, so their
// launch latency and ramp hide behind the predecessor's tail. A predecessor lets its successor start by calling
// griddep_launch_dependents(); every op kernel does so first thing. For a kernel launched without the attribute
// both are no-ops.
//
// Ordering stays transitive: every kernel launched with the attribute waits for its predecessor's completion before
// it touches global memory and before it can complete, so no kernel completes before any earlier one.
// ZIPSERV_NO_PDL launches everything plainly (the isolated-call benchmark, A/B timings); ZIPSERV_NO_OP_PDL only the
// op kernels (the GEMMs keep theirs). Both are read once.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <utility>

__device__ __forceinline__ void griddep_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void griddep_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

/** The prologue of every op kernel launched by launch_pdl: let the successor launch, then wait for the
 *  predecessor's results (and completion) before touching global memory. */
__device__ __forceinline__ void pdl_op_prologue() {
  griddep_launch_dependents();
  griddep_wait();
}

namespace zipserv {

/** ZIPSERV_NO_PDL: no kernel (GEMMs included) is launched with programmatic stream serialisation. */
inline bool pdl_off_everywhere() {
  static const bool off = std::getenv("ZIPSERV_NO_PDL") != nullptr;
  return off;
}

/** Whether the op kernels launch with it (off under ZIPSERV_NO_PDL or ZIPSERV_NO_OP_PDL). */
inline bool pdl_enabled() {
  static const bool on = !pdl_off_everywhere() && std::getenv("ZIPSERV_NO_OP_PDL") == nullptr;
  return on;
}

/** kernel<<<grid, block, smem, s>>>(args...) with programmatic stream serialisation (unless switched off above).
 *  The kernel must begin with pdl_op_prologue(). Returns the launch's error. */
template <typename... KernelArgs, typename... Args>
cudaError_t launch_pdl(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                       Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
  return e != cudaSuccess ? e : cudaGetLastError();
}

}  // namespace zipserv
