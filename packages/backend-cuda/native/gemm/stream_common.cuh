// The pieces the two stream schedules share (zipgemm_stream.cu: one warp per 64x64 tile, N <= 16;
// zipgemm_wide.cu: one CTA per tile, decoded once for up to 64 tokens): kernel parameters, the per-lane
// register copy of one 16-row band of a tile, its loads, and the table-free register decode into a swizzled
// 2 KB band of shared memory with the outlier patch. Internal to the GEMM kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "gemm/tca_device.cuh"
#include "gemm/zipgemm.h"

namespace zipserv::gemm::stream {
namespace {

using namespace dev;

constexpr int kWarps = 4;            // warps per CTA, one K range each
constexpr int kThreads = 32 * kWarps;
constexpr int kPartStride = 68;      // floats per token row of a warp's partial tile (64 + 4)
constexpr int kScratch = 2048;       // bytes per warp: 16 small tiles x 8 rows x 16 B
constexpr int kSegReg = 128;         // outlier-segment bytes held in registers (one u32 per lane)
constexpr int kMaxSplit = 8;         // portable cluster size

struct Params {
  const uint32_t* bitmaps;  // [tiles][64][3][2] u32 (the u64 planes as lo/hi words)
  const uint8_t* sm;
  const uint8_t* outliers;
  const uint32_t* offsets;
  uint32_t lut0, lut1;      // exponent of code c in byte c (c = 0..6); code 7 (outlier) -> 0
  const uint16_t* dense;
  int denseVec;             // K % 8 == 0 and 16-byte aligned rows: 16-byte loads
  const float* x;
  int xVec;                 // K even and x 8-byte aligned: 8-byte loads
  int xVec16;               // K % 4 == 0 and x 16-byte aligned: 16-byte loads
  int M, K, tileCols, N;
  float* y;
  int ldy, outOffset;
  const float* bias;
  int accumulate;
  int splitK, nChunks;
};

// This lane's weights of one 16-row band of a K tile, in registers (the ring holds the 4 bands of a tile; band
// mt of tile i+1 is loaded as soon as band mt of tile i is decoded, so ~one tile per warp is in flight).
template <bool kZip>
struct BandRegs;
template <>
struct BandRegs<true> {
  uint32_t pl[3];  // the lane's 32 code bits of each plane
  uint4 sm[2];     // the lane's 32 sign-mantissa bytes
};
template <>
struct BandRegs<false> {
  uint4 rows[4];  // 8 bf16 of rows 4h..4h+3 of the lane's small tile
};
// The tile's outlier segment: its first 128 bytes (4 per lane), offset and length.
struct SegRegs {
  uint32_t word, off, len;
};

__device__ __forceinline__ void sts128(uint32_t addr, uint4 v) {
  asm volatile("st.shared.v4.u32 [%0], {%1,%2,%3,%4};" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ __forceinline__ uint32_t lds_u16(uint32_t addr) {
  uint16_t v;
  asm volatile("ld.shared.u16 %0, [%1];" : "=h"(v) : "r"(addr) : "memory");
  return v;
}
__device__ __forceinline__ void sts_u16(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.u16 [%0], %1;" ::"r"(addr), "h"(uint16_t(v)) : "memory");
}
// {lo, hi} -> bf16x2 (RNE), lo in bits 0..15.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}

// Per-warp running pointers to the current K tile's data (advanced by one tile per step: no 64-bit address
// arithmetic in the loop). Zip lane = (small tile lane/2 of a band, half lane&1).
template <bool kZip>
struct TilePtrs;
template <>
struct TilePtrs<true> {
  const uint32_t* bm;  // plane words: + mt*96 + plane*2
  const uint4* sm;     // sign-mantissa: + mt*64 (+1)
  __device__ __forceinline__ void init(const Params& p, size_t gt, int, int, int lane) {
    bm = p.bitmaps + gt * 384 + (lane >> 1) * 6 + (lane & 1);
    sm = reinterpret_cast<const uint4*>(p.sm + gt * 4096) + (lane >> 1) * 4 + (lane & 1) * 2;
  }
  __device__ __forceinline__ void next() {
    bm += 384;
    sm += 256;
  }
};
template <>
struct TilePtrs<false> {
  const uint16_t* row;  // this lane's row 0 of band 0 at this tile's column (rows r, bands mt: + (16mt + r) * K)
  int col, rowIdx;      // column of the lane's 8 elements, row index of row 0 of band 0
  __device__ __forceinline__ void init(const Params& p, size_t, int band, int gk, int lane) {
    const int t = lane >> 1, h = lane & 1, s = t >> 2, j = t & 3;
    col = gk * 64 + s * 16 + (j >> 1) * 8;
    rowIdx = band * 64 + (j & 1) * 8 + h * 4;
    row = p.dense + size_t(rowIdx) * p.K + col;
  }
  __device__ __forceinline__ void next() {
    row += 64;
    col += 64;
  }
};

__device__ __forceinline__ void load_band(BandRegs<true>& B, const Params&, const TilePtrs<true>& P, int mt) {
  B.pl[0] = __ldcs(P.bm + mt * 96);
  B.pl[1] = __ldcs(P.bm + mt * 96 + 2);
  B.pl[2] = __ldcs(P.bm + mt * 96 + 4);
  B.sm[0] = __ldcs(P.sm + mt * 64);
  B.sm[1] = __ldcs(P.sm + mt * 64 + 1);
}
__device__ __forceinline__ void load_band(BandRegs<false>& B, const Params& p, const TilePtrs<false>& P, int mt) {
#pragma unroll
  for (int r = 0; r < 4; r++) {
    const int row = P.rowIdx + mt * 16 + r;
    const uint16_t* src = P.row + size_t(mt * 16 + r) * p.K;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (row < p.M) {
      if (p.denseVec) {
        if (P.col < p.K) v = __ldcs(reinterpret_cast<const uint4*>(src));
      } else {
        uint32_t e[8];
#pragma unroll
        for (int c = 0; c < 8; c++) e[c] = P.col + c < p.K ? src[c] : 0u;
        v = make_uint4(e[0] | (e[1] << 16), e[2] | (e[3] << 16), e[4] | (e[5] << 16), e[6] | (e[7] << 16));
      }
    }
    B.rows[r] = v;
  }
}

__device__ __forceinline__ void load_segment(SegRegs& g, const Params& p, uint32_t off, uint32_t len, int lane) {
  g.off = off;
  g.len = len;
  g.word = uint32_t(lane) * 4 < len ? __ldcs(reinterpret_cast<const uint32_t*>(p.outliers + off) + lane) : 0u;
}

// PRMT with the selector as given: __byte_perm's contract ignores bit 3 of each nibble, so ptxas masks every
// selector with 0x7777 first; the code nibbles here never set it (one LOP3 fewer per lookup).
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
}

// The lane's exponent bytes and sign-mantissa words of a band: X[s][w] byte q = exponent of element
// 16w + 4q + s (the outlier code gives exponent 0), S = the 32 sign-mantissa bytes; om = outlier mask (bit e).
struct BandParts {
  uint32_t X[4][2];
  uint32_t S[8];
};
__device__ __forceinline__ void band_parts(const BandRegs<true>& B, const Params& p, uint32_t& om, BandParts& d) {
  const uint32_t P1 = B.pl[0], P2 = B.pl[1], P3 = B.pl[2];
  om = P1 & P2 & P3;  // code 7 = outlier
  // Codes in nibbles: sel[s] nibble q = code of element 4q + s (q = 0..7), bit 3 of every nibble 0.
  uint32_t sel[4];
  sel[0] = (P1 & 0x11111111u) | ((P2 << 1) & 0x22222222u) | ((P3 << 2) & 0x44444444u);
  sel[1] = ((P1 >> 1) & 0x11111111u) | (P2 & 0x22222222u) | ((P3 << 1) & 0x44444444u);
  sel[2] = ((P1 >> 2) & 0x11111111u) | ((P2 >> 1) & 0x22222222u) | (P3 & 0x44444444u);
  sel[3] = ((P1 >> 3) & 0x11111111u) | ((P2 >> 2) & 0x22222222u) | ((P3 >> 1) & 0x44444444u);
#pragma unroll
  for (int s = 0; s < 4; s++) {
    d.X[s][0] = prmt(p.lut0, p.lut1, sel[s]);
    d.X[s][1] = prmt(p.lut0, p.lut1, sel[s] >> 16);
  }
  const uint32_t S[8] = {B.sm[0].x, B.sm[0].y, B.sm[0].z, B.sm[0].w, B.sm[1].x, B.sm[1].y, B.sm[1].z, B.sm[1].w};
#pragma unroll
  for (int i = 0; i < 8; i++) d.S[i] = S[i];
}
// (a & m) | (c & ~m) as one LOP3: written in C, ptxas keeps the two masks apart (two LOP3s per word).
__device__ __forceinline__ uint32_t bit_select(uint32_t a, uint32_t m, uint32_t c) {
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xE2;" : "=r"(d) : "r"(a), "r"(m), "r"(c));
  return d;
}
// bf16x2 of elements e0 = 8r + 2c and e0 + 1 (row 4h + r of the lane's small tile, columns 2c, 2c + 1).
__device__ __forceinline__ uint32_t band_word(const BandParts& d, int r, int c) {
  // exponents in X[s0][r/2] and X[s0+1][r/2], byte 2(r&1) + c/2
  const int s0 = (2 * c) & 3, b = 2 * (r & 1) + (c >> 1);
  const uint32_t xe =
      __byte_perm(d.X[s0][r >> 1], d.X[s0 + 1][r >> 1], uint32_t(b | (b << 4) | ((4 + b) << 8) | ((4 + b) << 12)));
  // [s0 s0 s1 s1]: sign lands on bit 15/31, mantissa on 0..6/16..22
  const uint32_t sd = __byte_perm(d.S[2 * r + (c >> 1)], 0u, (c & 1) ? 0x3322u : 0x1100u);
  return bit_select(xe << 7, 0x7F807F80u, sd);  // exponents from xe, sign and mantissa from sd
}

// Decodes this lane's 32 weights of a band (rows 4h..4h+3 of small tile t, 8 columns each) into the scratch
// rows at rowBase, a row at a time. Outliers get exponent 0 here; patch_band fixes them. `om` returns their mask.
__device__ __forceinline__ void decode_band(const BandRegs<true>& B, const Params& p, uint32_t rowBase, int lane,
                                            uint32_t& om) {
  BandParts d;
  band_parts(B, p, om, d);
  const int t = lane >> 1, h = lane & 1;
#pragma unroll
  for (int r = 0; r < 4; r++) {
    uint32_t o[4];
#pragma unroll
    for (int c = 0; c < 4; c++) o[c] = band_word(d, r, c);
    sts128(rowBase + ((uint32_t((4 * h + r) ^ (t & 3))) << 4), make_uint4(o[0], o[1], o[2], o[3]));
  }
}
// ... into registers instead: o[r][c] = band_word(r, c) (element 8r + 2c in the low half).
__device__ __forceinline__ void decode_band_regs(const BandRegs<true>& B, const Params& p, uint32_t& om,
                                                 uint32_t (&o)[4][4]) {
  BandParts d;
  band_parts(B, p, om, d);
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int c = 0; c < 4; c++) o[r][c] = band_word(d, r, c);
}

// Visits the band's outliers (mask om, ranks k, k + 1, ... in the tile's segment, in element order): apply(e, ex)
// for this lane's element e and its exponent byte ex. The exponent comes from the segment's register copy, or
// from global memory for ranks past it when `beyondRegs` (warp-uniform) says some may be.
template <class Apply>
__device__ __forceinline__ void for_each_outlier(uint32_t om, const SegRegs& g, const Params& p, uint32_t k,
                                                 bool beyondRegs, Apply apply) {
  uint32_t m = om;
  while (__any_sync(0xffffffffu, m != 0u)) {
    const uint32_t word = __shfl_sync(0xffffffffu, g.word, int((k >> 2) & 31u));
    if (m) {
      const uint32_t e = uint32_t(__ffs(m) - 1);
      m &= m - 1u;
      uint32_t ex = __byte_perm(word, 0u, 0x4440u | (k & 3u));
      if (beyondRegs && k >= uint32_t(kSegReg)) ex = k < g.len ? uint32_t(__ldg(p.outliers + g.off + k)) : 0u;
      k++;
      apply(e, ex);
    }
  }
}

// Outliers of the band: rank k (segment order = small tile, then position) -> exponent byte, ORed into the
// zero exponent the table gave them. k: this lane's first rank in the tile's segment (from tile_ranks);
// inRegs (warp-uniform): every rank of the band is < 128, i.e. inside the register copy of the segment.
__device__ __forceinline__ void patch_band(uint32_t om, const SegRegs& g, const Params& p, uint32_t k, bool inRegs,
                                           uint32_t rowBase, int lane) {
  // Element e (0..31) of the lane sits at rowBase + 64h + ((row ^ (t&3)) << 4) + 2 col = rowBase + 64h + ((e ^ 8(t&3)) << 1).
  const uint32_t laneBase = rowBase + uint32_t(lane & 1) * 64, swz = uint32_t((lane >> 1) & 3) << 3;
  if (inRegs) {
    // Common case: every rank is inside the register copy of the segment. Branch-free body: a lane that is done
    // re-reads element 31 and skips the store.
    uint32_t m = om;
    while (__any_sync(0xffffffffu, m != 0u)) {
      const uint32_t word = __shfl_sync(0xffffffffu, g.word, int(k >> 2));
      const uint32_t e = uint32_t(__ffs(m | 0x80000000u) - 1);
      const uint32_t a = laneBase + ((e ^ swz) << 1);
      const uint32_t v = lds_u16(a) | (__byte_perm(word, 0u, 0x4440u | (k & 3u)) << 7);
      if (m) sts_u16(a, v);
      m &= m - 1u;
      k++;
    }
  } else {
    for_each_outlier(om, g, p, k, true, [&](uint32_t e, uint32_t ex) {
      const uint32_t a = laneBase + ((e ^ swz) << 1);
      sts_u16(a, lds_u16(a) | (ex << 7));
    });
  }
}

// Outlier ranks of all four bands of a tile at once (two packed 16-bit scans instead of four): k[mt] = this
// lane's first rank in the tile's segment for band mt; inRegs bit mt: band mt's ranks all fit the register copy.
__device__ __forceinline__ uint32_t tile_ranks(const BandRegs<true> (&ring)[4], uint32_t (&k)[4], int lane) {
  uint32_t c[4];
#pragma unroll
  for (int mt = 0; mt < 4; mt++) c[mt] = __popc(ring[mt].pl[0] & ring[mt].pl[1] & ring[mt].pl[2]);
  const uint32_t c01 = c[0] | (c[1] << 16), c23 = c[2] | (c[3] << 16);  // <= 32 each: no carry between fields
  uint32_t i01 = c01, i23 = c23;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const uint32_t a = __shfl_up_sync(0xffffffffu, i01, d), b = __shfl_up_sync(0xffffffffu, i23, d);
    if (lane >= d) i01 += a, i23 += b;
  }
  const uint32_t t01 = __shfl_sync(0xffffffffu, i01, 31), t23 = __shfl_sync(0xffffffffu, i23, 31);
  const uint32_t e01 = i01 - c01, e23 = i23 - c23;
  const uint32_t T0 = t01 & 0xffffu, T1 = t01 >> 16, T2 = t23 & 0xffffu, T3 = t23 >> 16;
  k[0] = e01 & 0xffffu;
  k[1] = T0 + (e01 >> 16);
  k[2] = T0 + T1 + (e23 & 0xffffu);
  k[3] = T0 + T1 + T2 + (e23 >> 16);
  const uint32_t lim = uint32_t(kSegReg);
  return uint32_t(T0 <= lim) | (uint32_t(T0 + T1 <= lim) << 1) | (uint32_t(T0 + T1 + T2 <= lim) << 2) |
         (uint32_t(T0 + T1 + T2 + T3 <= lim) << 3);
}

// The compressed weight's fields of the parameters (the decode table from its exponent window).
inline void set_weights(Params& p, const TcaTbeDeviceMatrix& w) {
  p.bitmaps = reinterpret_cast<const uint32_t*>(w.bitmaps);
  p.sm = w.signMantissa;
  p.outliers = w.outliers;
  p.offsets = w.outlierOffsets;
  const uint32_t e = uint32_t(w.expBase);
  p.lut0 = e | ((e + 1) << 8) | ((e + 2) << 16) | ((e + 3) << 24);
  p.lut1 = (e + 4) | ((e + 5) << 8) | ((e + 6) << 16);  // byte 3: the outlier code's placeholder exponent 0
  p.M = w.rows;
  p.K = w.cols;
  p.tileCols = (w.cols + 63) / 64;
}

// Kernel parameters of one call (shared by both schedules' launchers; w null: the dense twin on `dense`).
inline Params make_params(const TcaTbeDeviceMatrix* w, const uint16_t* dense, int M, int K, const float* x, int N,
                          float* y, int ldy, int outOffset, const float* bias, bool accumulate, int splitK, int nTile) {
  Params p{};
  if (w) set_weights(p, *w);
  p.dense = dense;
  p.denseVec = (K % 8 == 0) && dense && reinterpret_cast<uintptr_t>(dense) % 16 == 0;
  p.x = x;
  p.xVec = (K % 2 == 0) && reinterpret_cast<uintptr_t>(x) % 8 == 0;
  p.xVec16 = (K % 4 == 0) && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  p.M = M;
  p.K = K;
  p.tileCols = (K + 63) / 64;
  p.N = N;
  p.y = y;
  p.ldy = ldy;
  p.outOffset = outOffset;
  p.bias = bias;
  p.accumulate = accumulate ? 1 : 0;
  p.splitK = splitK;
  p.nChunks = (N + nTile - 1) / nTile;
  return p;
}

// ---- host side, shared by both schedules' launchers ----

/** Argument checks of stream::launch / wide::launch (the tuning was resolved by zipgemm.cu). */
inline cudaError_t check_launch(const TcaTbeDeviceMatrix* w, const uint16_t* dense, int M, int K, const float* x,
                                int N, const float* y, int ldy, int outOffset, int splitK) {
  if (M < 1 || K < 1 || N < 1 || !x || !y || (!w && !dense)) return cudaErrorInvalidValue;
  if (ldy < 1 || outOffset < 0 || (long long)outOffset + M > ldy) return cudaErrorInvalidValue;
  if (splitK < 1 || splitK > kMaxSplit) return cudaErrorInvalidValue;
  return cudaSuccess;
}

using StreamKernel = void (*)(Params);

/** One CTA per (64-row band, token chunk, split), clusters of p.splitK CTAs, with programmatic dependent launch
 *  unless ZIPSERV_NO_PDL is set (the benchmark's isolated-call timing). */
inline cudaError_t launch_clustered(StreamKernel kernel, const Params& p, cudaStream_t s) {
  const long long blocks = (long long)((p.M + 63) / 64) * p.nChunks * p.splitK;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(blocks), 1, 1);
  cfg.blockDim = dim3(kThreads, 1, 1);
  cfg.stream = s;
  cudaLaunchAttribute attr[2];
  cluster_pdl_attrs(attr, unsigned(p.splitK));
  cfg.attrs = attr;
  cfg.numAttrs = pdl_off_everywhere() ? 1 : 2;
  const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, p);
  return e != cudaSuccess ? e : cudaGetLastError();
}

