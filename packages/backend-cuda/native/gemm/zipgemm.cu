// ZipGEMM v5 (fused TCA-TBE decode + mma.sync) and its dense twin: one warp-specialised kernel template,
// two weight loaders, four schedules (GemmTuning::variant).
//
// Per call: a pre-pass converts x [N, K] f32 -> bf16 [N, Kpad] (zero-padded to a multiple of 64) into the
// workspace; the GEMM is launched as its programmatic dependent, so weight streaming starts while the
// pre-pass runs. GEMM CTA = 1 producer warp + kCW consumer warps (4 or 8) over a 64-row band of W, a
// contiguous range of K tiles (split-K) and up to NT tokens.
// - Producer (last warp): per K tile, 1-D bulk copies (TMA engine) of the tile's bitmaps (1536 B),
//   sign-mantissa (4096 B), the first bytes of its outlier segment and the NT x 128 B activation tile into
//   an S-stage ring, completing on the stage's `full` mbarrier; waits on the stage's `empty` mbarrier
//   before reuse. No CTA-wide barrier in the main loop.
// - Producer-side outlier ranks (kPP, v5): once a stage has landed, the producer (idle > 90% otherwise)
//   computes the tile's exclusive outlier prefix per half small tile (128 x u16) into the stage's rank
//   table and arrives on the stage's `ready` mbarrier; consumers then read their rank with one LDS
//   instead of the per-warp scan + REDUX over earlier bands (v4).
// - Consumer warp w owns rows 16(w%4)..+15 (small tiles) of its tiles: it decodes its 1024 weights (lane =
//   one half of a small tile = 4 rows of 8) into a private 2 KB scratch in the small-tile layout, patches
//   its own outliers, then runs ldmatrix + mma.m16n8k16 for all NT tokens. With 8 consumer warps (v5),
//   warps w and w+4 share a band and take alternate K tiles (two tiles in flight per band: twice the
//   independent dependency chains per SM), each with its own accumulators, summed in a fixed order.
// - The dense twin copies the bf16 rows of the tile (row-major, 144-byte pitch) and feeds ldmatrix from
//   the stage; the mma sequence and the reduction are the same, so outputs are bit-identical.
// Split-K CTAs of one band form a thread-block cluster; their fp32 partials are summed through
// distributed shared memory in rank order (deterministic).
#include <cooperative_groups.h>

#include <algorithm>
#include <cstdlib>

#include "gemm/tca_device.cuh"
#include "gemm/zipgemm.h"
#include "gemm/zipgemm_stream.h"

#define ZS_TRY_GEMM(expr)             \
  do {                                \
    cudaError_t e_ = (expr);          \
    if (e_ != cudaSuccess) return e_; \
  } while (0)

namespace cg = cooperative_groups;

