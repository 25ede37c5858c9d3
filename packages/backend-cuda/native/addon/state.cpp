// See state.h.
#include "addon/state.h"

#include "common/cuda_check.h"

namespace zipserv {

DeviceBuffer::DeviceBuffer(DeviceState* s, size_t n, bool zero) : state(s), bytes(n) {
  // cudaMalloc of 0 bytes returns nullptr; keep every buffer addressable.
  check(cudaMalloc(&ptr, n ? n : 16), "cudaMalloc(" + std::to_string(n) + " bytes)");
  if (zero) {
    const cudaError_t err = cudaMemsetAsync(ptr, 0, n ? n : 16, state->stream);
    if (err != cudaSuccess) {
      cudaFree(ptr);
      throw CudaError(err, "cudaMemsetAsync");
    }
  }
  state->bytesInUse += n;
}

DeviceBuffer::~DeviceBuffer() {
  // Work already queued may still read this block; let it drain first.
  cudaStreamSynchronize(state->stream);
  cudaFree(ptr);
  state->bytesInUse -= bytes;
}

size_t DeviceWeight::deviceBytes() const {
  if (!compressed) return raw ? raw->bytes : 0;
  return bitmaps->bytes + signMantissa->bytes + outliers->bytes + outlierOffsets->bytes;
}

PinnedPool::~PinnedPool() {
  for (auto& [size, p] : free_) cudaFreeHost(p);
}

void* PinnedPool::acquire(size_t bytes, size_t* capacity) {
  size_t cap = 4096;
  while (cap < bytes) cap <<= 1;
  auto it = free_.find(cap);
  if (it != free_.end()) {
    void* p = it->second;
    free_.erase(it);
    *capacity = cap;
    return p;
  }
  void* p = nullptr;
  check(cudaMallocHost(&p, cap), "cudaMallocHost(" + std::to_string(cap) + " bytes)");
  *capacity = cap;
  return p;
}

void PinnedPool::release(void* p, size_t capacity) {
  // Keep small blocks for the per-step reads (logits, token ids); give big ones back.
  if (capacity <= (64u << 20) && free_.count(capacity) < 4) {
    free_.emplace(capacity, p);
  } else {
    cudaFreeHost(p);
  }
}

DeviceState::DeviceState(int dev) : device(dev) {
  check(cudaSetDevice(dev), "cudaSetDevice");
  check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  // Non-blocking: never serialised against the legacy default stream (other libraries' work).
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

DeviceState::~DeviceState() {
  cudaSetDevice(device);
  if (stream) cudaStreamSynchronize(stream);
  buffers.clear();
  weights.clear();
  scratch_.reset();
  blas_.reset();
  if (stream) cudaStreamDestroy(stream);
}

void DeviceState::makeCurrent() const { check(cudaSetDevice(device), "cudaSetDevice"); }

BufferRef DeviceState::scratch(size_t bytes) {
  if (bytes == 0) return nullptr;
  if (!scratch_ || scratch_->bytes < bytes) {
    // Round up so a slightly larger graph later does not force another block.
    size_t rounded = size_t{1} << 20;
    while (rounded < bytes) rounded <<= 1;
    scratch_ = std::make_shared<DeviceBuffer>(this, rounded, false);
  }
  return scratch_;
}

cublas::Blas& DeviceState::blas() {
  if (!blas_) {
    blas_ = std::make_unique<cublas::Blas>();
    bytesInUse += blas_->workspace_bytes();
  }
  return *blas_;
}

}  // namespace zipserv
