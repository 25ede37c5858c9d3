// ZipGEMM (fused TCA-TBE decode + mma.sync) and its dense twin: one kernel template, two weight loaders.
//
// Schedule (per CTA of 256 threads = 8 warps): a 64-row band of W x a contiguous range of K tiles
// (split-K) x up to NT tokens. Weight tiles and the matching f32 activation tiles stream through a
// `stages`-deep cp.async ring. Per K tile: the CTA decodes the compressed tile into shared memory as
// BF16 in stream layout (each 8x8 small tile = 128 contiguous bytes = one conflict-free ldmatrix
// matrix), converts the activation tile to BF16, then each warp runs ldmatrix.x4 + mma.m16n8k16 on
// its 16 rows and two of the four k16 slices (warps w and w+4 share rows; their partials are added in
// a fixed order). The dense twin copies the BF16 tile straight into the same layout and runs the
// identical ldmatrix/mma sequence, so the two are bit-identical by construction.
// Split-K CTAs of one band form a thread-block cluster; their fp32 partials are summed through
// distributed shared memory in rank order (deterministic, no workspace, one launch).
#include <cooperative_groups.h>

#include <algorithm>

#include "gemm/tca_device.cuh"
#include "gemm/zipgemm.h"

#define ZS_TRY_GEMM(expr)                 \
  do {                                    \
    cudaError_t e_ = (expr);              \
    if (e_ != cudaSuccess) return e_;     \
  } while (0)

namespace cg = cooperative_groups;