/** Co-resident clusters of `split` CTAs of `kernel`. A cluster must fit in one GPC, so this is fewer than
 *  SMs x CTAs per SM / split (H100, 3 CTAs per SM, split 4: 92); an estimate if the query fails. */
inline int active_clusters(StreamKernel kernel, int split, int ctasPerSm) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(split * 64), 1, 1);
  cfg.blockDim = dim3(kThreads, 1, 1);
  cudaLaunchAttribute attr[2];
  cluster_pdl_attrs(attr, unsigned(split));
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  int n = 0;
  if (cudaOccupancyMaxActiveClusters(&n, kernel, &cfg) != cudaSuccess || n < 1) {
    cudaGetLastError();
    n = sm_count() * ctasPerSm * 7 / 10 / split;
  }
  return n < 1 ? 1 : n;
}

/** The split-K (1..maxSplit) of least modelled time: waves x (K tiles per worker + fixed cost per CTA), waves =
 *  ceil(clusters / fit(split)), workers = split x workersPerCta; ties go to the smaller split. */
template <class Fit>
int cheapest_split(long long clusters, long long kTiles, int workersPerCta, double fixedTiles, int maxSplit, Fit fit) {
  static const bool debug = getenv("ZS_SPLIT_DEBUG") != nullptr;
  int best = 1;
  double bestCost = 1e30;
  for (int sp = 1; sp <= maxSplit; sp++) {
    const long long n = fit(sp);
    const double waves = double((clusters + n - 1) / n);
    const double cost = waves * (double(kTiles) / (double(workersPerCta) * sp) + fixedTiles);
    if (debug) printf("  [split: %lld clusters x %lld K tiles] split %d: %lld clusters fit, cost %.3f\n", clusters, kTiles, sp, n, cost);
    if (cost < bestCost * 0.9999) best = sp, bestCost = cost;
  }
  return best;
}

}  // namespace
}  // namespace zipserv::gemm::stream