namespace zipserv::gemm {
namespace {

using namespace dev;

constexpr int kRankBytes = 256;     // per stage: exclusive outlier rank of each half small tile, [128] u16
constexpr int kBandRows = 64;
constexpr int kXStride = 144;       // bytes per token row of a stage's activation tile (128 + 16: conflict-free ldmatrix)
constexpr int kDenseStride = 144;   // bytes per weight row of a dense stage
constexpr int kPartStride = 68;     // floats per token row of the partial-sum tile (64 + 4 pad)
constexpr int kSegStage = 256;      // outlier-segment bytes staged per tile (the rest is read from global)
constexpr int kZipStageW = kTileBitmapBytes + kTileElems + kSegStage;  // 5888
constexpr int kDenseStageW = 64 * kDenseStride;                        // 9216
constexpr int kScratchBytes = 2048;  // per consumer warp: 16 small tiles x 128 B
constexpr int kMaxSplitK = 8;        // portable cluster size
constexpr int kMaxTilesPerCta = 1024;

struct SmemLayout {
  int tables, scratch, offs, meta, ranks, bars, ring, stageW, stageBytes, total;
};

__host__ __device__ inline int align_up(int v, int a) { return (v + a - 1) / a * a; }

// cw: consumer warps; pp: producer-side outlier ranks (zip only).
__host__ __device__ inline SmemLayout smem_layout(bool zip, int nt, int stages, int maxRange, int cw, bool pp) {
  SmemLayout L{};
  int o = 0;
  L.tables = o;
  o += zip ? int(sizeof(DecodeTables)) : 0;
  o = align_up(o, 128);
  L.scratch = o;
  o += zip ? cw * kScratchBytes : 0;
  L.offs = o;
  o += zip ? align_up((maxRange + 1) * 4, 16) : 0;
  L.meta = o;  // [stages] uint2: (segment offset, segment length) of the tile in the stage
  o += stages * 8;
  L.ranks = o;  // [stages][128] u16 (producer-side ranks only)
  o += zip && pp ? stages * kRankBytes : 0;
  L.bars = o;  // [stages] full, [stages] empty, [stages] ready
  o += stages * 24;
  o = align_up(o, 128);
  L.ring = o;
  L.stageW = zip ? kZipStageW : kDenseStageW;
  L.stageBytes = align_up(L.stageW + nt * kXStride, 128);
  // The epilogue reuses the ring for the fp32 partials: one [nt][68] tile per consumer warp class.
  const int ringBytes = stages * L.stageBytes, partBytes = (cw / 4) * nt * kPartStride * 4;
  o += ringBytes > partBytes ? ringBytes : partBytes;
  L.total = o;
  return L;
}

struct GemmParams {
  const uint64_t* bitmaps;
  const uint8_t* signMantissa;
  const uint8_t* outliers;
  const uint32_t* outlierOffsets;
  int expBase;
  const uint16_t* dense;
  int denseVec;  // K % 8 == 0 and 16-byte aligned: bulk copies of the rows
  int M, K, tileCols;
  const uint16_t* xb;  // [N, xPitch] bf16 (workspace, written by the pre-pass)
  int xPitch;          // tileCols * 64
  int N;
  float* y;
  int ldy, outOffset;
  const float* bias;
  int accumulate;
  int splitK, stages, nChunks, maxRange;
};

// ---- pre-pass: x [N, K] f32 -> xb [N, Kpad] bf16 (RNE, NaN stays NaN), zero columns K..Kpad-1 ----
__global__ void __launch_bounds__(256) x_to_bf16_kernel(const float* __restrict__ x, int N, int K, int Kpad,
                                                        uint16_t* __restrict__ xb, int vec) {
  griddep_launch_dependents();  // the GEMM may start its weight stream now; it waits for us before reading xb
  const int per = Kpad / 8;
  const long long total = (long long)N * per;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const int n = int(i / per), c = int(i % per) * 8;
    const float* src = x + size_t(n) * K + c;
    float v[8];
    if (vec && c + 8 <= K) {
      const float4 a = *reinterpret_cast<const float4*>(src), b = *reinterpret_cast<const float4*>(src + 4);
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
      for (int e = 0; e < 8; e++) v[e] = c + e < K ? src[e] : 0.f;
    }
    uint4 o;
    o.x = f32_to_bf16_bits(v[0]) | (f32_to_bf16_bits(v[1]) << 16);
    o.y = f32_to_bf16_bits(v[2]) | (f32_to_bf16_bits(v[3]) << 16);
    o.z = f32_to_bf16_bits(v[4]) | (f32_to_bf16_bits(v[5]) << 16);
    o.w = f32_to_bf16_bits(v[6]) | (f32_to_bf16_bits(v[7]) << 16);
    *reinterpret_cast<uint4*>(xb + size_t(n) * Kpad + c) = o;
  }
}

// One 8-element small-tile row: nibble tables (conflict-free: each plane's table is exactly 128 bytes)
// give (expBase + code) << 7 per 16-bit lane with one IADD3 per word; sign and mantissa are merged in
// with PRMT + LOP3. w1/w2/w3: the row's plane byte in bits 0..7 (higher bits ignored); s0/s1: its 8
// sign-mantissa bytes. Table offsets are nibble * 8 (the entry size).
__device__ __forceinline__ uint4 decode_row8(uint32_t tab, uint32_t w1, uint32_t w2, uint32_t w3, uint32_t s0,
                                             uint32_t s1) {
  const uint32_t l1 = (w1 << 3) & 0x78u, l2 = (w2 << 3) & 0x78u, l3 = (w3 << 3) & 0x78u;
  const uint32_t h1 = (w1 >> 1) & 0x78u, h2 = (w2 >> 1) & 0x78u, h3 = (w3 >> 1) & 0x78u;
  uint2 a0, b0, c0, a1, b1, c1;
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2];" : "=r"(a0.x), "=r"(a0.y) : "r"(tab + l1));
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2+128];" : "=r"(b0.x), "=r"(b0.y) : "r"(tab + l2));
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2+256];" : "=r"(c0.x), "=r"(c0.y) : "r"(tab + l3));
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2];" : "=r"(a1.x), "=r"(a1.y) : "r"(tab + h1));
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2+128];" : "=r"(b1.x), "=r"(b1.y) : "r"(tab + h2));
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2+256];" : "=r"(c1.x), "=r"(c1.y) : "r"(tab + h3));
  uint4 o;
  o.x = (__byte_perm(s0, 0, 0x1100) & 0x807F807Fu) | (a0.x + b0.x + c0.x);
  o.y = (__byte_perm(s0, 0, 0x3322) & 0x807F807Fu) | (a0.y + b0.y + c0.y);
  o.z = (__byte_perm(s1, 0, 0x1100) & 0x807F807Fu) | (a1.x + b1.x + c1.x);
  o.w = (__byte_perm(s1, 0, 0x3322) & 0x807F807Fu) | (a1.y + b1.y + c1.y);
  return o;
}

