// Causal GQA attention over a paged KV cache, decode and prefill alike.
//
// One block per (query row n, kv head g, context split z). It serves the G = H/Hkv query heads that
// share kv head g, so each K/V row is fetched once per block for all of them. The block walks its
// range of cache positions in tiles of TILE positions:
//   1. scores: one warp per position, lanes over the head dimension: the K row is loaded into registers
//      once and dotted with every head's query;
//   2. online softmax per head (running max m, running sum l, rescale factor for the accumulator);
//   3. P.V: each thread owns a few (head, dim) accumulators in registers and walks the tile's positions,
//      so the V loads of consecutive positions are independent and overlap.
// A decode step is latency-bound (a few positions per block), so every loop above is written to keep
// loads in flight rather than to save arithmetic.
// With splits > 1 (flash decoding: few rows, long contexts) each block writes an unnormalised partial
// (m, l, acc); the last of a (row, kv head)'s splits to finish, found by an arrival counter, merges them
// (no second kernel: one launch per attention node); otherwise the block writes the output directly.
// Rows that no sequence owns are left untouched, as the contract says.
#include <algorithm>
#include <cfloat>
#include <cstdlib>

#include "common/bf16.cuh"
#include "common/cuda_check.h"
#include "common/pdl.cuh"
#include "ops/ops.h"

