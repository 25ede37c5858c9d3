// ZipGEMM v10, the "wide" schedule: for 17-64 tokens per call (token tiles of 16, 32 or 64). The stream
// schedule (zipgemm_stream.cu) gives each warp whole 64x64 tiles; its accumulators (64 rows x tokens) and
// activation registers grow with N, so beyond 8-16 tokens it re-decodes the weights per token chunk, and v4
// re-decodes per 64 tokens through a TMA ring with ~10 us of fixed cost. v10 decodes each weight once per CTA
// and reuses it for up to 64 tokens:
//
// - CTA = 4 warps on one 64-row band over a contiguous K range; split-K CTAs form a cluster and reduce
//   through DSMEM in rank order (deterministic; the dense twin runs the same schedule, so zipgemm == dense
//   bit for bit).
// - Per K tile, warp w decodes band w (rows 16w..16w+15) with the stream schedule's register decode
//   (stream_common.cuh) into a shared 8 KB tile, while all 128 threads round the tile's activations to bf16
//   into a swizzled [tokens][64] buffer; both are double-buffered, one __syncthreads per tile.
// - Then each warp multiplies a 32-row x tokens/2 block of the tile (ldmatrix + mma.m16n8k16): per tile and
//   CTA, 8 KB of decoded weights and tokens x 128 B of activations are read from shared memory, ~5 KB of
//   compressed weights from DRAM.
// - Weights: each warp keeps two tiles of its band in registers (a ring of two, filled two tiles ahead).
// - Outlier ranks: a band's rank offset in the tile's segment is the outlier count of the bands above it;
//   each warp publishes its band's count one tile ahead of its decode, through the same barrier.
#include <cooperative_groups.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "gemm/stream_common.cuh"
#include "gemm/tca_device.cuh"
#include "gemm/zipgemm_stream.h"

namespace zipserv::gemm::wide {
namespace {

using namespace dev;
using namespace stream;
namespace cg = cooperative_groups;

constexpr int kTileBytes = 4 * kScratch;  // one decoded 64x64 tile: 4 bands of 2 KB

// Per-thread state of the kernel, held in registers: every member function is inlined and indexes the ring
// with compile-time slots (the main loop is unrolled by two). The ring holds two tiles: a third ran no faster
// on any Llama shape at N 16-64 (dev/NOTES.md), so the weights in flight are not what limits the schedule.
template <bool kZip, int NT>
struct WideCta {
  static constexpr int NB = NT / 16;     // n8 token tiles per warp (a warp covers NT/2 tokens)
  static constexpr int XR = NT / 16;     // activation rows (16 B of bf16 each) a thread stages per tile
  static constexpr int kStage = kTileBytes + NT * 128;

  const Params& p;
  int lane, warp, tid, k0, k1, n0;
  size_t rowTile;
  uint32_t smemBase;   // stage s: tile at smemBase + s * kStage, activations after it
  uint32_t* cnt;       // [2][4] outlier counts per band, by tile parity
  TilePtrs<kZip> ptr;  // the next tile to fetch
  BandRegs<kZip> ring[2];  // tile k0 + i in slot i % 2
  SegRegs seg[2];
  int offBase;
  uint32_t offReg;
  float4 xr[XR][2];    // activations of the next tile: rows tid/8 + 16i, columns 8 (tid & 7) .. + 7
  float acc[2][NB][4];

  __device__ __forceinline__ WideCta(const Params& p_, uint8_t* smem, uint32_t* cnt_, int band, int chunk, int split)
      : p(p_), cnt(cnt_) {
    tid = threadIdx.x;
    lane = tid & 31;
    warp = tid >> 5;
    const int S = p.splitK, kt = p.tileCols;
    k0 = int((long long)split * kt / S);
    k1 = int((long long)(split + 1) * kt / S);
    n0 = chunk * NT;
    rowTile = size_t(band) * kt;
    smemBase = smem_u32(smem);
    ptr.init(p, rowTile + k0, band, k0, lane);
    offBase = k0;
    offReg = 0;
    if (kZip && k0 < k1) offReg = k0 + lane <= k1 ? __ldg(p.offsets + rowTile + k0 + lane) : 0u;
#pragma unroll
    for (int b = 0; b < 2; b++)
#pragma unroll
      for (int f = 0; f < NB; f++) acc[b][f][0] = acc[b][f][1] = acc[b][f][2] = acc[b][f][3] = 0.f;
  }

