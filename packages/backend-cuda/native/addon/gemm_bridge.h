// The addon's view of the GEMM kernels in native/gemm/ (another owner's code, C API in zipgemm.h).
// Everything the addon needs from them goes through here, so a build without them (the header not
// there yet) still links and reports those paths as not built.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "addon/state.h"

namespace zipserv::gemm_bridge {

/** Whether the GEMM kernels are compiled into this addon. */
bool built();
/** One-line reason when they are not. */
const char* not_built_reason();

// y[n*ldy + outOffset + m] (+)= sum_k bf16(x[n*K + k]) * W[m, k] (+ bias[m]); x: [N, K] f32.
cudaError_t zipgemm(const DeviceWeight& w, const float* x, int N, float* y, int ldy, int outOffset, const float* bias,
                    bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s);
cudaError_t dense(const DeviceWeight& w, const float* x, int N, float* y, int ldy, int outOffset, const float* bias,
                  bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s);
size_t workspace_bytes(int M, int K, int N);
// out: [rows, cols] bf16, bit-exact.
cudaError_t decompress(const DeviceWeight& w, uint16_t* out, cudaStream_t s);
// out: [count, cols] f32 rows rowIds[i] of a compressed table (embedding gather).
cudaError_t decompress_rows(const DeviceWeight& w, const int32_t* rowIds, int count, float* out, cudaStream_t s);
/** The kernels' own dispatch rule for a compressed weight: true = decompress + vendor GEMM. */
bool prefers_decompress_vendor(int M, int K, int N);
/** The kernels' benchmark (JSON in, JSON out). */
std::string bench(const std::string& optionsJson);

}  // namespace zipserv::gemm_bridge
