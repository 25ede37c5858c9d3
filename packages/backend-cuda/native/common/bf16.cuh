// BF16 <-> f32 on the device, bit-exact and identical to @zipserv/format's bf16.ts:
// round to nearest even, NaN stays a quiet NaN with its sign and top payload bits.
#pragma once

#include <cstdint>

namespace zipserv {

__device__ __forceinline__ float bf16_to_f32(uint16_t bits) { return __uint_as_float(static_cast<uint32_t>(bits) << 16); }

__device__ __forceinline__ uint16_t f32_to_bf16(float x) {
  const uint32_t bits = __float_as_uint(x);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Cache element loads for the attention/KV kernels: f32 caches or bf16 caches.
__device__ __forceinline__ float load_cache(const float* p) { return *p; }
__device__ __forceinline__ float load_cache(const uint16_t* p) { return bf16_to_f32(*p); }
__device__ __forceinline__ void store_cache(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_cache(uint16_t* p, float v) { *p = f32_to_bf16(v); }

}  // namespace zipserv