__device__ __forceinline__ void sts128(uint32_t addr, uint4 v) {
  asm volatile("st.shared.v4.u32 [%0], {%1,%2,%3,%4};" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}

// Outlier ranks of one landed stage, computed by the producer warp: lane l covers small tiles 2l and 2l+1
// and writes the exclusive rank of their four halves (rows 0-3 / 4-7) as u16 to ranks[4l .. 4l+3].
__device__ __forceinline__ void stage_outlier_ranks(const uint8_t* stage, uint32_t ranks, int lane) {
  const uint4* q = reinterpret_cast<const uint4*>(stage) + lane * 3;  // 48 bytes: small tiles 2l, 2l+1
  const uint4 a = q[0], b = q[1], c = q[2];
  // small tile 2l planes: (a.x,a.y) (a.z,a.w) (b.x,b.y); 2l+1: (b.z,b.w) (c.x,c.y) (c.z,c.w); .x/.z = rows 0-3
  const int h0 = __popc(a.x & a.z & b.x), h1 = __popc(a.y & a.w & b.y);
  const int h2 = __popc(b.z & c.x & c.z), h3 = __popc(b.w & c.y & c.w);
  const int sum = h0 + h1 + h2 + h3;
  const uint32_t e0 = uint32_t(warp_inclusive_sum(sum, lane) - sum), e1 = e0 + h0, e2 = e1 + h1, e3 = e2 + h2;
  asm volatile("st.shared.v2.u32 [%0], {%1,%2};" ::"r"(ranks + lane * 8), "r"(e0 | (e1 << 16)), "r"(e2 | (e3 << 16))
               : "memory");
}

// kCW: consumer warps (4: one per 16-row band; 8: two per band on alternate K tiles).
// kPP: outlier ranks computed by the producer (zip only; the dense twin has no outliers).
template <bool kZip, int NT, int kCW, bool kPP>
__global__ void __launch_bounds__(32 * (kCW + 1), kCW == 4 ? (NT <= 16 ? 4 : 3) : (NT <= 16 ? 4 : 2))
    gemm_kernel(const GemmParams p) {
  static_assert(kCW == 4 || kCW == 8, "4 or 8 consumer warps");
  static_assert(kZip || !kPP, "producer-side ranks are for compressed weights");
  extern __shared__ __align__(1024) uint8_t smem[];
  constexpr int kThreads = 32 * (kCW + 1);  // + 1 producer warp
  constexpr int kClasses = kCW / 4;         // K tiles in flight per band (consumer warps per band)
  constexpr int NF = NT / 8;                // n8 fragments
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int S = p.splitK, P = p.stages;
  const int split = int(blockIdx.x % unsigned(S));  // == cluster rank (1-D clusters of S CTAs)
  const int bc = int(blockIdx.x / unsigned(S));
  const int chunk = bc % p.nChunks, band = bc / p.nChunks;
  const int kt = p.tileCols;
  const int k0 = int((long long)split * kt / S), k1 = int((long long)(split + 1) * kt / S);
  const int nk = k1 - k0;
  const int n0 = chunk * NT;
  const size_t gtBase = size_t(band) * kt + k0;  // first global tile of this CTA
  const int nRows = min(NT, p.N - n0);           // valid token rows of this CTA
  const SmemLayout L = smem_layout(kZip, NT, P, p.maxRange, kCW, kPP);
  const uint32_t sbase = smem_u32(smem);
  const uint32_t ring = sbase + L.ring;
  const uint32_t fullBar = sbase + L.bars, emptyBar = fullBar + 8 * P, readyBar = emptyBar + 8 * P;
  const uint32_t ranks = sbase + L.ranks;
  uint2* meta = reinterpret_cast<uint2*>(smem + L.meta);
  uint32_t* offs = reinterpret_cast<uint32_t*>(smem + L.offs);  // [nk + 1] outlier offsets of the range

  if (tid == 0) {
    for (int s = 0; s < P; s++) {
      mbar_init(fullBar + 8 * s, 32);   // every producer lane arrives
      mbar_init(emptyBar + 8 * s, 4);   // lane 0 of each of the tile's 4 consumer warps arrives
      mbar_init(readyBar + 8 * s, 32);  // every producer lane, after writing the stage's ranks
    }
    fence_mbar_init();
  }
  if constexpr (kZip) build_decode_tables(reinterpret_cast<DecodeTables*>(smem + L.tables), p.expBase, tid, kThreads);
  __syncthreads();

  float acc[NF][4];
#pragma unroll
  for (int f = 0; f < NF; f++) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;

  if (warp == kCW) {
    // ------------------------------- producer -------------------------------
    const uint64_t pol = l2_evict_first_policy();
    const int first = min(P, nk);
    auto issue_weights = [&](int j, int st) {
      const uint32_t sp = ring + st * L.stageBytes, fb = fullBar + 8 * st;
      if constexpr (kZip) {
        if (lane == 0) {
          const size_t gt = gtBase + j;
          mbar_expect_tx(fb, kTileBitmapBytes + kTileElems);
          bulk_g2s_hint(sp, reinterpret_cast<const uint8_t*>(p.bitmaps) + gt * kTileBitmapBytes, kTileBitmapBytes, fb, pol);
          bulk_g2s_hint(sp + kTileBitmapBytes, p.signMantissa + gt * kTileElems, kTileElems, fb, pol);
        }
      } else {
        const int gk = k0 + j;
        const int cols = min(64, p.K - gk * 64);  // valid columns of this tile
        for (int R = lane; R < 64; R += 32) {
          const int row = band * kBandRows + R;
          if (row >= p.M) continue;  // rows past M only feed discarded outputs
          const uint16_t* src = p.dense + size_t(row) * p.K + size_t(gk) * 64;
          const uint32_t dst = sp + R * kDenseStride;
          if (p.denseVec) {
            mbar_expect_tx(fb, cols * 2);
            bulk_g2s_hint(dst, src, cols * 2, fb, pol);
          } else {
            for (int c = 0; c < cols; c++) {
              const uint16_t v = src[c];
              asm volatile("st.shared.u16 [%0], %1;" ::"r"(dst + 2 * c), "h"(v) : "memory");
            }
          }
          // Columns past K must be finite zeros (x is zero there; stale Inf/NaN would poison the sum).
          for (int c = cols; c < 64; c++) asm volatile("st.shared.u16 [%0], %1;" ::"r"(dst + 2 * c), "h"((uint16_t)0) : "memory");
        }
      }
    };
    auto issue_rest = [&](int j, int st) {  // outlier segment + activation tile, then arrive
      const uint32_t sp = ring + st * L.stageBytes, fb = fullBar + 8 * st;
      if constexpr (kZip) {
        if (lane == 0) {
          const uint32_t o = offs[j], len = offs[j + 1] - o, seg = min(len, uint32_t(kSegStage));
          meta[st] = make_uint2(o, len);
          if (seg) {
            mbar_expect_tx(fb, seg);
            bulk_g2s(sp + kTileBitmapBytes + kTileElems, p.outliers + o, seg, fb);
          }
        }
      }
      const uint16_t* xsrc = p.xb + size_t(n0) * p.xPitch + size_t(k0 + j) * 64;
      for (int n = lane; n < nRows; n += 32) {
        mbar_expect_tx(fb, 128);
        bulk_g2s(sp + L.stageW + n * kXStride, xsrc + size_t(n) * p.xPitch, 128, fb);
      }
      __syncwarp();
      mbar_arrive(fb);
    };
    for (int j = 0; j < first; j++) issue_weights(j, j);
    if constexpr (kZip) {
      for (int i = lane; i <= nk; i += 32) offs[i] = __ldg(p.outlierOffsets + gtBase + i);
      __syncwarp();
    }
    griddep_wait();  // xb is written by the pre-pass
    for (int j = 0; j < first; j++) issue_rest(j, j);
    if constexpr (kPP) {
      // Ranks of tile j are published `kClasses` tiles ahead of the consumption of tile j - kClasses, so the
      // warps freed by a tile find their next tile ready; a stage is refilled only after its tile was
      // consumed. Needs P > kClasses (resolve() guarantees it): tile j + kClasses was issued by then.
      auto finalize = [&](int j) {
        const int st = j % P;
        mbar_wait(fullBar + 8 * st, uint32_t(j / P) & 1u);
        stage_outlier_ranks(smem + L.ring + st * L.stageBytes, ranks + st * kRankBytes, lane);
        mbar_arrive(readyBar + 8 * st);
      };
      for (int j = 0; j < min(kClasses, nk); j++) finalize(j);
      for (int j = 0, st = 0, ph = 0; j < nk; j++) {  // st = j % P, ph = parity of tile j's phase
        if (j + kClasses < nk) finalize(j + kClasses);
        if (j + P < nk) {
          mbar_wait(emptyBar + 8 * st, ph);
          issue_weights(j + P, st);
          issue_rest(j + P, st);
        }
        if (++st == P) st = 0, ph ^= 1;
      }
    } else {
      for (int j = first, st = 0, ph = 0; j < nk; j++) {  // st = j % P, ph = parity of the empty phase
        mbar_wait(emptyBar + 8 * st, ph);
        issue_weights(j, st);
        issue_rest(j, st);
        if (++st == P) st = 0, ph ^= 1;
      }
    }
  } else {
    // ------------------------------- consumers -------------------------------
    const int w = warp & 3;       // 16-row band of the tile
    const int cls = warp >> 2;    // K tiles j with j % kClasses == cls
    // ldmatrix lane addresses. A: matrix q = lane >> 3 of k16 step s is small tile 16w + 4s + q.
    const int q = lane >> 3, r8 = lane & 7;
    uint32_t aOff;   // relative to the scratch (zip) or the stage (dense)
    if constexpr (kZip) aOff = uint32_t(q * 128 + ((r8 ^ (q & 1)) * 16));
    else aOff = uint32_t((w * 16 + (q & 1) * 8 + r8) * kDenseStride + (q >> 1) * 16);
    // B (activations): NF == 1: matrices = (k lo, k hi) of steps s and s+1; else (n8 pair, k half) per step.
    const uint32_t bOff = NF == 1 ? uint32_t(r8 * kXStride + q * 16)
                                  : uint32_t(((q >> 1) * 8 + r8) * kXStride + (q & 1) * 16);
    // Decode mapping: lane = half h of small tile tl of this band (rows 4h..4h+3). Its 32 sign-mantissa
    // bytes are read as two 16-byte chunks, the first chosen by cA so that 8-lane phases hit distinct
    // banks; scratch rows are swizzled (row ^ (tl & 1)) so the 16-byte stores are conflict-free too.
    const int tl = lane >> 1, h = lane & 1, cA = (tl >> 1) & 1, t = w * 16 + tl;
    const uint32_t scratch = sbase + L.scratch + warp * kScratchBytes;
    const uint32_t rot = cA ? 0x1032u : 0x3210u;  // plane words rotated so that byte i is row-set i
    uint32_t stA[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int c = i < 2 ? cA : 1 - cA;
      const int r = 4 * h + 2 * c + (i & 1);
      stA[i] = scratch + tl * 128 + ((r ^ (tl & 1)) * 16);
    }
    const uint32_t tab = sbase + L.tables;

    const uint32_t patchLane = scratch + tl * 128 + h * 64;  // + 2 * (bit ^ ((tl & 1) << 3)): swizzled element
    const uint32_t patchFlip = uint32_t(tl & 1) << 3;
    // Stage-relative byte offsets of this lane's operands (kept in registers across tiles).
    const uint32_t bmOff = uint32_t(t * 24 + h * 4);                        // plane-1 word; planes 2, 3 at +8, +16
    const uint32_t smOffA = uint32_t(kTileBitmapBytes + t * 64 + h * 32 + cA * 16);
    const uint32_t smOffB = smOffA ^ 16u;
    const uint32_t rankOff = uint32_t(t * 4 + h * 2);
    // st = j % P, ph = parity of the full phase of tile j; each class steps kClasses tiles (<= P).
    for (int j = cls, st = cls, ph = 0; j < nk; j += kClasses) {
      const uint32_t sp = ring + st * L.stageBytes;
      mbar_wait(fullBar + 8 * st, ph);
      uint32_t aBase;
      if constexpr (kZip) {
        const uint8_t* spg = smem + L.ring + st * L.stageBytes;  // generic pointer to the stage
        const uint32_t* bm32 = reinterpret_cast<const uint32_t*>(spg);
        const uint32_t x1 = *reinterpret_cast<const uint32_t*>(spg + bmOff);
        const uint32_t x2 = *reinterpret_cast<const uint32_t*>(spg + bmOff + 8);
        const uint32_t x3 = *reinterpret_cast<const uint32_t*>(spg + bmOff + 16);
        const uint4 sA = *reinterpret_cast<const uint4*>(spg + smOffA);
        const uint4 sB = *reinterpret_cast<const uint4*>(spg + smOffB);
        uint32_t om = x1 & x2 & x3;
        uint32_t k;  // rank of this lane's first outlier in the tile's segment
        if constexpr (kPP) {
          mbar_wait(readyBar + 8 * st, ph);
          k = *reinterpret_cast<const uint16_t*>(smem + L.ranks + st * kRankBytes + rankOff);
        } else {
          // Outliers of earlier bands (warp-uniform loop + one REDUX) + a lane scan in the band.
          int before = 0;
#pragma unroll
          for (int b = 0; b < 3; b++)
            if (b < w) {
              const int u = (b * 16 + tl) * 6 + h;
              before += __popc(bm32[u] & bm32[u + 2] & bm32[u + 4]);
            }
          const int cnt = __popc(om);
          // The scan of warp_inclusive_sum, written out: through the helper ptxas drops one of the two copies
          // it emits here (converged / divergent) and v4's SASS changes; kept as measured.
          int incl = cnt;
#pragma unroll
          for (int d = 1; d < 32; d <<= 1) {
            const int v = __shfl_up_sync(0xffffffffu, incl, d);
            if (lane >= d) incl += v;
          }
          k = uint32_t(__reduce_add_sync(0xffffffffu, before) + incl - cnt);
        }
        // Decode the lane's 4 rows (row-set i = byte i of the rotated plane words).
        const uint32_t y1 = __byte_perm(x1, 0, rot), y2 = __byte_perm(x2, 0, rot), y3 = __byte_perm(x3, 0, rot);
        sts128(stA[0], decode_row8(tab, y1, y2, y3, sA.x, sA.y));
        sts128(stA[1], decode_row8(tab, y1 >> 8, y2 >> 8, y3 >> 8, sA.z, sA.w));
        sts128(stA[2], decode_row8(tab, y1 >> 16, y2 >> 16, y3 >> 16, sB.x, sB.y));
        sts128(stA[3], decode_row8(tab, y1 >> 24, y2 >> 24, y3 >> 24, sB.z, sB.w));
        // Patch this lane's outliers (its own rows: no cross-lane hazard): full 16-bit rewrite, since
        // code 7 at expBase 249 carried into the sign bit.
        if (om) {
          const uint2 mt = meta[st];  // (segment offset, length) in global memory
          const uint8_t* seg = spg + kTileBitmapBytes + kTileElems;
          const uint8_t* smRow = spg + kTileBitmapBytes + t * 64 + h * 32;
          auto patch = [&](int b, uint32_t e) {
            const uint32_t sb = smRow[b];
            const uint32_t v = ((sb & 0x80u) << 8) | (e << 7) | (sb & 0x7fu);
            asm volatile("st.shared.u16 [%0], %1;" ::"r"(patchLane + 2 * (uint32_t(b) ^ patchFlip)), "h"(uint16_t(v))
                         : "memory");
          };
          if (mt.y <= uint32_t(kSegStage)) {  // whole segment staged (the common case)
            do {
              const int b = __ffs(om) - 1;
              om &= om - 1;
              patch(b, seg[k++]);
            } while (om);
          } else {
            do {
              const int b = __ffs(om) - 1;
              om &= om - 1;
              patch(b, k < uint32_t(kSegStage) ? seg[k] : (k < mt.y ? __ldg(p.outliers + mt.x + k) : 0u));
              k++;
            } while (om);
          }
        }
        __syncwarp();
        aBase = scratch + aOff;
      } else {
        aBase = sp + aOff;
      }
      const uint32_t xBase = sp + L.stageW + bOff;
      auto a_frag = [&](int s, uint32_t& a0, uint32_t& a1, uint32_t& a2, uint32_t& a3) {
        ldmatrix_x4(a0, a1, a2, a3, aBase + (kZip ? s * 512 : s * 32));
      };
      if constexpr (NF == 1) {
#pragma unroll
        for (int s2 = 0; s2 < 2; s2++) {  // one B ldmatrix.x4 covers two k16 steps
          uint32_t a0, a1, a2, a3, b0, b1, b2, b3;
          ldmatrix_x4(b0, b1, b2, b3, xBase + s2 * 64);
          a_frag(2 * s2, a0, a1, a2, a3);
          mma_bf16(acc[0], a0, a1, a2, a3, b0, b1);
          a_frag(2 * s2 + 1, a0, a1, a2, a3);
          mma_bf16(acc[0], a0, a1, a2, a3, b2, b3);
        }
      } else {
#pragma unroll
        for (int s = 0; s < 4; s++) {
          uint32_t a0, a1, a2, a3;
          a_frag(s, a0, a1, a2, a3);
#pragma unroll
          for (int f2 = 0; f2 < NF / 2; f2++) {
            uint32_t b0, b1, b2, b3;
            ldmatrix_x4(b0, b1, b2, b3, xBase + f2 * 16 * kXStride + s * 32);
            mma_bf16(acc[2 * f2], a0, a1, a2, a3, b0, b1);
            mma_bf16(acc[2 * f2 + 1], a0, a1, a2, a3, b2, b3);
          }
        }
      }
      __syncwarp();  // every lane's reads of the stage and the scratch are done
      if (lane == 0) mbar_arrive(emptyBar + 8 * st);
      st += kClasses;
      if (st >= P) st -= P, ph ^= 1;
    }
  }

  // Epilogue: partials to shared memory (the ring is idle: every copy was consumed), one [NT][68] tile per
  // consumer class, then the cluster sums them in rank order, class 0 before class 1 (deterministic, and
  // the same for the dense twin).
  __syncthreads();
  float* part = reinterpret_cast<float*>(smem + L.ring);  // [kClasses][NT][68] f32
  if (warp < kCW) {
    float* mine = part + (warp >> 2) * NT * kPartStride;
#pragma unroll
    for (int f = 0; f < NF; f++) {
      const int m = (warp & 3) * 16 + (lane >> 2), n = f * 8 + (lane & 3) * 2;
      float* p0 = mine + n * kPartStride + m;
      float* p1 = mine + (n + 1) * kPartStride + m;
      p0[0] = acc[f][0];
      p1[0] = acc[f][1];
      p0[8] = acc[f][2];
      p1[8] = acc[f][3];
    }
  }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const int total = nRows * kBandRows;
  const int lo = split * total / S, hi = (split + 1) * total / S;
  for (int idx = lo + tid; idx < hi; idx += kThreads) {
    const int n = idx >> 6, m = idx & 63, gm = band * kBandRows + m;
    if (gm >= p.M) continue;
    float v = 0.f;
    for (int r = 0; r < S; r++) {
      const float* peer = cluster.map_shared_rank(part, r);
#pragma unroll
      for (int c = 0; c < kClasses; c++) v += peer[c * NT * kPartStride + n * kPartStride + m];
    }
    if (p.bias) v += p.bias[gm];
    float* out = p.y + size_t(n0 + n) * p.ldy + p.outOffset + gm;
    if (p.accumulate) v += *out;
    *out = v;
  }
  cluster.sync();  // peers keep their shared memory until every rank has read it
}

// Schedules (GemmTuning::variant): consumer warps per CTA and where the outlier ranks are computed.
struct Schedule {
  int consumerWarps;
  bool producerRanks;
};
bool schedule_of(int variant, Schedule* s) {
  switch (variant) {
    case 4: *s = {4, false}; return true;  // v4
    case 5: *s = {8, true}; return true;   // v5: two tiles in flight per band + producer-side ranks
    case 6: *s = {8, false}; return true;  // v5 ablation: 8 consumer warps only
    case 7: *s = {4, true}; return true;   // v5 ablation: producer-side ranks only
    default: return false;
  }
}

template <bool kZip, int NT, int kCW, bool kPP>
cudaError_t launch_nt(const GemmParams& p, cudaStream_t s) {
  const SmemLayout L = smem_layout(kZip, NT, p.stages, p.maxRange, kCW, kPP);
  auto kernel = gemm_kernel<kZip, NT, kCW, kPP>;
  ZS_TRY_GEMM(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L.total));
  const long long bands = (p.M + kBandRows - 1) / kBandRows;
  const long long blocks = bands * p.nChunks * p.splitK;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(blocks), 1, 1);
  cfg.blockDim = dim3(32 * (kCW + 1), 1, 1);
  cfg.dynamicSmemBytes = size_t(L.total);
  cfg.stream = s;
  cudaLaunchAttribute attr[2];
  cluster_pdl_attrs(attr, unsigned(p.splitK));
  cfg.attrs = attr;
  cfg.numAttrs = 2;
  ZS_TRY_GEMM(cudaLaunchKernelEx(&cfg, kernel, p));
  return cudaGetLastError();
}