  // Band `warp` of tile gk (the next in order) into a ring slot, with the tile's outlier segment.
  __device__ __forceinline__ void fetch(BandRegs<kZip>& r, SegRegs& g, int gk) {
    if constexpr (kZip) {
      if (gk + 1 - offBase > 31) {  // warp-uniform: the next 32 tiles' offsets, one per lane
        offBase = gk;
        offReg = gk + lane <= k1 ? __ldg(p.offsets + rowTile + gk + lane) : 0u;
      }
      const uint32_t off = __shfl_sync(0xffffffffu, offReg, gk - offBase);
      const uint32_t len = __shfl_sync(0xffffffffu, offReg, gk + 1 - offBase) - off;
      load_segment(g, p, off, len, lane);
    }
    load_band(r, p, ptr, warp);
    ptr.next();
  }

  // This band's outlier count, published for the tile at parity `par` (read after the next barrier).
  __device__ __forceinline__ void publish_count(const BandRegs<kZip>& r, int par) {
    if constexpr (kZip) {
      const uint32_t c = __reduce_add_sync(0xffffffffu, __popc(r.pl[0] & r.pl[1] & r.pl[2]));
      if (lane == 0) cnt[par * 4 + warp] = c;
    }
  }

  // Activations of tile gk, f32, into registers (zeros outside N x K).
  __device__ __forceinline__ void load_x(int gk) {
    const int c = tid & 7, r0 = tid >> 3, kc = gk * 64 + c * 8;
    const bool full = p.xVec16 && kc + 8 <= p.K;
#pragma unroll
    for (int i = 0; i < XR; i++) {
      const int n = n0 + r0 + 16 * i;
      const float* src = p.x + size_t(n) * p.K + kc;
      if (n < p.N && full) {
        xr[i][0] = __ldg(reinterpret_cast<const float4*>(src));
        xr[i][1] = __ldg(reinterpret_cast<const float4*>(src) + 1);
      } else {
        float v[8];
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] = n < p.N && kc + e < p.K ? __ldg(src + e) : 0.f;
        xr[i][0] = make_float4(v[0], v[1], v[2], v[3]);
        xr[i][1] = make_float4(v[4], v[5], v[6], v[7]);
      }
    }
  }
  // ... rounded to bf16 into stage st: row n (token) = 128 B, 16-byte chunk c at c ^ (n & 7).
  __device__ __forceinline__ void store_x(int st) {
    const int c = tid & 7, r0 = tid >> 3;
    const uint32_t base = smemBase + uint32_t(st) * kStage + kTileBytes;
#pragma unroll
    for (int i = 0; i < XR; i++) {
      const int n = r0 + 16 * i;
      const uint4 v = make_uint4(pack_bf16x2(xr[i][0].x, xr[i][0].y), pack_bf16x2(xr[i][0].z, xr[i][0].w),
                                 pack_bf16x2(xr[i][1].x, xr[i][1].y), pack_bf16x2(xr[i][1].z, xr[i][1].w));
      sts128(base + uint32_t(n) * 128 + (uint32_t(c ^ (n & 7)) << 4), v);
    }
  }

  // Band `warp` of the tile in ring slot r into stage st, outliers patched (counts of parity `par`).
  __device__ __forceinline__ void decode(const BandRegs<kZip>& r, const SegRegs& g, int st, int par) {
    const int t = lane >> 1, h = lane & 1;
    const uint32_t rowBase = smemBase + uint32_t(st) * kStage + uint32_t(warp) * kScratch + uint32_t(t) * 128;
    if constexpr (kZip) {
      uint32_t om;
      decode_band(r, p, rowBase, lane, om);
      // Rank of this lane's first outlier in the tile's segment: bands above, then lanes before it.
      uint32_t above = 0;
#pragma unroll
      for (int b = 0; b < 3; b++) above += b < warp ? cnt[par * 4 + b] : 0u;
      const uint32_t c = __popc(om);
      const uint32_t incl = warp_inclusive_sum(c, lane);
      const uint32_t total = __shfl_sync(0xffffffffu, incl, 31);
      patch_band(om, g, p, above + incl - c, above + total <= uint32_t(kSegReg), rowBase, lane);
    } else {
#pragma unroll
      for (int q = 0; q < 4; q++) sts128(rowBase + ((uint32_t((4 * h + q) ^ (t & 3))) << 4), r.rows[q]);
    }
  }

