// See gemm_bridge.h.
#include "addon/gemm_bridge.h"

#include <stdexcept>

#if ZIPSERV_HAVE_GEMM
#include "gemm/zipgemm.h"
#endif

namespace zipserv::gemm_bridge {

#if ZIPSERV_HAVE_GEMM

namespace {
TcaTbeDeviceMatrix view(const DeviceWeight& w) {
  TcaTbeDeviceMatrix m{};
  m.rows = w.rows;
  m.cols = w.cols;
  m.expBase = w.expBase;
  m.bitmaps = static_cast<const uint64_t*>(w.bitmaps->ptr);
  m.signMantissa = static_cast<const uint8_t*>(w.signMantissa->ptr);
  m.outliers = static_cast<const uint8_t*>(w.outliers->ptr);
  m.outlierOffsets = static_cast<const uint32_t*>(w.outlierOffsets->ptr);
  return m;
}
}  // namespace

bool built() { return true; }
const char* not_built_reason() { return ""; }

cudaError_t zipgemm(const DeviceWeight& w, const float* x, int N, float* y, int ldy, int outOffset, const float* bias,
                    bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s) {
  return ::zipgemm(view(w), x, N, y, ldy, outOffset, bias, accumulate, workspace, workspaceBytes, s);
}

cudaError_t dense(const DeviceWeight& w, const float* x, int N, float* y, int ldy, int outOffset, const float* bias,
                  bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s) {
  return ::dense_gemm(static_cast<const uint16_t*>(w.raw->ptr), w.rows, w.cols, x, N, y, ldy, outOffset, bias,
                      accumulate, workspace, workspaceBytes, s);
}

size_t workspace_bytes(int M, int K, int N) { return ::gemm_workspace_bytes(M, K, N); }

cudaError_t decompress(const DeviceWeight& w, uint16_t* out, cudaStream_t s) {
  return ::tca_decompress(view(w), out, s);
}

cudaError_t decompress_rows(const DeviceWeight& w, const int32_t* rowIds, int count, float* out, cudaStream_t s) {
  return ::tca_decompress_rows(view(w), rowIds, count, out, s);
}

bool prefers_decompress_vendor(int M, int K, int N) {
  return ::choose_gemm_path(M, K, N) != GemmPath::Zipgemm;
}

std::string bench(const std::string& optionsJson) { return ::run_gemm_bench_json(optionsJson); }

#else  // built without native/gemm

bool built() { return false; }
const char* not_built_reason() {
  return "the GEMM kernels (native/gemm) are not built into this addon; rebuild with `pnpm build:native`";
}
cudaError_t zipgemm(const DeviceWeight&, const float*, int, float*, int, int, const float*, bool, void*, size_t,
                    cudaStream_t) {
  return cudaErrorNotSupported;
}
cudaError_t dense(const DeviceWeight&, const float*, int, float*, int, int, const float*, bool, void*, size_t,
                  cudaStream_t) {
  return cudaErrorNotSupported;
}
size_t workspace_bytes(int, int, int) { return 0; }
cudaError_t decompress(const DeviceWeight&, uint16_t*, cudaStream_t) { return cudaErrorNotSupported; }
cudaError_t decompress_rows(const DeviceWeight&, const int32_t*, int, float*, cudaStream_t) {
  return cudaErrorNotSupported;
}
bool prefers_decompress_vendor(int, int, int) { return false; }
std::string bench(const std::string&) { throw std::runtime_error(not_built_reason()); }

#endif

}  // namespace zipserv::gemm_bridge