namespace zipserv::gemm {
namespace {

using namespace dev;

constexpr int kThreads = 256;  // 8 warps: 2 per 16-row block, each on half the k16 slices
constexpr int kBandRows = 64;
constexpr int kXbStride = 144;        // bytes per token row of the BF16 activation tile (64 + 8 pad)
constexpr int kPartStride = 68;       // floats per token row of the partial-sum tile (64 + 4 pad)
constexpr int kZipStageW = kTileBitmapBytes + kTileElems + kOutlierStage;  // 5888
constexpr int kDenseStageW = 8192;
constexpr int kMaxSplitK = 8;         // portable cluster size
constexpr int kMaxTilesPerCta = 1024; // offsets staged in shared memory

struct SmemLayout {
  int tables, offs, abuf, xb, ring, stageW, stageBytes, total;
};

__host__ __device__ inline int align16(int v) { return (v + 15) & ~15; }

__host__ __device__ inline SmemLayout smem_layout(bool zip, int nt, int stages, int maxRange) {
  SmemLayout L{};
  int o = 0;
  L.tables = o;
  o += zip ? int(sizeof(DecodeTables)) : 0;
  L.offs = o;
  o += zip ? align16((maxRange + 1) * 4) : 0;
  L.abuf = o;
  o += zip ? 8192 : 0;
  L.xb = o;
  o += nt * kXbStride;
  L.ring = o;
  L.stageW = zip ? kZipStageW : kDenseStageW;
  L.stageBytes = L.stageW + nt * 256;
  o += stages * L.stageBytes;
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
  int denseVec;  // K % 8 == 0 and 16-byte aligned: 16-byte async copies
  int M, K, tileCols;
  const float* x;
  int N, xVec;  // K % 4 == 0 and 16-byte aligned
  float* y;
  int ldy, outOffset;
  const float* bias;
  int accumulate;
  int splitK, stages, nChunks, maxRange;
};

template <bool kZip, int NT>
__global__ void __launch_bounds__(kThreads) gemm_kernel(const GemmParams p) {
  extern __shared__ __align__(128) uint8_t smem[];
  constexpr int NF = NT / 8;  // n8 fragments per warp
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
  const int nRows = min(NT, p.N - n0);            // valid token rows of this CTA
  const SmemLayout L = smem_layout(kZip, NT, P, p.maxRange);
  DecodeTables* tab = reinterpret_cast<DecodeTables*>(smem + L.tables);
  uint32_t* offs = reinterpret_cast<uint32_t*>(smem + L.offs);  // [nk + 1] outlier offsets of the range
  uint8_t* xb = smem + L.xb;                                    // [NT][72] bf16 activations
  uint8_t* ring = smem + L.ring;

  auto issue_w = [&](int j, int st) {
    uint8_t* sp = ring + st * L.stageBytes;
    if constexpr (kZip) {
      const size_t gt = gtBase + j;
      const uint8_t* gb = reinterpret_cast<const uint8_t*>(p.bitmaps) + gt * kTileBitmapBytes;
      const uint8_t* gs = p.signMantissa + gt * kTileElems;
      // 352 chunks of 16 bytes (96 bitmap + 256 sign-mantissa), contiguous in global and in the stage:
      // straight-line, one or two per thread.
      static_assert(kThreads == 256 && kTileBitmapBytes == 96 * 16, "chunk split assumes 256 threads");
      // Stage offset of chunk c is c * 16 for both arrays (the bitmaps are exactly 96 chunks).
      cp_async16(sp + tid * 16, tid < 96 ? gb + tid * 16 : gs + (tid - 96) * 16, 16);
      if (tid < 96) cp_async16(sp + (tid + 256) * 16, gs + (tid + 160) * 16, 16);
    } else {
      const int gk = k0 + j;
#pragma unroll 1
      for (int c = tid; c < 512; c += kThreads) {
        // 8 lanes read one 128-byte tile row (full sectors); each 16-byte chunk lands in its small tile.
        const int R = c >> 3, q = c & 7;
        const int t = (R >> 4) * 16 + (q >> 1) * 4 + ((R >> 3) & 1) + ((q & 1) << 1);
        const int row = band * kBandRows + R;
        const int col = gk * 64 + q * 8;
        uint8_t* d = sp + t * 128 + (R & 7) * 16;
        if (p.denseVec) {
          const bool in = row < p.M && col < p.K;  // K % 8 == 0: a chunk is wholly in or out
          cp_async16(d, in ? p.dense + size_t(row) * p.K + col : p.dense, in ? 16 : 0);
        } else {
          uint32_t v[4];
#pragma unroll
          for (int e = 0; e < 4; e++) {
            const int c0 = col + 2 * e;
            const uint32_t lo = (row < p.M && c0 < p.K) ? p.dense[size_t(row) * p.K + c0] : 0u;
            const uint32_t hi = (row < p.M && c0 + 1 < p.K) ? p.dense[size_t(row) * p.K + c0 + 1] : 0u;
            v[e] = lo | (hi << 16);
          }
          *reinterpret_cast<uint4*>(d) = make_uint4(v[0], v[1], v[2], v[3]);
        }
      }
    }
  };
  auto issue_x = [&](int j, int st) {
    float* xs = reinterpret_cast<float*>(ring + st * L.stageBytes + L.stageW);  // [NT][64] f32
    const int kc = (k0 + j) * 64;
    if (p.xVec) {
#pragma unroll 1
      for (int c = tid; c < nRows * 16; c += kThreads) {
        const int n = c >> 4, q = c & 15, gn = n0 + n, gk = kc + q * 4;
        const bool in = gn < p.N && gk < p.K;
        cp_async16(xs + n * 64 + q * 4, in ? p.x + size_t(gn) * p.K + gk : p.x, in ? 16 : 0);
      }
    } else {
#pragma unroll 1
      for (int c = tid; c < nRows * 64; c += kThreads) {
        const int n = c >> 6, q = c & 63, gn = n0 + n, gk = kc + q;
        const bool in = gn < p.N && gk < p.K;
        cp_async4(xs + n * 64 + q, in ? p.x + size_t(gn) * p.K + gk : p.x, in ? 4 : 0);
      }
    }
  };
  auto issue_seg = [&](int j, int st) {
    if constexpr (kZip) {
      const uint32_t o = offs[j], len = offs[j + 1] - o;
      const uint32_t chunks = min(len, uint32_t(kOutlierStage)) / 16;
      if (uint32_t(tid) < chunks)
        cp_async16(ring + st * L.stageBytes + kTileBitmapBytes + kTileElems + tid * 16, p.outliers + o + tid * 16, 16);
    }
  };

  // Prologue: weight + activation copies first (no dependencies), then the offsets they need.
  for (int s = 0; s < P - 1; s++)
    if (s < nk) {
      issue_w(s, s);
      issue_x(s, s);
    }
  for (int i = nRows * (kXbStride / 4) + tid; i < NT * (kXbStride / 4); i += kThreads)
    reinterpret_cast<uint32_t*>(xb)[i] = 0u;  // unused token rows stay zero
  if constexpr (kZip) {
    build_decode_tables(tab, p.expBase, tid, kThreads);
    for (int i = tid; i <= nk; i += kThreads) offs[i] = __ldg(p.outlierOffsets + gtBase + i);
  }
  __syncthreads();
  for (int s = 0; s < P - 1; s++)
    if (s < nk) issue_seg(s, s);
  cp_async_commit();

  float acc[NF][4];
#pragma unroll
  for (int f = 0; f < NF; f++) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;

  const uint32_t xbBase = smem_u32(xb);
  for (int j = 0; j < nk; j++) {
    if (j == 0) cp_async_wait<0>();
    else cp_async_wait_dyn(P - 2);
    __syncthreads();  // stage j visible to all; everyone is done with stage j-1, abuf and xb
    {
      const int jn = j + P - 1;
      if (jn < nk) {
        const int st = jn % P;
        issue_w(jn, st);
        issue_x(jn, st);
        issue_seg(jn, st);
      }
      cp_async_commit();
    }
    uint8_t* sp = ring + (j % P) * L.stageBytes;
    const uint8_t* A;
    if constexpr (kZip) {
      const uint64_t* bm = reinterpret_cast<const uint64_t*>(sp);
      const uint8_t* smb = sp + kTileBitmapBytes;
      const uint8_t* seg = sp + kTileBitmapBytes + kTileElems;
      const uint32_t o = offs[j], len = offs[j + 1] - o;
      const uint32_t pre = warp_outlier_prefix(bm, lane);
      uint8_t* abuf = smem + L.abuf;
#pragma unroll
      for (int i = 0; i < 2; i++) {
        const int t = warp * 8 + i * 4 + (lane >> 3), r = lane & 7;
        const uint32_t pv = __shfl_sync(0xffffffffu, pre, t >> 1);
        const uint32_t prefix = (t & 1) ? (pv >> 16) : (pv & 0xffffu);
        decode_row(bm, smb, seg, p.outliers + o, len, tab, t, r, prefix,
                   reinterpret_cast<uint16_t*>(abuf + t * 128 + r * 16));
      }
      A = abuf;
    } else {
      A = sp;
    }
    {
      const float4* xs = reinterpret_cast<const float4*>(sp + L.stageW);
#pragma unroll 1
      for (int c = tid; c < nRows * 16; c += kThreads) {
        const int n = c >> 4, q = c & 15;
        const float4 v = xs[c];
        const uint2 packed = make_uint2(f32_to_bf16_bits(v.x) | (f32_to_bf16_bits(v.y) << 16),
                                        f32_to_bf16_bits(v.z) | (f32_to_bf16_bits(v.w) << 16));
        *reinterpret_cast<uint2*>(xb + n * kXbStride + q * 8) = packed;
      }
    }
    __syncthreads();  // A tile and BF16 activations ready
    const uint32_t aBase = smem_u32(A) + ((warp & 3) * 16 + (lane >> 3)) * 128 + (lane & 7) * 16;
#pragma unroll
    for (int s = (warp >> 2) * 2; s < (warp >> 2) * 2 + 2; s++) {
      uint32_t a0, a1, a2, a3;
      ldmatrix_x4(a0, a1, a2, a3, aBase + s * 4 * 128);
      if constexpr (NF == 1) {
        uint32_t b0, b1;
        ldmatrix_x2(b0, b1, xbBase + (lane & 7) * kXbStride + (s * 16 + ((lane >> 3) & 1) * 8) * 2);
        mma_bf16(acc[0], a0, a1, a2, a3, b0, b1);
      } else {
        const int q = lane >> 3;
#pragma unroll
        for (int f2 = 0; f2 < NF / 2; f2++) {
          uint32_t b0, b1, b2, b3;
          ldmatrix_x4(b0, b1, b2, b3,
                      xbBase + ((f2 * 2 + (q >> 1)) * 8 + (lane & 7)) * kXbStride + (s * 16 + (q & 1) * 8) * 2);
          mma_bf16(acc[2 * f2], a0, a1, a2, a3, b0, b1);
          mma_bf16(acc[2 * f2 + 1], a0, a1, a2, a3, b2, b3);
        }
      }
    }
  }

  // Epilogue: partials to shared memory, then the cluster sums them in rank order.
  cp_async_wait<0>();
  __syncthreads();
  float* part = reinterpret_cast<float*>(ring);  // [NT][68] f32
  // Warps 0-3 (k16 slices 0,1) store, then warps 4-7 (slices 2,3) add: a fixed order.
  for (int phase = 0; phase < 2; phase++) {
    if ((warp >> 2) == phase) {
#pragma unroll
      for (int f = 0; f < NF; f++) {
        const int m = (warp & 3) * 16 + (lane >> 2), n = f * 8 + (lane & 3) * 2;
        float* p0 = part + n * kPartStride + m;
        float* p1 = part + (n + 1) * kPartStride + m;
        if (phase == 0) {
          p0[0] = acc[f][0];
          p1[0] = acc[f][1];
          p0[8] = acc[f][2];
          p1[8] = acc[f][3];
        } else {
          p0[0] += acc[f][0];
          p1[0] += acc[f][1];
          p0[8] += acc[f][2];
          p1[8] += acc[f][3];
        }
      }
    }
    __syncthreads();
  }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const int total = nRows * kBandRows;
  const int lo = split * total / S, hi = (split + 1) * total / S;
  for (int idx = lo + tid; idx < hi; idx += kThreads) {
    const int n = idx >> 6, m = idx & 63, gm = band * kBandRows + m;
    if (gm >= p.M) continue;
    float v = 0.f;
    for (int q = 0; q < S; q++) v += cluster.map_shared_rank(part, q)[n * kPartStride + m];
    if (p.bias) v += p.bias[gm];
    float* out = p.y + size_t(n0 + n) * p.ldy + p.outOffset + gm;
    if (p.accumulate) v += *out;
    *out = v;
  }
  cluster.sync();  // peers keep their shared memory until every rank has read it
}

int sm_count() {
  int dev = 0, n = 132;
  if (cudaGetDevice(&dev) == cudaSuccess) cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
  return n > 0 ? n : 132;
}

GemmTuning resolve(int M, int K, int N, const GemmTuning& in) {
  GemmTuning t = in;
  if (t.nTile == 0) t.nTile = N <= 8 ? 8 : N <= 16 ? 16 : N <= 32 ? 32 : 64;
  const int kt = (K + 63) / 64, bands = (M + 63) / 64, chunks = (N + t.nTile - 1) / t.nTile;
  if (t.splitK == 0) {
    const long long ctas = (long long)bands * chunks;
    const long long target = 4LL * sm_count();  // ~4 resident CTAs of 8 warps per SM: one full wave
    t.splitK = int(std::min<long long>(kMaxSplitK, std::max<long long>(1, (target + ctas - 1) / ctas)));
  }
  t.splitK = std::max(t.splitK, (kt + kMaxTilesPerCta - 1) / kMaxTilesPerCta);
  t.splitK = std::min(t.splitK, kt);
  if (t.stages == 0) t.stages = t.nTile <= 16 ? 4 : 3;
  return t;
}

template <bool kZip, int NT>
cudaError_t launch_nt(const GemmParams& p0, cudaStream_t s) {
  GemmParams p = p0;
  const SmemLayout L = smem_layout(kZip, NT, p.stages, p.maxRange);
  auto kernel = gemm_kernel<kZip, NT>;
  ZS_TRY_GEMM(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L.total));
  ZS_TRY_GEMM(cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 0));
  const long long bands = (p.M + kBandRows - 1) / kBandRows;
  const long long blocks = bands * p.nChunks * p.splitK;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(blocks), 1, 1);
  cfg.blockDim = dim3(kThreads, 1, 1);
  cfg.dynamicSmemBytes = size_t(L.total);
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = unsigned(p.splitK);
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  ZS_TRY_GEMM(cudaLaunchKernelEx(&cfg, kernel, p));
  return cudaGetLastError();
}