// Resident CTAs per SM of one instantiation (occupancy API, cached per stage count; the outlier-offset
// area is sized for 128 tiles per CTA, which only matters for the split heuristic).
template <bool kZip, int NT, int kCW, bool kPP>
int resident_ctas(int stages) {
  static int cached[7] = {};
  if (cached[stages]) return cached[stages];
  const SmemLayout L = smem_layout(kZip, NT, stages, 128, kCW, kPP);
  auto kernel = gemm_kernel<kZip, NT, kCW, kPP>;
  int n = 0;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L.total) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, 32 * (kCW + 1), size_t(L.total)) != cudaSuccess || n < 1) {
    cudaGetLastError();  // clear a sticky-free error from the query; the launch reports real problems
    n = 4;
  }
  cached[stages] = n;
  return n;
}

// Of the compressed-weight kernel: the dense twin must pick the same split (same reduction order).
template <int NT>
int resident_nt(const Schedule& sc, int stages) {
  if (sc.consumerWarps == 8)
    return sc.producerRanks ? resident_ctas<true, NT, 8, true>(stages) : resident_ctas<true, NT, 8, false>(stages);
  return sc.producerRanks ? resident_ctas<true, NT, 4, true>(stages) : resident_ctas<true, NT, 4, false>(stages);
}

