// ZipGEMM v8, the "stream" schedule: for small token counts the GEMM is a stream of weight bytes, so every
// cycle spent outside "load, decode, multiply" is lost bandwidth. v4 moved tiles through a TMA ring with
// mbarriers, a producer warp, an activation pre-pass kernel and 6 table lookups per 8 weights; its warps were
// latency- and shared-memory-bound and each call paid ~10 us of fixed cost (dev/NOTES.md). v8 has none of it:
//
// - One kernel per call, no workspace: activations are read as f32 and rounded to bf16 in registers
//   (cvt.rn.bf16x2), once per warp and K tile, shared by the tile's 64 rows.
// - Warp = whole 64x64 tiles of one 64-row band over a contiguous K range; CTA = 4 warps of the same band
//   (4 consecutive K ranges); split-K CTAs form a cluster and reduce through DSMEM in a fixed order
//   (deterministic, and the same for the dense twin, so zipgemm == dense bit for bit).
// - Weights go global -> registers with 16-byte streaming loads, one tile ahead (double-buffered register
//   sets), so each warp keeps ~11 KB in flight without any barrier.
// - Decode in registers, no tables: lane = half of one 8x8 small tile (32 consecutive elements, the SPEC's
//   natural order): its three 32-bit plane words become 3-bit codes in nibbles with shifts and LOP3
//   (5 instructions per 8 codes), PRMT looks up 4 exponents at a time in an 8-byte register table
//   (expBase..expBase+6, and 0 for the outlier code), and PRMT + SHF + LOP3 merge exponent, sign and mantissa:
//   ~3 instructions per weight in all.
// - The decoded rows go to a 2 KB per-warp scratch (XOR-swizzled 16-byte chunks: conflict-free STS.128 and
//   ldmatrix), outliers (exponent 0 after the table) are patched there by their own lane from the tile's
//   outlier segment (its first 128 bytes live in one register per lane), then ldmatrix + mma.m16n8k16.
#include <cooperative_groups.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "gemm/stream_common.cuh"
#include "gemm/tca_device.cuh"
#include "gemm/zipgemm_stream.h"

namespace zipserv::gemm::stream {
namespace {

using namespace dev;
namespace cg = cooperative_groups;

// Activations of K tile gk for this lane's B fragments: token n0 + 8f + lane/4; per k16 slice s the columns
// k, k+1, k+8, k+9 with k = 64gk + 16s + 2(lane&3).
template <int NF>
__device__ __forceinline__ void load_x(float (&xr)[NF][4][4], const Params& p, int gk, int n0, int lane) {
  const int kl = (lane & 3) * 2;
  const bool full = p.xVec && gk * 64 + 64 <= p.K;  // warp-uniform: every column of the tile exists
#pragma unroll
  for (int f = 0; f < NF; f++) {
    const int n = n0 + f * 8 + (lane >> 2);
    const float* src = p.x + size_t(n) * p.K + gk * 64 + kl;
    if (n < p.N && full) {
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const float2 a = __ldg(reinterpret_cast<const float2*>(src + s * 16));
        const float2 b = __ldg(reinterpret_cast<const float2*>(src + s * 16 + 8));
        xr[f][s][0] = a.x, xr[f][s][1] = a.y, xr[f][s][2] = b.x, xr[f][s][3] = b.y;
      }
    } else {
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const int k = gk * 64 + s * 16 + kl;
        const bool ok = n < p.N;
        xr[f][s][0] = ok && k < p.K ? __ldg(src + s * 16) : 0.f;
        xr[f][s][1] = ok && k + 1 < p.K ? __ldg(src + s * 16 + 1) : 0.f;
        xr[f][s][2] = ok && k + 8 < p.K ? __ldg(src + s * 16 + 8) : 0.f;
        xr[f][s][3] = ok && k + 9 < p.K ? __ldg(src + s * 16 + 9) : 0.f;
      }
    }
  }
}

template <int NF>
__device__ __forceinline__ void convert_x(uint32_t (&bf)[4][NF][2], const float (&xr)[NF][4][4]) {
#pragma unroll
  for (int f = 0; f < NF; f++)
#pragma unroll
    for (int s = 0; s < 4; s++) {
      bf[s][f][0] = pack_bf16x2(xr[f][s][0], xr[f][s][1]);
      bf[s][f][1] = pack_bf16x2(xr[f][s][2], xr[f][s][3]);
    }
}

