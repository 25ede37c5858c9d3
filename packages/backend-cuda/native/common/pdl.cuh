// Programmatic dependent launch, producer side: a kernel that calls this lets the next kernel on the stream start
// early *if* that kernel was launched with programmatic stream serialisation (the GEMMs are); the next kernel still
// waits (griddepcontrol.wait) for this one to finish before it reads its outputs. For every other successor it is
// a no-op. The ops that feed a GEMM in a decode step call it first thing, so the GEMM's weight stream overlaps them.
#pragma once

__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