// A grid under 2 CTAs per SM even at the largest split (v5 measurements: such CTAs are consume-bound).
bool thin_grid(int M, long long chunks) { return (long long)((M + 63) / 64) * chunks * kMaxSplitK < 2LL * sm_count(); }

bool is_stream(const GemmTuning& t) { return t.variant == 8 || t.variant == 9; }
bool is_wide(const GemmTuning& t) { return t.variant == 10 || t.variant == 11; }

// Stream schedules: v8 caps registers for 3 resident CTAs per SM at nTile 8 (2 at 16), v9 for one more.
int stream_occupancy(const GemmTuning& t) { return (t.nTile == 8 ? 3 : 2) + (t.variant == 9 ? 1 : 0); }
// The stream schedule automatic tunings take: v9, or v8 when ZIPSERV_STREAM_VARIANT=8 (a measurement aid: candidate
// schedules are A/B-timed end to end through this switch on one build; dev/NOTES.md lists the ones tried).
int default_stream_variant() {
  static const int v = [] {
    const char* e = getenv("ZIPSERV_STREAM_VARIANT");
    return e && atoi(e) == 8 ? 8 : 9;
  }();
  return v;
}

// Fills the 0 fields of a tuning (identically for zipgemm and its dense twin, so both reduce in the same
// order). Returns false for an unknown variant.
bool resolve(int M, int K, int N, const GemmTuning& in, GemmTuning* out) {
  GemmTuning t = in;
  if (t.variant == 0 && t.nTile == 0) {
    // v9 measurements (bench/results/zipgemm-h100.json, dev/NOTES.md): the stream schedule beats v4 at N <= 16 on
    // every Llama shape since its split-K cost model (same-run N = 16: 6144x4096 26.7 vs 30.9 us, 28672x4096 92.3 vs
    // 100.7, 57344x8192 291.6 vs 324.9). (N <= 16 is one token chunk at nTile 8/16.)
    if (!thin_grid(M, 1) && N <= 16) t.variant = default_stream_variant();
    // v10 measurements (dev/NOTES.md): decoding once per CTA for up to 64 tokens beats v4 at N = 33-64 on all
    // eight shapes (and decompress + cuBLAS there), and at N = 17-32 except on tall matrices (M >= 4K).
    else if (N > 16 && N <= 64 && (N > 32 || (long long)M < 4LL * K)) t.variant = 10;
  }
  if (is_stream(t)) {  // stream schedule (zipgemm_stream.cu): no ring, no stages
    t.nTile = stream::token_tile(N, t.nTile);
    if (t.splitK == 0) t.splitK = stream::default_split(M, K, N, t.nTile, stream_occupancy(t));
    t.splitK = std::max(1, std::min(t.splitK, kMaxSplitK));
    t.stages = 0;
    *out = t;
    return true;
  }
  if (is_wide(t)) {  // wide schedule (zipgemm_wide.cu): one decode per CTA for up to 64 tokens
    t.nTile = wide::token_tile(N, t.nTile);
    if (t.splitK == 0) t.splitK = wide::default_split(M, K, N, t.nTile, t.variant);
    t.splitK = std::max(1, std::min({t.splitK, kMaxSplitK, (K + 63) / 64}));
    t.stages = 0;
    *out = t;
    return true;
  }
  if (t.nTile == 0) t.nTile = N <= 8 ? 8 : N <= 16 ? 16 : N <= 32 ? 32 : 64;
  const int kt = (K + 63) / 64, bands = (M + 63) / 64, chunks = (N + t.nTile - 1) / t.nTile;
  if (t.variant == 0) {
    // v5 measurements (dev/NOTES.md): with >= ~3 CTAs per SM every schedule lands within noise of v4, which
    // stays the default; when even the largest split leaves the grid under 2 CTAs per SM, the CTAs are
    // consume-bound and 8 consumer warps run them 1.2-1.6x faster (at 8 tokens per CTA; mixed at 16).
    t.variant = thin_grid(M, chunks) && t.nTile == 8 ? 6 : 4;
  }
  Schedule sc{};
  if (!schedule_of(t.variant, &sc)) return false;
  // v4 sweep: 3 stages beat 4 and 6 with one tile per band in flight; two tiles in flight want one more.
  if (t.stages == 0) t.stages = sc.consumerWarps == 8 ? 4 : 3;
  // Producer-side ranks publish tile j + classes before tile j is consumed: the ring must hold more.
  if (sc.producerRanks) t.stages = std::max(t.stages, sc.consumerWarps / 4 + 1);
  if (t.splitK == 0) {
    // v4 sweep (dev/NOTES.md): fastest at ~4.4 CTAs per SM in one wave with 5 resident (6144x4096: 576 CTAs,
    // 4096x4096 and 4096x14336: 512); tall matrices (one wave already at split 1) still gain from split 2
    // (shorter CTAs, smaller tail). Other schedules: at most one full wave of their own residency.
    const long long base = (long long)bands * chunks;
    long long target = (long long)sm_count() * 44 / 10;
    if (t.variant != 4 && t.stages >= 2 && t.stages <= 6) {
      int r = 4;
      switch (t.nTile) {
        case 8: r = resident_nt<8>(sc, t.stages); break;
        case 16: r = resident_nt<16>(sc, t.stages); break;
        case 32: r = resident_nt<32>(sc, t.stages); break;
        case 64: r = resident_nt<64>(sc, t.stages); break;
        default: break;
      }
      target = (long long)sm_count() * r;
    }
    t.splitK = int(std::max<long long>(2, std::min<long long>(kMaxSplitK, target / base)));
  }
  t.splitK = std::max(t.splitK, (kt + kMaxTilesPerCta - 1) / kMaxTilesPerCta);
  t.splitK = std::min(t.splitK, kt);
  *out = t;
  return true;
}