namespace zipserv::ops {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 64;  // positions per shared-memory tile; also the most splits (the merge weights use sS)
constexpr int kMinChunk = 16;   // fewest positions a split takes at run time
constexpr int kDimsPerLane = 8;  // K row values a lane holds (head dims up to 256; larger ones take the plain loop)
constexpr int kAccPerThread = 4; // P.V accumulators a thread holds (G * hd up to 1024; more take the plain loop)

struct RowInfo {
  int seq;     // owning sequence, -1 if none
  int kvLen;   // positions 0..kvLen-1 are visible to this row
};

__device__ RowInfo find_row(const AttentionParams& p, int n) {
  RowInfo r{-1, 0};
  for (int s = 0; s < p.S; ++s) {
    const int a = p.queryStarts[s];
    const int b = p.queryStarts[s + 1];
    if (n >= a && n < b) {
      const int pos = p.contextLens[s] - (b - a) + (n - a);  // this row's position in its sequence
      const int cap = p.maxBlocksPerSeq * p.blockSize;
      r.seq = s;
      r.kvLen = pos + 1 < 0 ? 0 : (pos + 1 > cap ? cap : pos + 1);
      return r;
    }
  }
  return r;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The last split of (row n, kv head g) merges the splits of its G heads:
// out = sum_z e^(m_z - M) acc_z / sum_z e^(m_z - M) l_z over the `active` splits that hold positions (the rest
// wrote nothing). A warp per head reduces over the splits (lanes over z)
// into merge weights in shared memory (sW: [G, kTile], splits <= kTile); then every (head, dim) sums its splits.
// Reads bypass L1: other blocks wrote them.
__device__ void combine_splits(const AttentionParams& p, const float* partials, int n, int g, int active, float* sW) {
  const int G = p.H / p.Hkv;
  const size_t rows = static_cast<size_t>(p.N) * p.H * p.splits;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int h = warp; h < G; h += kWarps) {
    const size_t r0 = (static_cast<size_t>(n) * p.H + g * G + h) * p.splits;
    float M = -INFINITY;
    for (int z = lane; z < active; z += 32) M = fmaxf(M, __ldcg(partials + r0 + z));
    M = warp_max(M);
    float denom = 0.f;
    for (int z = lane; z < active; z += 32) {
      const float m = __ldcg(partials + r0 + z);
      const float w = m == -INFINITY ? 0.f : expf(m - M);
      sW[h * kTile + z] = w;
      denom += w * __ldcg(partials + rows + r0 + z);
    }
    denom = warp_sum(denom);
    __syncwarp();
    for (int z = lane; z < active; z += 32) sW[h * kTile + z] = denom > 0.f ? sW[h * kTile + z] / denom : 0.f;
  }
  __syncthreads();
  float* o = p.out + static_cast<size_t>(n) * p.H * p.hd + static_cast<size_t>(g) * G * p.hd;
  for (int j = threadIdx.x; j < G * p.hd; j += kThreads) {
    const int h = j / p.hd;
    const int d = j - h * p.hd;
    const float* acc = partials + 2 * rows + (static_cast<size_t>(n) * p.H + g * G + h) * p.splits * p.hd + d;
    const float* w = sW + h * kTile;
    float a = 0.f;
#pragma unroll 8
    for (int z = 0; z < active; ++z) a += w[z] * __ldcg(acc + static_cast<size_t>(z) * p.hd);
    o[j] = a;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionParams p, float* partials) {
  pdl_op_prologue();
  extern __shared__ float smem[];
  const int G = p.H / p.Hkv;
  const int hd = p.hd;
  float* sQ = smem;                  // [G, hd] query (pre-scaled)
  float* sAcc = sQ + G * hd;         // [G, hd] running P.V
  float* sS = sAcc + G * hd;         // [G, kTile] scores, then probabilities
  float* sM = sS + G * kTile;        // [G] running max
  float* sL = sM + G;                // [G] running sum
  float* sCorr = sL + G;             // [G] rescale of the accumulator for this tile
  long long* sRow = reinterpret_cast<long long*>(sCorr + G + (G & 1));  // [kTile] cache row offsets

  __shared__ RowInfo info;
  const int n = blockIdx.x;
  const int g = blockIdx.y;
  const int z = blockIdx.z;
  if (threadIdx.x == 0) info = find_row(p, n);
  __syncthreads();
  if (info.seq < 0) return;

  // The splits share this row's actual context (not the cache capacity the plan was sized for): at short
  // contexts every split gets work, down to kMinChunk positions each.
  const int chunk = p.splits == 1 ? info.kvLen : max(kMinChunk, (info.kvLen + p.splits - 1) / p.splits);
  const int lo = z * chunk;
  const int hi = min(lo + chunk, info.kvLen);
  // A split past the row's context has no positions: it only counts itself in below (block-uniform branch).
  const bool work = lo < hi || p.splits == 1;
  if (work) {
    const float* q = p.qkv + static_cast<size_t>(n) * p.rowWidth + p.qOffset + static_cast<size_t>(g) * G * hd;
    for (int j = threadIdx.x; j < G * hd; j += kThreads) {
      sQ[j] = q[j] * p.scale;
      sAcc[j] = 0.f;
    }
    for (int j = threadIdx.x; j < G; j += kThreads) {
      sM[j] = -INFINITY;
      sL[j] = 0.f;
    }
    __syncthreads();

    const T* kc = static_cast<const T*>(p.kCache);
    const T* vc = static_cast<const T*>(p.vCache);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int* table = p.blockTables + static_cast<size_t>(info.seq) * p.maxBlocksPerSeq;

    for (int t0 = lo; t0 < hi; t0 += kTile) {
      const int tlen = min(kTile, hi - t0);
      // 1. scores
      for (int pp = warp; pp < tlen; pp += kWarps) {
        const int pos = t0 + pp;
        const int blk = table[pos / p.blockSize];
        const bool valid = blk >= 0 && blk < p.numBlocks;
        const long long rowOff =
            valid ? ((static_cast<long long>(blk) * p.blockSize + pos % p.blockSize) * p.Hkv + g) * hd : -1;
        if (lane == 0) sRow[pp] = rowOff;
        if (hd <= 32 * kDimsPerLane) {
          float kr[kDimsPerLane];  // the K row, lane-strided: one round trip for all G heads
  #pragma unroll
          for (int i = 0; i < kDimsPerLane; ++i) {
            const int d = lane + 32 * i;
            kr[i] = valid && d < hd ? load_cache(kc + rowOff + d) : 0.f;
          }
          for (int h = 0; h < G; ++h) {
            float dot = 0.f;
  #pragma unroll
            for (int i = 0; i < kDimsPerLane; ++i) {
              const int d = lane + 32 * i;
              if (d < hd) dot += sQ[h * hd + d] * kr[i];
            }
            dot = warp_sum(dot);
            if (lane == 0) sS[h * kTile + pp] = valid ? dot : -INFINITY;
          }
        } else {
          for (int h = 0; h < G; ++h) {
            float dot = 0.f;
            if (valid) {
              for (int d = lane; d < hd; d += 32) dot += sQ[h * hd + d] * load_cache(kc + rowOff + d);
            }
            dot = warp_sum(dot);
            if (lane == 0) sS[h * kTile + pp] = valid ? dot : -INFINITY;
          }
        }
      }
      __syncthreads();
      // 2. online softmax, one warp per head
      for (int h = warp; h < G; h += kWarps) {
        float tmax = -INFINITY;
        for (int pp = lane; pp < tlen; pp += 32) tmax = fmaxf(tmax, sS[h * kTile + pp]);
        tmax = warp_max(tmax);
        const float mOld = sM[h];
        const float mNew = fmaxf(mOld, tmax);
        float sum = 0.f;
        for (int pp = lane; pp < tlen; pp += 32) {
          const float e = mNew == -INFINITY ? 0.f : expf(sS[h * kTile + pp] - mNew);
          sS[h * kTile + pp] = e;
          sum += e;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
          const float corr = mOld == -INFINITY ? 0.f : expf(mOld - mNew);
          sCorr[h] = corr;
          sL[h] = sL[h] * corr + sum;
          sM[h] = mNew;
        }
      }
      __syncthreads();
      // 3. accumulate P.V
      if (G * hd <= kThreads * kAccPerThread) {
        float a[kAccPerThread];
        int jh[kAccPerThread], jd[kAccPerThread];
  #pragma unroll
        for (int i = 0; i < kAccPerThread; ++i) {
          const int j = threadIdx.x + i * kThreads;
          jh[i] = j < G * hd ? j / hd : 0;
          jd[i] = j - jh[i] * hd;
          a[i] = j < G * hd ? sAcc[j] * sCorr[jh[i]] : 0.f;
        }
  #pragma unroll 4
        for (int pp = 0; pp < tlen; ++pp) {
          const long long off = sRow[pp];
          if (off < 0) continue;
  #pragma unroll
          for (int i = 0; i < kAccPerThread; ++i) {
            if (threadIdx.x + i * kThreads < G * hd) a[i] += sS[jh[i] * kTile + pp] * load_cache(vc + off + jd[i]);
          }
        }
  #pragma unroll
        for (int i = 0; i < kAccPerThread; ++i) {
          const int j = threadIdx.x + i * kThreads;
          if (j < G * hd) sAcc[j] = a[i];
        }
      } else {
        for (int j = threadIdx.x; j < G * hd; j += kThreads) {
          const int h = j / hd;
          const int d = j - h * hd;
          float a = sAcc[j] * sCorr[h];
          const float* prob = sS + h * kTile;
          for (int pp = 0; pp < tlen; ++pp) {
            const long long off = sRow[pp];
            if (off >= 0) a += prob[pp] * load_cache(vc + off + d);
          }
          sAcc[j] = a;
        }
      }
      __syncthreads();
    }
  }

  const int H = p.H;
  if (p.splits == 1) {
    float* o = p.out + static_cast<size_t>(n) * H * hd + static_cast<size_t>(g) * G * hd;
    for (int j = threadIdx.x; j < G * hd; j += kThreads) {
      const float l = sL[j / hd];
      o[j] = l > 0.f ? sAcc[j] / l : 0.f;
    }
  } else {
    // partials: m, l [N, H, splits] then acc [N, H, splits, hd]
    const size_t rows = static_cast<size_t>(p.N) * H * p.splits;
    float* pm = partials;
    float* pl = partials + rows;
    float* pacc = partials + 2 * rows;
    for (int j = threadIdx.x; work && j < G * hd; j += kThreads) {
      const int h = j / hd;
      const size_t r = (static_cast<size_t>(n) * H + g * G + h) * p.splits + z;
      pacc[r * hd + (j - h * hd)] = sAcc[j];
      if (j - h * hd == 0) {
        pm[r] = sM[h];
        pl[r] = sL[h];
      }
    }
    // Publish the partial, then count this split in; the last to arrive merges (and re-arms the counter).
    __shared__ unsigned arrived;
    __threadfence();
    __syncthreads();
    unsigned* counter = p.counters + static_cast<size_t>(n) * p.Hkv + g;
    if (threadIdx.x == 0) arrived = atomicAdd(counter, 1u);
    __syncthreads();
    if (arrived != static_cast<unsigned>(p.splits - 1)) return;
    if (threadIdx.x == 0) *counter = 0u;
    __threadfence();
    combine_splits(p, partials, n, g, min(p.splits, (info.kvLen + chunk - 1) / chunk), sS);
  }
}

size_t shared_bytes(const AttentionParams& p) {
  const int G = p.H / p.Hkv;
  const size_t floats = 2 * static_cast<size_t>(G) * p.hd + static_cast<size_t>(G) * kTile + 3 * G + (G & 1);
  return floats * sizeof(float) + kTile * sizeof(long long);
}

}  // namespace

size_t plan_attention(AttentionParams& p, int numSMs) {
  const int maxCtx = p.maxBlocksPerSeq * p.blockSize;
  int splits = 1;
  const long long blocksNoSplit = static_cast<long long>(p.N) * p.Hkv;
  // Split only when the (row, kv head) blocks alone would leave SMs idle: decode of few sequences. Plan for the
  // most splits the capacity allows (the kernel divides each row's actual context among them, kMinChunk positions
  // at least, and splits past it only count themselves in): one block walking a whole context serially is
  // latency-bound (~70 us per layer at 160 positions on an H200, whatever the cache capacity).
  if (blocksNoSplit < 2LL * numSMs && maxCtx > kMinChunk) {
    splits = (maxCtx + kMinChunk - 1) / kMinChunk;
    const long long wanted = (4LL * numSMs + blocksNoSplit - 1) / blocksNoSplit;
    if (splits > wanted) splits = static_cast<int>(wanted < 1 ? 1 : wanted);
    if (splits > kTile) splits = kTile;  // the merge keeps one weight per split and head in sS
    // A measurement aid: ZIPSERV_ATTENTION_MAX_SPLITS caps the split count (A/B timings of the plan).
    if (const char* cap = std::getenv("ZIPSERV_ATTENTION_MAX_SPLITS"); cap && std::atoi(cap) >= 1) {
      splits = std::min(splits, std::atoi(cap));
    }
    // Keep the partials within 64 MiB.
    const size_t perSplit = static_cast<size_t>(p.N) * p.H * (p.hd + 2) * sizeof(float);
    const size_t cap = (64u << 20) / (perSplit ? perSplit : 1);
    if (static_cast<size_t>(splits) > cap) splits = cap < 1 ? 1 : static_cast<int>(cap);
  }
  p.splits = splits;
  return splits > 1 ? static_cast<size_t>(p.N) * p.H * splits * (p.hd + 2) * sizeof(float) : 0;
}

size_t attention_counter_count(const AttentionParams& p) {
  return p.splits > 1 ? static_cast<size_t>(p.N) * p.Hkv : 0;
}

cudaError_t attention(const AttentionParams& p, void* workspace, cudaStream_t s) {
  if (p.N <= 0 || p.S <= 0) return cudaSuccess;
  if (p.Hkv <= 0 || p.H % p.Hkv != 0 || p.hd <= 0 || p.splits < 1) return cudaErrorInvalidValue;
  if (p.splits > 1 && (workspace == nullptr || p.counters == nullptr)) return cudaErrorInvalidValue;
  const size_t smem = shared_bytes(p);
  const dim3 grid(static_cast<unsigned>(p.N), static_cast<unsigned>(p.Hkv), static_cast<unsigned>(p.splits));
  float* partials = static_cast<float*>(workspace);
  if (p.bf16Cache) {
    if (smem > 48 * 1024) {
      ZS_TRY(cudaFuncSetAttribute(attention_kernel<uint16_t>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(smem)));
    }
    return launch_pdl(attention_kernel<uint16_t>, grid, kThreads, smem, s, p, partials);
  }
  if (smem > 48 * 1024) {
    ZS_TRY(cudaFuncSetAttribute(attention_kernel<float>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(smem)));
  }
  return launch_pdl(attention_kernel<float>, grid, kThreads, smem, s, p, partials);
}

}  // namespace zipserv::ops