  // The warp's 32 rows x NT/2 tokens of the tile in stage st.
  __device__ __forceinline__ void multiply(int st) {
    const uint32_t wb = smemBase + uint32_t(st) * kStage, xb = wb + kTileBytes;
    const int wr = warp & 1, wn = warp >> 1;
    // A: ldmatrix.x4 lanes 8i..8i+7 address rows of small tile 4s+i (chunk = row ^ i), as in the stream kernel.
    const uint32_t aLane = wb + uint32_t(2 * wr) * kScratch + uint32_t(lane >> 3) * 128 +
                           ((uint32_t((lane & 7) ^ (lane >> 3))) << 4);
    // B: lane l addresses token row nb + 8((l >> 4) & 1) + (l & 7), chunk 2s + ((l >> 3) & 1), swizzled by row.
    const int bRow = wn * (NT / 2) + 8 * ((lane >> 4) & 1) + (lane & 7);
    const uint32_t bLane = xb + uint32_t(bRow) * 128;
#pragma unroll
    for (int s = 0; s < 4; s++) {
      uint32_t a[2][4];
#pragma unroll
      for (int b = 0; b < 2; b++)
        ldmatrix_x4(a[b][0], a[b][1], a[b][2], a[b][3], aLane + uint32_t(b) * kScratch + uint32_t(s) * 512);
      const uint32_t chunk = uint32_t(((2 * s + ((lane >> 3) & 1)) ^ (lane & 7)) << 4);
      uint32_t bf[NB][2];
      if constexpr (NB == 1) {
        ldmatrix_x2(bf[0][0], bf[0][1], bLane + chunk);
      } else {
#pragma unroll
        for (int f = 0; f < NB; f += 2)
          ldmatrix_x4(bf[f][0], bf[f][1], bf[f + 1][0], bf[f + 1][1], bLane + uint32_t(f) * 1024 + chunk);
      }
#pragma unroll
      for (int b = 0; b < 2; b++)
#pragma unroll
        for (int f = 0; f < NB; f++) mma_bf16(acc[b][f], a[b][0], a[b][1], a[b][2], a[b][3], bf[f][0], bf[f][1]);
    }
  }

  // Step j of the main loop (tile k0 + j in stage j & 1). D: ring slot and stage of tile j + 1; tile j + 2 is
  // in slot D ^ 1.
  template <int D>
  __device__ __forceinline__ void step(int j) {
    const int T = k1 - k0, st = (j + 1) & 1;
    if (j + 1 < T) {
      decode(ring[D], seg[D], st, st);
      store_x(st);
      if (j + 3 < T) fetch(ring[D], seg[D], k0 + j + 3);
      if (j + 2 < T) load_x(k0 + j + 2);
    }
    multiply(st ^ 1);
    // Tile j + 2 (decoded in the next step): counting its plane words after the multiply gives their loads
    // that much longer to land.
    if (j + 2 < T) publish_count(ring[D ^ 1], st ^ 1);
    __syncthreads();
  }

  __device__ __forceinline__ void run() {
    const int T = k1 - k0;
    if (T > 0) fetch(ring[0], seg[0], k0);
    if (T > 1) fetch(ring[1], seg[1], k0 + 1);
    // Programmatic dependent launch: weights stream before the grid dependency resolves; activations after.
    griddep_launch_dependents();
    griddep_wait();
    if (T > 0) {
      load_x(k0);
      publish_count(ring[0], 0);
      if (T > 1) publish_count(ring[1], 1);
    }
    __syncthreads();
    if (T > 0) {
      decode(ring[0], seg[0], 0, 0);
      store_x(0);
      if (T > 2) fetch(ring[0], seg[0], k0 + 2);
      if (T > 1) load_x(k0 + 1);
    }
    __syncthreads();
    for (int j = 0; j < T; j += 2) {
      step<1>(j);
      if (j + 1 < T) step<0>(j + 1);
    }
  }
};

template <bool kZip, int NT, int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks) wide_kernel(const __grid_constant__ Params p) {
  using Cta = WideCta<kZip, NT>;
  constexpr int kStage = Cta::kStage;
  constexpr int kPartBytes = NT * kPartStride * 4;
  constexpr int kSmem = 2 * kStage > kPartBytes ? 2 * kStage : kPartBytes;
  __shared__ __align__(128) uint8_t smem[kSmem];
  __shared__ uint32_t cnt[8];
  const int S = p.splitK;
  const int split = int(blockIdx.x % unsigned(S));  // == rank in the 1-D cluster
  const int bc = int(blockIdx.x / unsigned(S));
  const int chunk = bc % p.nChunks, band = bc / p.nChunks;

  Cta cta(p, smem, cnt, band, chunk, split);
  cta.run();

  // Epilogue: the CTA's partial tile [n][m] in shared memory (the stages are free: run() ends on a barrier),
  // then the cluster sums it in rank order.
  float* part = reinterpret_cast<float*>(smem);
  const int lane = cta.lane, wr = cta.warp & 1, wn = cta.warp >> 1;
#pragma unroll
  for (int b = 0; b < 2; b++)
#pragma unroll
    for (int f = 0; f < Cta::NB; f++) {
      const int m = wr * 32 + b * 16 + (lane >> 2), n = wn * (NT / 2) + f * 8 + (lane & 3) * 2;
      part[n * kPartStride + m] = cta.acc[b][f][0];
      part[(n + 1) * kPartStride + m] = cta.acc[b][f][1];
      part[n * kPartStride + m + 8] = cta.acc[b][f][2];
      part[(n + 1) * kPartStride + m + 8] = cta.acc[b][f][3];
    }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const int n0 = chunk * NT;
  const int nRows = min(NT, p.N - n0);
  const int total = nRows * 64;
  const int lo = split * total / S, hi = (split + 1) * total / S;
  for (int idx = lo + int(threadIdx.x); idx < hi; idx += kThreads) {
    const int n = idx >> 6, m = idx & 63, gm = band * 64 + m;
    if (gm >= p.M) continue;
    float v = 0.f;
    for (int r = 0; r < S; r++) v += cluster.map_shared_rank(part, r)[n * kPartStride + m];
    if (p.bias) v += p.bias[gm];
    float* out = p.y + size_t(n0 + n) * p.ldy + p.outOffset + gm;
    if (p.accumulate) v += *out;
    *out = v;
  }
  // Peers keep their shared memory until every rank has read it (no data is published here: relaxed arrive).
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\n\tbarrier.cluster.wait.aligned;\n" ::: "memory");
}