int kpad_of(int K) { return (K + 63) / 64 * 64; }

uint16_t* workspace_xb(void* ws, size_t bytes, int N, int K) {
  const uintptr_t a = (reinterpret_cast<uintptr_t>(ws) + 127) & ~uintptr_t(127);
  const size_t need = size_t(N) * kpad_of(K) * 2;
  if (!ws || a - reinterpret_cast<uintptr_t>(ws) + need > bytes) return nullptr;
  return reinterpret_cast<uint16_t*>(a);
}

template <bool kZip, int NT>
cudaError_t launch_schedule(const GemmParams& p, const Schedule& sc, cudaStream_t s) {
  // The dense twin has no outliers: its 8-warp/4-warp kernels serve both rank placements (same mma order).
  if (sc.consumerWarps == 8)
    return sc.producerRanks && kZip ? launch_nt<kZip, NT, 8, kZip>(p, s) : launch_nt<kZip, NT, 8, false>(p, s);
  return sc.producerRanks && kZip ? launch_nt<kZip, NT, 4, kZip>(p, s) : launch_nt<kZip, NT, 4, false>(p, s);
}

template <bool kZip>
cudaError_t launch(GemmParams p, const float* x, void* ws, size_t wsBytes, const GemmTuning& tin, cudaStream_t s) {
  if (p.M < 1 || p.K < 1 || p.N < 1 || !x || !p.y) return cudaErrorInvalidValue;
  if (p.ldy < 1 || p.outOffset < 0 || (long long)p.outOffset + p.M > p.ldy) return cudaErrorInvalidValue;
  GemmTuning t{};
  if (!resolve(p.M, p.K, p.N, tin, &t)) return cudaErrorInvalidValue;
  Schedule sc{};
  schedule_of(t.variant, &sc);
  if (t.splitK < 1 || t.splitK > kMaxSplitK || t.stages < 2 || t.stages > 6) return cudaErrorInvalidValue;
  p.tileCols = (p.K + 63) / 64;
  if ((p.tileCols + t.splitK - 1) / t.splitK > kMaxTilesPerCta) return cudaErrorInvalidValue;
  uint16_t* xb = workspace_xb(ws, wsBytes, p.N, p.K);
  if (!xb) return cudaErrorInvalidValue;  // workspace missing or smaller than gemm_workspace_bytes()
  p.xb = xb;
  p.xPitch = kpad_of(p.K);
  p.splitK = t.splitK;
  p.stages = t.stages;
  p.nChunks = (p.N + t.nTile - 1) / t.nTile;
  p.maxRange = (p.tileCols + t.splitK - 1) / t.splitK;
  {
    const int vec = (p.K % 4 == 0) && (reinterpret_cast<uintptr_t>(x) % 16 == 0);
    const long long items = (long long)p.N * (p.xPitch / 8);
    const long long blocks = std::min<long long>((items + 255) / 256, 8LL * sm_count());
    x_to_bf16_kernel<<<unsigned(blocks), 256, 0, s>>>(x, p.N, p.K, p.xPitch, xb, vec);
    ZS_TRY_GEMM(cudaGetLastError());
  }
  switch (t.nTile) {
    case 8: return launch_schedule<kZip, 8>(p, sc, s);
    case 16: return launch_schedule<kZip, 16>(p, sc, s);
    case 32: return launch_schedule<kZip, 32>(p, sc, s);
    case 64: return launch_schedule<kZip, 64>(p, sc, s);
    default: return cudaErrorInvalidValue;
  }
}

