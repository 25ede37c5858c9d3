// Programmatic dependent launch (sm_90+). A kernel launched with programmatic stream serialisation (the GEMMs)
// may start before its predecessor on the stream has finished: it streams its weights, then calls griddep_wait()
// before reading the predecessor's outputs. The predecessor lets it start by calling griddep_launch_dependents();
// the ops that feed a GEMM in a decode step do so first thing. For a successor launched without the attribute both
// are no-ops.
#pragma once

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