template <bool kZip>
cudaError_t launch(GemmParams p, const GemmTuning& tin, cudaStream_t s) {
  if (p.M < 1 || p.K < 1 || p.N < 1 || !p.x || !p.y) return cudaErrorInvalidValue;
  if (p.ldy < 1 || p.outOffset < 0 || (long long)p.outOffset + p.M > p.ldy) return cudaErrorInvalidValue;
  const GemmTuning t = resolve(p.M, p.K, p.N, tin);
  if (t.splitK < 1 || t.splitK > kMaxSplitK || t.stages < 2 || t.stages > 6) return cudaErrorInvalidValue;
  p.tileCols = (p.K + 63) / 64;
  if ((p.tileCols + t.splitK - 1) / t.splitK > kMaxTilesPerCta) return cudaErrorInvalidValue;
  p.splitK = t.splitK;
  p.stages = t.stages;
  p.nChunks = (p.N + t.nTile - 1) / t.nTile;
  p.maxRange = (p.tileCols + t.splitK - 1) / t.splitK;
  p.xVec = (p.K % 4 == 0) && (reinterpret_cast<uintptr_t>(p.x) % 16 == 0);
  switch (t.nTile) {
    case 8: return launch_nt<kZip, 8>(p, s);
    case 16: return launch_nt<kZip, 16>(p, s);
    case 32: return launch_nt<kZip, 32>(p, s);
    case 64: return launch_nt<kZip, 64>(p, s);
    default: return cudaErrorInvalidValue;
  }
}