GemmParams base_params(int N, float* y, int ldy, int outOffset, const float* bias, bool accumulate) {
  GemmParams p{};
  p.N = N;
  p.y = y;
  p.ldy = ldy;
  p.outOffset = outOffset;
  p.bias = bias;
  p.accumulate = accumulate ? 1 : 0;
  return p;
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace
}  // namespace zipserv::gemm

using namespace zipserv::gemm;

cudaError_t zipgemm_tuned(const TcaTbeDeviceMatrix& w, const float* x, int N, float* y, int ldy, int outOffset,
                          const float* bias, bool accumulate, void* workspace, size_t workspaceBytes,
                          const GemmTuning& t, cudaStream_t s) {
  if (w.expBase < 0 || w.expBase > 249 || !w.bitmaps || !w.signMantissa || !w.outlierOffsets) return cudaErrorInvalidValue;
  if (!aligned16(w.bitmaps) || !aligned16(w.signMantissa) || !aligned16(w.outliers)) return cudaErrorMisalignedAddress;
  GemmTuning rt{};
  if (!resolve(w.rows, w.cols, N, t, &rt)) return cudaErrorInvalidValue;
  if (is_stream(rt))
    return stream::launch(&w, nullptr, w.rows, w.cols, x, N, y, ldy, outOffset, bias, accumulate, rt.nTile, rt.splitK,
                          stream_occupancy(rt), s);
  if (is_wide(rt))
    return wide::launch(&w, nullptr, w.rows, w.cols, x, N, y, ldy, outOffset, bias, accumulate, rt.nTile, rt.splitK,
                        rt.variant, s);
  GemmParams p = base_params(N, y, ldy, outOffset, bias, accumulate);
  p.bitmaps = w.bitmaps;
  p.signMantissa = w.signMantissa;
  p.outliers = w.outliers;
  p.outlierOffsets = w.outlierOffsets;
  p.expBase = w.expBase;
  p.M = w.rows;
  p.K = w.cols;
  return launch<true>(p, x, workspace, workspaceBytes, t, s);
}

