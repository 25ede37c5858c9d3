// Standalone TCA-TBE decompression (one 64x64 tile per CTA, decoded into a row-major shared tile
// and written with coalesced 16-byte stores) and the embedding-row gather (per-element decode).
#include <algorithm>

#include "gemm/tca_device.cuh"
#include "gemm/zipgemm.h"

namespace zipserv::gemm {
namespace {

using namespace dev;

constexpr int kRowStride = 72;  // bf16 per row of the shared output tile (64 + 8 pad: conflict-free)

__global__ void __launch_bounds__(128) decompress_kernel(TcaTbeDeviceMatrix w, uint16_t* __restrict__ out, int vec) {
  __shared__ __align__(16) uint64_t bm[192];              // [64][3]
  __shared__ __align__(16) uint8_t sm[kTileElems];        // [4096]
  __shared__ __align__(16) uint8_t seg[kOutlierStage];    // first bytes of the outlier segment
  __shared__ __align__(16) uint16_t tileOut[64 * kRowStride];  // [64][72] bf16, row-major
  __shared__ DecodeTables tab;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int tc = (w.cols + 63) / 64;
  const size_t gt = blockIdx.x;
  const int gm = int(gt / tc), gk = int(gt % tc);
  const uint8_t* gb = reinterpret_cast<const uint8_t*>(w.bitmaps) + gt * kTileBitmapBytes;
  const uint8_t* gs = w.signMantissa + gt * kTileElems;
  for (int c = tid; c < 96 + 256; c += 128) {
    if (c < 96) cp_async16(reinterpret_cast<uint8_t*>(bm) + c * 16, gb + c * 16, 16);
    else cp_async16(sm + (c - 96) * 16, gs + (c - 96) * 16, 16);
  }
  const uint32_t o = __ldg(w.outlierOffsets + gt), len = __ldg(w.outlierOffsets + gt + 1) - o;
  if (uint32_t(tid) < min(len, uint32_t(kOutlierStage)) / 16) cp_async16(seg + tid * 16, w.outliers + o + tid * 16, 16);
  cp_async_commit();
  build_decode_tables(&tab, w.expBase, tid, 128);
  cp_async_wait<0>();
  __syncthreads();
  const uint32_t pre = warp_outlier_prefix(bm, lane);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int t = warp * 16 + i * 4 + (lane >> 3), r = lane & 7;
    const uint32_t pv = __shfl_sync(0xffffffffu, pre, t >> 1);
    const uint32_t prefix = (t & 1) ? (pv >> 16) : (pv & 0xffffu);
    const int R = (t >> 4) * 16 + (t & 1) * 8 + r, C = ((t >> 2) & 3) * 16 + ((t >> 1) & 1) * 8;
    decode_row(bm, sm, seg, w.outliers + o, len, &tab, t, r, prefix, tileOut + R * kRowStride + C);
  }
  __syncthreads();
  for (int c = tid; c < 512; c += 128) {
    const int R = c >> 3, q = c & 7;
    const int row = gm * 64 + R, col = gk * 64 + q * 8;
    if (row >= w.rows || col >= w.cols) continue;
    const uint16_t* src = tileOut + R * kRowStride + q * 8;
    uint16_t* dst = out + size_t(row) * w.cols + col;
    if (vec) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
      for (int e = 0; e < 8 && col + e < w.cols; e++) dst[e] = src[e];
    }
  }
}

// One thread per output element; outliers rank by popcount over the preceding small tiles.
__global__ void gather_rows_kernel(TcaTbeDeviceMatrix w, const int32_t* __restrict__ rowIds, int count,
                                   float* __restrict__ out) {
  const long long total = (long long)count * w.cols;
  const int tc = (w.cols + 63) / 64;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const int i = int(idx / w.cols), col = int(idx % w.cols);
    const int row = rowIds[i];
    if (row < 0 || row >= w.rows) {
      out[idx] = __uint_as_float(0x7fc00000u);
      continue;
    }
    const size_t gt = size_t(row / 64) * tc + col / 64;
    const int r = row & 63, c = col & 63;
    const int t = (r >> 4) * 16 + (c >> 4) * 4 + (((r >> 3) & 1) | (((c >> 3) & 1) << 1));
    const int pos = (r & 7) * 8 + (c & 7);
    const uint64_t* bm = w.bitmaps + gt * 192;
    const uint64_t b1 = __ldg(bm + t * 3), b2 = __ldg(bm + t * 3 + 1), b3 = __ldg(bm + t * 3 + 2);
    const int code = int((b1 >> pos) & 1) | int(((b2 >> pos) & 1) << 1) | int(((b3 >> pos) & 1) << 2);
    uint32_t exp = uint32_t(w.expBase + code);
    if (code == 7) {
      uint32_t k = __popcll(b1 & b2 & b3 & ((uint64_t(1) << pos) - 1));
      for (int u = 0; u < t; u++) k += __popcll(__ldg(bm + u * 3) & __ldg(bm + u * 3 + 1) & __ldg(bm + u * 3 + 2));
      const uint32_t o = __ldg(w.outlierOffsets + gt), len = __ldg(w.outlierOffsets + gt + 1) - o;
      exp = k < len ? __ldg(w.outliers + o + k) : 0u;
    }
    const uint32_t s = __ldg(w.signMantissa + gt * kTileElems + t * 64 + pos);
    const uint32_t bits = ((s & 0x80u) << 8) | ((exp & 0xffu) << 7) | (s & 0x7fu);
    out[idx] = __uint_as_float(bits << 16);
  }
}

bool valid(const TcaTbeDeviceMatrix& w) {
  return w.rows >= 1 && w.cols >= 1 && w.expBase >= 0 && w.expBase <= 249 && w.bitmaps && w.signMantissa &&
         w.outlierOffsets && reinterpret_cast<uintptr_t>(w.bitmaps) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w.signMantissa) % 16 == 0 && reinterpret_cast<uintptr_t>(w.outliers) % 16 == 0;
}

}  // namespace
}  // namespace zipserv::gemm

cudaError_t tca_decompress(const TcaTbeDeviceMatrix& w, uint16_t* out, cudaStream_t s) {
  using namespace zipserv::gemm;
  if (!valid(w) || !out) return cudaErrorInvalidValue;
  const long long tiles = (long long)((w.rows + 63) / 64) * ((w.cols + 63) / 64);
  if (tiles > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const int vec = (w.cols % 8 == 0) && (reinterpret_cast<uintptr_t>(out) % 16 == 0);
  decompress_kernel<<<unsigned(tiles), 128, 0, s>>>(w, out, vec);
  return cudaGetLastError();
}

cudaError_t tca_decompress_rows(const TcaTbeDeviceMatrix& w, const int32_t* rowIds, int count, float* out,
                                cudaStream_t s) {
  using namespace zipserv::gemm;
  if (!valid(w) || count < 0 || (count > 0 && (!rowIds || !out))) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  const long long total = (long long)count * w.cols;
  const long long blocks = std::min<long long>((total + 255) / 256, 65536);
  gather_rows_kernel<<<unsigned(blocks), 256, 0, s>>>(w, rowIds, count, out);
  return cudaGetLastError();
}