GemmParams base_params(const float* x, int N, float* y, int ldy, int outOffset, const float* bias, bool accumulate) {
  GemmParams p{};
  p.x = x;
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
                          const float* bias, bool accumulate, const GemmTuning& t, cudaStream_t s) {
  if (w.expBase < 0 || w.expBase > 249 || !w.bitmaps || !w.signMantissa || !w.outlierOffsets) return cudaErrorInvalidValue;
  if (!aligned16(w.bitmaps) || !aligned16(w.signMantissa) || !aligned16(w.outliers)) return cudaErrorMisalignedAddress;
  GemmParams p = base_params(x, N, y, ldy, outOffset, bias, accumulate);
  p.bitmaps = w.bitmaps;
  p.signMantissa = w.signMantissa;
  p.outliers = w.outliers;
  p.outlierOffsets = w.outlierOffsets;
  p.expBase = w.expBase;
  p.M = w.rows;
  p.K = w.cols;
  return launch<true>(p, t, s);
}

cudaError_t dense_gemm_tuned(const uint16_t* w, int M, int K, const float* x, int N, float* y, int ldy, int outOffset,
                             const float* bias, bool accumulate, const GemmTuning& t, cudaStream_t s) {
  if (!w) return cudaErrorInvalidValue;
  GemmParams p = base_params(x, N, y, ldy, outOffset, bias, accumulate);
  p.dense = w;
  p.denseVec = (K % 8 == 0) && aligned16(w);
  p.M = M;
  p.K = K;
  return launch<false>(p, t, s);
}