cudaError_t dense_gemm_tuned(const uint16_t* w, int M, int K, const float* x, int N, float* y, int ldy, int outOffset,
                             const float* bias, bool accumulate, void* workspace, size_t workspaceBytes,
                             const GemmTuning& t, cudaStream_t s) {
  if (!w) return cudaErrorInvalidValue;
  GemmTuning rt{};
  if (!resolve(M, K, N, t, &rt)) return cudaErrorInvalidValue;
  if (is_stream(rt))
    return stream::launch(nullptr, w, M, K, x, N, y, ldy, outOffset, bias, accumulate, rt.nTile, rt.splitK,
                          stream_occupancy(rt), s);
  if (is_wide(rt))
    return wide::launch(nullptr, w, M, K, x, N, y, ldy, outOffset, bias, accumulate, rt.nTile, rt.splitK, rt.variant, s);
  GemmParams p = base_params(N, y, ldy, outOffset, bias, accumulate);
  p.dense = w;
  p.denseVec = (K % 8 == 0) && aligned16(w);
  p.M = M;
  p.K = K;
  return launch<false>(p, x, workspace, workspaceBytes, t, s);
}

cudaError_t zipgemm(const TcaTbeDeviceMatrix& w, const float* x, int N, float* y, int ldy, int outOffset,
                    const float* bias, bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s) {
  return zipgemm_tuned(w, x, N, y, ldy, outOffset, bias, accumulate, workspace, workspaceBytes, GemmTuning{}, s);
}

cudaError_t dense_gemm(const uint16_t* w, int M, int K, const float* x, int N, float* y, int ldy, int outOffset,
                       const float* bias, bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s) {
  return dense_gemm_tuned(w, M, K, x, N, y, ldy, outOffset, bias, accumulate, workspace, workspaceBytes, GemmTuning{}, s);
}

size_t gemm_workspace_bytes(int M, int K, int N) {
  (void)M;
  if (K < 1 || N < 1) return 0;
  return size_t(N) * kpad_of(K) * 2 + 128;  // bf16 activations + alignment slack
}

GemmTuning gemm_default_tuning(int M, int K, int N) { return gemm_default_tuning(M, K, N, 0); }

GemmTuning gemm_default_tuning(int M, int K, int N, int variant) {
  GemmTuning in{}, t{};
  in.variant = variant;
  if (!resolve(M, K, N, in, &t)) resolve(M, K, N, GemmTuning{}, &t);
  return t;
}

// Measured on H100 (dev/NOTES.md, v10): the fused kernel beats decompress + cuBLAS at every N <= 64 on all
// eight Llama shapes (e.g. 6144x4096 N=64: 49.5 vs 57.3 us; 8192x28672: 337 vs 481 us); beyond that it
// re-decodes the weights per 64-token chunk and one decompression pass + cuBLAS wins (4096x4096 N=128: 60.3 vs
// 42.2 us).
GemmPath choose_gemm_path(int M, int K, int N) {
  (void)M;
  (void)K;
  return N <= 64 ? GemmPath::Zipgemm : GemmPath::DecompressVendor;
}