template <bool kZip, int NF, int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks) stream_kernel(const Params p) {
  constexpr int NT = NF * 8;
  __shared__ __align__(128) uint8_t scratchAll[kWarps * kScratch];
  __shared__ __align__(16) float part[kWarps * NT * kPartStride];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int S = p.splitK;
  const int split = int(blockIdx.x % unsigned(S));  // == rank in the 1-D cluster
  const int bc = int(blockIdx.x / unsigned(S));
  const int chunk = bc % p.nChunks, band = bc / p.nChunks;
  const int n0 = chunk * NT, kt = p.tileCols;
  const int C = S * kWarps, c = split * kWarps + warp;
  const int k0 = int((long long)c * kt / C), k1 = int((long long)(c + 1) * kt / C);
  const size_t rowTile = size_t(band) * kt;

  const uint32_t scratch = smem_u32(scratchAll + warp * kScratch);
  // ldmatrix.x4: lanes 8i..8i+7 address rows of small tile 4s+i; chunk = row ^ (tile & 3) = row ^ i.
  const uint32_t aLane = uint32_t(lane >> 3) * 128 + ((uint32_t((lane & 7) ^ (lane >> 3))) << 4);

  float acc[4][NF][4];
#pragma unroll
  for (int mt = 0; mt < 4; mt++)
#pragma unroll
    for (int f = 0; f < NF; f++) acc[mt][f][0] = acc[mt][f][1] = acc[mt][f][2] = acc[mt][f][3] = 0.f;

  // Outlier offsets of 32 tiles at a time, one per lane (tile k0 + i at lane i - offBase).
  int offBase = k0;
  uint32_t offReg = 0;
  if (kZip && k0 < k1) offReg = k0 + lane <= k1 ? __ldg(p.offsets + rowTile + k0 + lane) : 0u;
  auto segment = [&](int gk, uint32_t& off, uint32_t& len) {
    if constexpr (kZip) {
      if (gk + 1 - offBase > 31) {  // warp-uniform
        offBase = gk;
        offReg = gk + lane <= k1 ? __ldg(p.offsets + rowTile + gk + lane) : 0u;
      }
      off = __shfl_sync(0xffffffffu, offReg, gk - offBase);
      len = __shfl_sync(0xffffffffu, offReg, gk + 1 - offBase) - off;
    } else {
      off = len = 0;
    }
  };

  // Prologue: tile k0 into the ring, its activations converted.
  BandRegs<kZip> ring[4];
  SegRegs seg{}, segNext{};
  float xr[NF][4][4];
  uint32_t bf[4][NF][2];
  TilePtrs<kZip> ptr;
  ptr.init(p, rowTile + k0, band, k0, lane);
  if (k0 < k1) {
    uint32_t off, len;
    segment(k0, off, len);
    if constexpr (kZip) load_segment(seg, p, off, len, lane);
#pragma unroll
    for (int mt = 0; mt < 4; mt++) load_band(ring[mt], p, ptr, mt);
    ptr.next();
  }
  // Programmatic dependent launch: the weight stream above may start while the previous kernel on the stream
  // finishes; activations (and y, bias) are its outputs, so read them only after the grid dependency resolves.
  griddep_launch_dependents();
  griddep_wait();
  if (k0 < k1) {
    load_x<NF>(xr, p, k0, n0, lane);
  }
  const int t = lane >> 1, h = lane & 1;
  const uint32_t rowBase = scratch + uint32_t(t) * 128;
  for (int gk = k0; gk < k1; gk++) {
    convert_x<NF>(bf, xr);
    const bool more = gk + 1 < k1;
    if (more) {
      uint32_t off, len;
      segment(gk + 1, off, len);
      if constexpr (kZip) load_segment(segNext, p, off, len, lane);
      load_x<NF>(xr, p, gk + 1, n0, lane);
    }
    uint32_t k[4] = {0, 0, 0, 0}, inRegs = 0;
    if constexpr (kZip) inRegs = tile_ranks(ring, k, lane);
#pragma unroll
    for (int mt = 0; mt < 4; mt++) {
      uint32_t om = 0;
      if constexpr (kZip) {
        decode_band(ring[mt], p, rowBase, lane, om);
      } else {
#pragma unroll
        for (int r = 0; r < 4; r++) sts128(rowBase + ((uint32_t((4 * h + r) ^ (t & 3))) << 4), ring[mt].rows[r]);
      }
      if (more) load_band(ring[mt], p, ptr, mt);  // slot mt is free again: band mt of the next tile
      if constexpr (kZip) patch_band(om, seg, p, k[mt], (inRegs >> mt) & 1u, rowBase, lane);
      __syncwarp();
#pragma unroll
      for (int s = 0; s < 4; s++) {
        uint32_t a0, a1, a2, a3;
        ldmatrix_x4(a0, a1, a2, a3, scratch + uint32_t(s) * 512 + aLane);
#pragma unroll
        for (int f = 0; f < NF; f++) mma_bf16(acc[mt][f], a0, a1, a2, a3, bf[s][f][0], bf[s][f][1]);
      }
      __syncwarp();  // the next band overwrites the scratch
    }
    if constexpr (kZip) seg = segNext;
    ptr.next();
  }

  // Epilogue: warp partials [warp][n][m] in shared memory, then the cluster sums them in (rank, warp) order.
  float* mine = part + warp * NT * kPartStride;
#pragma unroll
  for (int mt = 0; mt < 4; mt++)
#pragma unroll
    for (int f = 0; f < NF; f++) {
      const int m = mt * 16 + (lane >> 2), n = f * 8 + (lane & 3) * 2;
      mine[n * kPartStride + m] = acc[mt][f][0];
      mine[(n + 1) * kPartStride + m] = acc[mt][f][1];
      mine[n * kPartStride + m + 8] = acc[mt][f][2];
      mine[(n + 1) * kPartStride + m + 8] = acc[mt][f][3];
    }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const int nRows = min(NT, p.N - n0);
  const int total = nRows * 64;
  const int lo = split * total / S, hi = (split + 1) * total / S;
  for (int idx = lo + int(threadIdx.x); idx < hi; idx += kThreads) {
    const int n = idx >> 6, m = idx & 63, gm = band * 64 + m;
    if (gm >= p.M) continue;
    float v = 0.f;
    for (int r = 0; r < S; r++) {
      const float* peer = cluster.map_shared_rank(part, r);
#pragma unroll
      for (int w = 0; w < kWarps; w++) v += peer[(w * NT + n) * kPartStride + m];
    }
    if (p.bias) v += p.bias[gm];
    float* out = p.y + size_t(n0 + n) * p.ldy + p.outOffset + gm;
    if (p.accumulate) v += *out;
    *out = v;
  }
  // Peers keep their shared memory until every rank has read it (no data is published here: relaxed arrive).
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\n\tbarrier.cluster.wait.aligned;\n" ::: "memory");
}