// Schedule variants (V = GemmTuning::variant - 10): resident CTAs per SM the registers are capped for (64 tokens
// need ~40 more registers than 16-32: accumulators and staged activations). V = 0 (v10): 4 CTAs per SM at
// nTile 16/32, 3 at 64; V = 1 (v11): one more.
template <int NT, int V>
constexpr int occupancy() {
  return (NT == 64 ? 3 : 4) + (V == 1 ? 1 : 0);
}
template <bool kZip, int NT, int V>
constexpr auto kernel_of() {
  return wide_kernel<kZip, NT, occupancy<NT, V>()>;
}

template <bool kZip, int NT, int V>
cudaError_t launch_kernel(const Params& p, cudaStream_t s) {
  return launch_clustered(kernel_of<kZip, NT, V>(), p, s);
}

// Co-resident clusters of `split` CTAs (the zip kernel's; the dense twin follows the zip schedule).
template <int NT, int V>
int max_clusters(int split) {
  static int cached[kMaxSplit + 1] = {};
  if (!cached[split]) cached[split] = active_clusters(kernel_of<true, NT, V>(), split, occupancy<NT, V>());
  return cached[split];
}

template <int V>
int clusters_fit(int nt, int split) {
  return nt == 16 ? max_clusters<16, V>(split) : nt == 32 ? max_clusters<32, V>(split) : max_clusters<64, V>(split);
}

template <bool kZip, int V>
cudaError_t launch_nt(const Params& p, int nt, cudaStream_t s) {
  return nt == 16   ? launch_kernel<kZip, 16, V>(p, s)
         : nt == 32 ? launch_kernel<kZip, 32, V>(p, s)
                    : launch_kernel<kZip, 64, V>(p, s);
}

template <bool kZip>
cudaError_t launch_variant(const Params& p, int nt, int variant, cudaStream_t s) {
  return variant == 11 ? launch_nt<kZip, 1>(p, nt, s) : launch_nt<kZip, 0>(p, nt, s);
}

}  // namespace

int token_tile(int N, int requested) {
  if (requested == 16 || requested == 32 || requested == 64) return requested;
  if (requested > 0) return requested < 16 ? 16 : 64;
  return N <= 16 ? 16 : N <= 32 ? 32 : 64;
}

int default_split(int M, int K, int N, int nTile, int variant) {
  const int nt = token_tile(N, nTile);
  const long long bands = (M + 63) / 64, kt = (K + 63) / 64, chunks = (N + nt - 1) / nt;
  const long long clusters = bands * chunks;
  // As the stream schedule: time ~ waves x (K tiles per CTA + fixed cost per CTA), the fixed cost being the
  // two-tile prologue and the cluster epilogue. Keep >= 4 K tiles per CTA (the ring is two tiles deep).
  const int maxSplit = int(std::max<long long>(1, std::min<long long>(kMaxSplit, kt / 4)));
  return cheapest_split(clusters, kt, 1, 2.0, maxSplit,
                        [&](int sp) { return variant == 11 ? clusters_fit<1>(nt, sp) : clusters_fit<0>(nt, sp); });
}

cudaError_t launch(const TcaTbeDeviceMatrix* w, const uint16_t* dense, int M, int K, const float* x, int N, float* y,
                   int ldy, int outOffset, const float* bias, bool accumulate, int nTile, int splitK, int variant,
                   cudaStream_t s) {
  if (const cudaError_t e = check_launch(w, dense, M, K, x, N, y, ldy, outOffset, splitK); e != cudaSuccess) return e;
  const int nt = token_tile(N, nTile);
  const Params p = make_params(w, dense, M, K, x, N, y, ldy, outOffset, bias, accumulate, splitK, nt);
  return w ? launch_variant<true>(p, nt, variant, s) : launch_variant<false>(p, nt, variant, s);
}

}  // namespace zipserv::gemm::wide
