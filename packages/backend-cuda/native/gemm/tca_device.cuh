// Device building blocks shared by the ZipGEMM, dense-twin and decompression kernels:
// cp.async helpers, the TCA-TBE tile decoder (one 8-element small-tile row per thread), ldmatrix/mma.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/pdl.cuh"

namespace zipserv::gemm::dev {

constexpr int kTileBitmapBytes = 1536;  // 64 small tiles x 3 planes x u64
constexpr int kTileElems = 4096;
// Bytes of a tile's outlier segment staged in shared memory; the rest (rare: > 6% outliers in one
// tile) is read from global memory by the patch loop.
constexpr int kOutlierStage = 256;

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16-byte async copy; src_bytes = 0 zero-fills (out-of-range chunks).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void cp_async_wait_dyn(int n) {
  switch (n) {
    case 0: cp_async_wait<0>(); break;
    case 1: cp_async_wait<1>(); break;
    case 2: cp_async_wait<2>(); break;
    case 3: cp_async_wait<3>(); break;
    default: cp_async_wait<4>(); break;
  }
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t& r0, uint32_t& r1, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(addr));
}
// D = A(16x16 bf16, row) * B(16x8 bf16, col) + D, fp32 accumulate.
__device__ __forceinline__ void mma_bf16(float* d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// f32 -> bf16 bits, round to nearest even, NaN stays quiet NaN (identical to format/bf16.ts).
__device__ __forceinline__ uint32_t f32_to_bf16_bits(float x) {
  const uint32_t b = __float_as_uint(x);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0) return ((b >> 16) | 0x40u) & 0xffffu;
  return ((b + 0x7fffu + ((b >> 16) & 1u)) >> 16) & 0xffffu;
}

// Decode lookup tables, built per launch in shared memory: T[p][n] spreads the 4 code bits of plane p
// (elements 4q..4q+3, one nibble of a small-tile row) into two words of two bf16 lanes each, bit
// 7+p of the low lane and 23+p of the high lane. T[0] also carries expBase<<7 in both lanes, so
// T0 + T1 + T2 = (expBase + code) << 7 per lane with one IADD3 (the bits of T1/T2 are disjoint; the
// only carry, code 7 at expBase 249, stays inside its own lane and is overwritten by the outlier patch).
struct DecodeTables {
  uint2 t[3][16];
};

__device__ __forceinline__ void build_decode_tables(DecodeTables* tab, int expBase, int tid, int nthreads) {
  for (int i = tid; i < 48; i += nthreads) {
    const int p = i >> 4, n = i & 15;
    const uint32_t lo = 1u << (7 + p), hi = 1u << (23 + p);
    uint32_t w0 = ((n & 1) ? lo : 0u) | ((n & 2) ? hi : 0u);
    uint32_t w1 = ((n & 4) ? lo : 0u) | ((n & 8) ? hi : 0u);
    if (p == 0) {
      const uint32_t eb = (uint32_t(expBase) << 7) | (uint32_t(expBase) << 23);
      w0 += eb;
      w1 += eb;
    }
    tab->t[p][n] = make_uint2(w0, w1);
  }
}

// Inclusive prefix sum of v over the warp's lanes (five shuffles): lane l gets v(0) + ... + v(l).
template <typename T>
__device__ __forceinline__ T warp_inclusive_sum(T v, int lane) {
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const T u = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v += u;
  }
  return v;
}

// Per-warp outlier bookkeeping for one staged tile: lane l owns small tiles 2l and 2l+1 and returns,
// packed, the number of outliers before small tile 2l (low 16 bits) and before 2l+1 (high 16 bits).
__device__ __forceinline__ uint32_t warp_outlier_prefix(const uint64_t* bm, int lane) {
  const uint4* q = reinterpret_cast<const uint4*>(bm) + lane * 3;  // 48 bytes: tiles 2l, 2l+1
  const uint4 a = q[0], b = q[1], c = q[2];
  // tile 2l planes: (a.x,a.y) (a.z,a.w) (b.x,b.y); tile 2l+1: (b.z,b.w) (c.x,c.y) (c.z,c.w)
  const int c0 = __popc(a.x & a.z & b.x) + __popc(a.y & a.w & b.y);
  const int c1 = __popc(b.z & c.x & c.z) + __popc(b.w & c.y & c.w);
  const int excl = warp_inclusive_sum(c0 + c1, lane) - c0 - c1;
  return uint32_t(excl) | (uint32_t(excl + c0) << 16);
}