cudaError_t zipgemm(const TcaTbeDeviceMatrix& w, const float* x, int N, float* y, int ldy, int outOffset,
                    const float* bias, bool accumulate, void*, size_t, cudaStream_t s) {
  return zipgemm_tuned(w, x, N, y, ldy, outOffset, bias, accumulate, GemmTuning{}, s);
}

cudaError_t dense_gemm(const uint16_t* w, int M, int K, const float* x, int N, float* y, int ldy, int outOffset,
                       const float* bias, bool accumulate, void*, size_t, cudaStream_t s) {
  return dense_gemm_tuned(w, M, K, x, N, y, ldy, outOffset, bias, accumulate, GemmTuning{}, s);
}

size_t gemm_workspace_bytes(int, int, int) { return 0; }

GemmTuning gemm_default_tuning(int M, int K, int N) { return resolve(M, K, N, GemmTuning{}); }

// Measured on H100 (bench/results/zipgemm-h100.json): the fused kernel beats decompress + cuBLAS for
// N <= 8 on every Llama shape, and up to N = 32 on tall matrices (M >= 3K, e.g. gate+up); beyond that
// its per-tile decode (repeated per 64-token chunk) loses to one decompression pass + cuBLAS.
GemmPath choose_gemm_path(int M, int K, int N) {
  if (N <= 8) return GemmPath::Zipgemm;
  if (N <= 32 && (long long)M >= 3LL * K) return GemmPath::Zipgemm;
  return GemmPath::DecompressVendor;
}
