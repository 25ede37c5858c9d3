// Standalone TCA-TBE decompression and the embedding-row gather (per-element decode).
//
// Decompression streams tiles like the stream GEMM (stream_common.cuh): the warps stride over the tiles in
// row-major order (the resident warps cover one window of the matrix at a time), each holds one tile ahead in
// registers, decodes a band of 16 rows at a time with the table-free register decode, ORs the outliers' exponents into
// the registers, and stores each row segment straight to global memory (per instruction, four 128-byte rows).
// No shared memory, no barriers. The previous kernel (one CTA per tile, cp.async into shared memory, decode
// tables built per tile) reached 2.0-2.65 TB/s on the Llama shapes (dev/NOTES.md).
#include <algorithm>

#include "gemm/stream_common.cuh"
#include "gemm/tca_device.cuh"
#include "gemm/zipgemm.h"

namespace zipserv::gemm {
namespace {

using namespace dev;
using stream::BandRegs;
using stream::SegRegs;

constexpr int kDecompressWarps = 4;
constexpr int kDecompressCtasPerSm = 4;  // registers capped for 4 resident CTAs per SM; the grid is one such wave

// Ors the band's outlier exponents (ranks k.. in the tile's segment, by element order) into the lane's registers.
__device__ __forceinline__ void patch_regs(uint32_t om, const SegRegs& g, const stream::Params& p, uint32_t k,
                                           bool inRegs, uint32_t (&o)[4][4]) {
  stream::for_each_outlier(om, g, p, k, !inRegs, [&](uint32_t e, uint32_t ex) {
    // element e = 8 r + col sits in o[r][col / 2], low half for even col
    const uint32_t v = ex << (7 + 16 * (e & 1u)), wi = e >> 1;
#pragma unroll
    for (int i = 0; i < 16; i++)
      if (wi == uint32_t(i)) o[i >> 2][i & 3] |= v;
  });
}

__global__ void __launch_bounds__(32 * kDecompressWarps, kDecompressCtasPerSm)
    decompress_kernel(const __grid_constant__ stream::Params p, uint16_t* __restrict__ out, int vec, int tiles) {
  const int lane = threadIdx.x & 31;
  // Warp w takes tiles w, w + W, w + 2W, ...: at any moment the resident warps cover one contiguous window of
  // tiles, so reads and writes stay within few DRAM pages (a warp per contiguous run of tiles spread its writes
  // over the whole matrix and ran ~15% slower on the large shapes).
  const int W = int(gridDim.x) * kDecompressWarps;
  const int w = int(blockIdx.x) * kDecompressWarps + (threadIdx.x >> 5);
  if (w >= tiles) return;
  const int tc = p.tileCols;
  // This lane's rows and column inside a band: small tile t = 4s + j, half h (as the GEMMs' A fragments).
  const int t = lane >> 1, h = lane & 1;
  const int laneRow = (t & 1) * 8 + h * 4, laneCol = (t >> 2) * 16 + ((t >> 1) & 1) * 8;

  stream::TilePtrs<true> ptr;
  ptr.init(p, size_t(w), 0, 0, lane);
  const size_t step = size_t(W);
  auto segment = [&](int gt, SegRegs& g) {
    const uint32_t off = __ldg(p.offsets + gt), len = __ldg(p.offsets + gt + 1) - off;
    stream::load_segment(g, p, off, len, lane);
  };

  BandRegs<true> ring[4];
  SegRegs seg{}, segNext{};
  segment(w, seg);
#pragma unroll
  for (int mt = 0; mt < 4; mt++) stream::load_band(ring[mt], p, ptr, mt);
  ptr.bm += 384 * step;
  ptr.sm += 256 * step;
  for (int gt = w; gt < tiles; gt += W) {
    const bool more = gt + W < tiles;
    if (more) segment(gt + W, segNext);
    uint32_t k[4];
    const uint32_t inRegs = stream::tile_ranks(ring, k, lane);
    const long long row0 = (long long)(gt / tc) * 64 + laneRow;
    const int col = (gt % tc) * 64 + laneCol;
#pragma unroll
    for (int mt = 0; mt < 4; mt++) {
      uint32_t om, o[4][4];
      stream::decode_band_regs(ring[mt], p, om, o);
      if (more) stream::load_band(ring[mt], p, ptr, mt);  // band mt of the next tile
      patch_regs(om, seg, p, k[mt], (inRegs >> mt) & 1u, o);
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const long long row = row0 + mt * 16 + r;
        if (row >= p.M || col >= p.K) continue;
        uint16_t* dst = out + row * p.K + col;
        if (vec) {
          __stcs(reinterpret_cast<uint4*>(dst), make_uint4(o[r][0], o[r][1], o[r][2], o[r][3]));
        } else {
#pragma unroll
          for (int e = 0; e < 8; e++)
            if (col + e < p.K) dst[e] = uint16_t(o[r][e >> 1] >> (16 * (e & 1)));
        }
      }
    }
    seg = segNext;
    ptr.bm += 384 * step;
    ptr.sm += 256 * step;
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
  stream::Params p{};
  stream::set_weights(p, w);
  // One wave of resident CTAs (fewer for small matrices: a warp per tile at most).
  const long long warps = std::min<long long>(tiles, (long long)dev::sm_count() * kDecompressCtasPerSm * kDecompressWarps);
  const long long ctas = (warps + kDecompressWarps - 1) / kDecompressWarps;
  decompress_kernel<<<unsigned(ctas), 32 * kDecompressWarps, 0, s>>>(p, out, vec, int(tiles));
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