template <bool kZip, int NF, int kMinBlocks>
cudaError_t launch_kernel(const Params& p, cudaStream_t s) {
  return launch_clustered(stream_kernel<kZip, NF, kMinBlocks>, p, s);
}

// Co-resident clusters of `split` CTAs of the zip kernel (the dense twin follows the zip schedule).
template <int NF, int kMinBlocks>
int max_clusters(int split) {
  static int cached[kMaxSplit + 1] = {};
  if (!cached[split]) cached[split] = active_clusters(stream_kernel<true, NF, kMinBlocks>, split, kMinBlocks);
  return cached[split];
}

}  // namespace

int token_tile(int N, int requested) {
  if (requested == 8 || requested == 16) return requested;
  if (requested > 16) return 16;
  return N <= 8 ? 8 : 16;
}

namespace {
// Kernel instantiation by token tile and occupancy target (resident CTAs per SM the registers are capped for).
template <bool kZip>
cudaError_t launch_occ(const Params& p, int nt, int occ, cudaStream_t s) {
  if (nt == 8) return occ >= 4 ? launch_kernel<kZip, 1, 4>(p, s) : launch_kernel<kZip, 1, 3>(p, s);
  return occ >= 3 ? launch_kernel<kZip, 2, 3>(p, s) : launch_kernel<kZip, 2, 2>(p, s);
}
int clusters_fit(int nt, int occ, int split) {
  if (nt == 8) return occ >= 4 ? max_clusters<1, 4>(split) : max_clusters<1, 3>(split);
  return occ >= 3 ? max_clusters<2, 3>(split) : max_clusters<2, 2>(split);
}
}  // namespace

int default_split(int M, int K, int N, int nTile, int occ) {
  const int nt = token_tile(N, nTile);
  const long long bands = (M + 63) / 64, kt = (K + 63) / 64, chunks = (N + nt - 1) / nt;
  const long long clusters = bands * chunks;
  // Time ~ waves x (K tiles per warp + one tile's worth of fixed cost per CTA: prologue latency, cluster
  // epilogue), waves = ceil(clusters / co-resident clusters). Fitted to the H100 split sweep of the eight
  // Llama shapes (dev/NOTES.md, v9): it picks the measured best split, or one within 4% of it, on each.
  // Ties go to the smaller split. Keep >= 2 K tiles per warp (the register ring is one tile deep).
  const int maxSplit = int(std::max<long long>(1, std::min<long long>(kMaxSplit, kt / (2 * kWarps))));
  return cheapest_split(clusters, kt, kWarps, 1.0, maxSplit, [&](int sp) { return clusters_fit(nt, occ, sp); });
}

cudaError_t launch(const TcaTbeDeviceMatrix* w, const uint16_t* dense, int M, int K, const float* x, int N, float* y,
                   int ldy, int outOffset, const float* bias, bool accumulate, int nTile, int splitK, int occ,
                   cudaStream_t s) {
  if (const cudaError_t e = check_launch(w, dense, M, K, x, N, y, ldy, outOffset, splitK); e != cudaSuccess) return e;
  const int nt = token_tile(N, nTile);
  const Params p = make_params(w, dense, M, K, x, N, y, ldy, outOffset, bias, accumulate, splitK, nt);
  return w ? launch_occ<true>(p, nt, occ, s) : launch_occ<false>(p, nt, occ, s);
}

}  // namespace zipserv::gemm::stream
