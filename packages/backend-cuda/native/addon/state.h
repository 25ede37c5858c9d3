// Device-side state of one backend instance: the stream, device buffers and weights (reference
// counted, so a compiled graph keeps what it uses alive even after JS frees its handle), the shared
// scratch area, pinned staging for reads, and the lazily created cuBLAS handle. No Node-API here.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cublas/cublas_loader.h"

namespace zipserv {

struct DeviceState;

/** One cudaMalloc'ed block. Freed (after the stream drains) when its last owner lets go. */
struct DeviceBuffer {
  DeviceBuffer(DeviceState* state, size_t bytes, bool zero);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceState* state;
  void* ptr = nullptr;
  size_t bytes = 0;
};
using BufferRef = std::shared_ptr<DeviceBuffer>;

/** A BF16 weight [rows, cols]: one raw buffer, or the four TCA-TBE arrays. */
struct DeviceWeight {
  bool compressed = false;
  int rows = 0, cols = 0, expBase = 0;
  BufferRef raw;  // [rows, cols] bf16
  BufferRef bitmaps, signMantissa, outliers, outlierOffsets;
  size_t deviceBytes() const;
};
using WeightRef = std::shared_ptr<DeviceWeight>;

/** Page-locked host blocks for device->host reads, reused by size class. Main thread only. */
class PinnedPool {
 public:
  ~PinnedPool();
  void* acquire(size_t bytes, size_t* capacity);
  void release(void* p, size_t capacity);

 private:
  std::multimap<size_t, void*> free_;
};

struct DeviceState {
  explicit DeviceState(int device);
  ~DeviceState();
  DeviceState(const DeviceState&) = delete;
  DeviceState& operator=(const DeviceState&) = delete;

  int device;
  cudaDeviceProp prop{};
  cudaStream_t stream = nullptr;
  size_t bytesInUse = 0;
  bool disposed = false;

  std::unordered_map<uint32_t, BufferRef> buffers;
  std::unordered_map<uint32_t, WeightRef> weights;
  uint32_t nextId = 1;
  PinnedPool pinned;

  /** Scratch shared by every compiled graph (they run one after another on `stream`). Grows at
   *  compile time only; graphs captured against a smaller one keep theirs alive. */
  BufferRef scratch(size_t bytes);
  /** cuBLAS handle, created on first use of a vendor path (throws if cuBLAS is missing). */
  cublas::Blas& blas();
  bool hasBlas() const { return blas_ != nullptr; }

  void makeCurrent() const;

 private:
  BufferRef scratch_;
  std::unique_ptr<cublas::Blas> blas_;
};

}  // namespace zipserv