// Decodes row r (8 elements) of small tile t of a staged tile and stores it (16 bytes) at dst, then
// patches the row's outliers (rare) with 16-bit stores. prefix: outliers before small tile t.
// bm: staged bitmaps [64][3] u64; sm: staged sign-mantissa [4096]; seg/segG: the tile's outlier
// segment staged (first kOutlierStage bytes) and in global memory; segLen its length in bytes.
__device__ __forceinline__ void decode_row(const uint64_t* __restrict__ bm, const uint8_t* __restrict__ sm,
                                           const uint8_t* __restrict__ seg, const uint8_t* __restrict__ segG,
                                           uint32_t segLen, const DecodeTables* __restrict__ tab, int t, int r,
                                           uint32_t prefix, uint16_t* dst) {
  const uint32_t* bm32 = reinterpret_cast<const uint32_t*>(bm) + t * 6 + (r >> 2);
  const int sh = (r & 3) * 8;
  const uint32_t x1 = bm32[0] >> sh, x2 = bm32[2] >> sh, x3 = bm32[4] >> sh;
  const uint2 a0 = tab->t[0][x1 & 15], b0 = tab->t[1][x2 & 15], c0 = tab->t[2][x3 & 15];
  const uint2 a1 = tab->t[0][(x1 >> 4) & 15], b1 = tab->t[1][(x2 >> 4) & 15], c1 = tab->t[2][(x3 >> 4) & 15];
  const uint2 s = *reinterpret_cast<const uint2*>(sm + t * 64 + r * 8);
  // [s0 s0 s1 s1] & 0x807F807F keeps sign (bit 15) and mantissa (bits 0..6) of two lanes.
  uint4 o;
  o.x = (__byte_perm(s.x, 0, 0x1100) & 0x807F807Fu) | (a0.x + b0.x + c0.x);
  o.y = (__byte_perm(s.x, 0, 0x3322) & 0x807F807Fu) | (a0.y + b0.y + c0.y);
  o.z = (__byte_perm(s.y, 0, 0x1100) & 0x807F807Fu) | (a1.x + b1.x + c1.x);
  o.w = (__byte_perm(s.y, 0, 0x3322) & 0x807F807Fu) | (a1.y + b1.y + c1.y);
  *reinterpret_cast<uint4*>(dst) = o;
  uint32_t ob = x1 & x2 & x3 & 0xffu;  // code 7 = outlier
  if (ob) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(bm) + t * 6;
    const uint32_t omLo = w[0] & w[2] & w[4], omHi = w[1] & w[3] & w[5];
    uint32_t k = prefix + (r < 4 ? __popc(omLo & ((1u << (8 * r)) - 1u))
                                 : __popc(omLo) + __popc(omHi & ((1u << (8 * (r - 4))) - 1u)));
    do {
      const int j = __ffs(ob) - 1;
      ob &= ob - 1;
      const uint32_t e = k < uint32_t(kOutlierStage) ? seg[k] : (k < segLen ? __ldg(segG + k) : 0u);
      k++;
      const uint32_t sb = ((j < 4 ? s.x : s.y) >> (8 * (j & 3))) & 0xffu;
      dst[j] = uint16_t(((sb & 0x80u) << 8) | (e << 7) | (sb & 0x7fu));
    } while (ob);
  }
}

// ---- Hopper asynchronous copies and mbarriers (v4 producer/consumer ring) ----
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initialised barriers visible to the asynchronous (bulk-copy) proxy.
__device__ __forceinline__ void fence_mbar_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("{\n .reg .b64 st;\n mbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred p;\n WAIT_%=:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n @!p bra WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// L2 policy for streamed-once weights: evict first, so the (re-used) activations stay resident.
__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t pol;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(pol));
  return pol;
}
// 1-D bulk copy global -> shared (16-byte aligned addresses, size a multiple of 16), completing on `bar`.
__device__ __forceinline__ void bulk_g2s(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}
__device__ __forceinline__ void bulk_g2s_hint(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar, uint64_t pol) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar), "l"(pol)
      : "memory");
}

// Multiprocessors of the current device (queried once; 132 if the query fails).
inline int sm_count() {
  static int cached = 0;
  if (cached) return cached;
  int dev = 0, n = 132;
  if (cudaGetDevice(&dev) == cudaSuccess) cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
  cached = n > 0 ? n : 132;
  return cached;
}

// Launch attributes of the GEMM kernels: a 1-D thread-block cluster of `clusterX` CTAs (split-K reduced through
// DSMEM) and programmatic dependent launch (weights stream before the previous kernel's outputs are read).
inline void cluster_pdl_attrs(cudaLaunchAttribute (&attr)[2], unsigned clusterX) {
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = clusterX;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = 1;
}

}  // namespace zipserv::gemm::dev
