// See host_codec.h. Two passes over tile rows: count outliers per tile (offsets), then pack.
#include "gemm/host_codec.h"

#include <algorithm>
#include <thread>

namespace zipserv::tca {
namespace {

int exponent_of(uint16_t b) { return (b >> 7) & 0xff; }

template <class F>
void parallel_rows(int count, int threads, F&& body) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::max(1, std::min(threads, count));
  if (threads == 1) {
    for (int i = 0; i < count; i++) body(i);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    pool.emplace_back([&, t] {
      for (int i = t; i < count; i += threads) body(i);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

int choose_exp_base(const uint16_t* bits, size_t count) {
  std::vector<uint64_t> hist(256, 0);
  for (size_t i = 0; i < count; i++) hist[exponent_of(bits[i])]++;
  uint64_t sum = 0;
  for (int e = 0; e < 7; e++) sum += hist[e];
  int best = 0;
  uint64_t bestCovered = sum;
  for (int base = 1; base <= 249; base++) {
    sum += hist[base + 6] - hist[base - 1];
    if (sum > bestCovered) {  // strictly greater: ties keep the smaller expBase
      bestCovered = sum;
      best = base;
    }
  }
  return best;
}

HostMatrix encode(const uint16_t* bits, int rows, int cols, int expBase, int threads) {
  if (rows < 1 || cols < 1) throw std::runtime_error("encode: matrix must be at least 1 x 1");
  HostMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.expBase = expBase < 0 ? choose_exp_base(bits, size_t(rows) * cols) : expBase;
  if (m.expBase > 249) throw std::runtime_error("encode: expBase must be 0..249");
  const int tr = m.tileRows(), tc = m.tileCols();
  const size_t tiles = m.tiles();
  m.bitmaps.assign(tiles * 192, 0);
  m.signMantissa.assign(tiles * 4096, 0);
  std::vector<uint32_t> counts(tiles, 0);  // [tiles] outliers per tile
  const int eb = m.expBase;
  auto code_of = [eb](uint16_t b) {
    const int d = exponent_of(b) - eb;
    return (d >= 0 && d <= 6) ? d : 7;
  };
  // Pass 1: bitmaps, sign-mantissa bytes, outlier counts.
  parallel_rows(tr, threads, [&](int gm) {
    for (int gk = 0; gk < tc; gk++) {
      const size_t gt = size_t(gm) * tc + gk;
      uint64_t* bm = &m.bitmaps[gt * 192];
      uint8_t* sm = &m.signMantissa[gt * 4096];
      uint32_t n = 0;
      for (int r = 0; r < 64; r++) {
        const int row = gm * 64 + r;
        for (int c = 0; c < 64; c++) {
          const int col = gk * 64 + c;
          if (row >= rows || col >= cols) continue;  // padding: code 0, sign-mantissa 0
          const uint16_t b = bits[size_t(row) * cols + col];
          const int e = tile_element_index(r, c);
          const int code = code_of(b);
          const int t = e >> 6, pos = e & 63;
          for (int p = 0; p < 3; p++)
            if ((code >> p) & 1) bm[t * 3 + p] |= uint64_t(1) << pos;
          sm[e] = uint8_t(((b >> 8) & 0x80) | (b & 0x7f));
          n += code == 7;
        }
      }
      counts[gt] = n;
    }
  });
  m.outlierOffsets.assign(tiles + 1, 0);
  for (size_t i = 0; i < tiles; i++) m.outlierOffsets[i + 1] = m.outlierOffsets[i] + ((counts[i] + 15) / 16) * 16;
  m.outliers.assign(m.outlierOffsets[tiles], 0);
  // Pass 2: outlier exponent bytes in stream order.
  parallel_rows(tr, threads, [&](int gm) {
    for (int gk = 0; gk < tc; gk++) {
      const size_t gt = size_t(gm) * tc + gk;
      if (counts[gt] == 0) continue;
      uint8_t* out = &m.outliers[m.outlierOffsets[gt]];
      uint32_t k = 0;
      for (int e = 0; e < 4096; e++) {
        const int t = e >> 6, pos = e & 63;
        const int r = (t >> 4) * 16 + (t & 1) * 8 + (pos >> 3);
        const int c = ((t >> 2) & 3) * 16 + ((t >> 1) & 1) * 8 + (pos & 7);
        const int row = gm * 64 + r, col = gk * 64 + c;
        if (row >= rows || col >= cols) continue;
        const uint16_t b = bits[size_t(row) * cols + col];
        if (code_of(b) == 7) out[k++] = uint8_t(exponent_of(b));
      }
    }
  });
  return m;
}

std::vector<uint16_t> decode(const HostMatrix& m, const std::string& what) {
  const int tr = m.tileRows(), tc = m.tileCols();
  const size_t tiles = m.tiles();
  if (m.expBase < 0 || m.expBase > 249) throw std::runtime_error(what + ": expBase outside 0..249");
  if (m.bitmaps.size() != tiles * 192 || m.signMantissa.size() != tiles * 4096 || m.outlierOffsets.size() != tiles + 1 ||
      m.outlierOffsets[tiles] != m.outliers.size())
    throw std::runtime_error(what + ": array sizes do not match the shape");
  std::vector<uint16_t> out(size_t(m.rows) * m.cols);
  for (int gm = 0; gm < tr; gm++) {
    for (int gk = 0; gk < tc; gk++) {
      const size_t gt = size_t(gm) * tc + gk;
      const uint64_t* bm = &m.bitmaps[gt * 192];
      uint32_t count = 0;
      for (int t = 0; t < 64; t++) count += __builtin_popcountll(bm[t * 3] & bm[t * 3 + 1] & bm[t * 3 + 2]);
      const uint32_t seg = m.outlierOffsets[gt + 1] - m.outlierOffsets[gt];
      if (m.outlierOffsets[gt + 1] < m.outlierOffsets[gt] || seg != ((count + 15) / 16) * 16)
        throw std::runtime_error(what + ": tile " + std::to_string(gt) + " has " + std::to_string(count) +
                                 " outliers but a segment of " + std::to_string(seg) + " bytes");
      uint32_t k = 0;
      for (int e = 0; e < 4096; e++) {
        const int t = e >> 6, pos = e & 63;
        const int code = int((bm[t * 3] >> pos) & 1) | int(((bm[t * 3 + 1] >> pos) & 1) << 1) |
                         int(((bm[t * 3 + 2] >> pos) & 1) << 2);
        const int exp = code == 7 ? m.outliers[m.outlierOffsets[gt] + k++] : m.expBase + code;
        const int r = (t >> 4) * 16 + (t & 1) * 8 + (pos >> 3);
        const int c = ((t >> 2) & 3) * 16 + ((t >> 1) & 1) * 8 + (pos & 7);
        const int row = gm * 64 + r, col = gk * 64 + c;
        if (row >= m.rows || col >= m.cols) continue;
        const uint8_t s = m.signMantissa[gt * 4096 + e];
        out[size_t(row) * m.cols + col] = uint16_t(((s & 0x80) << 8) | ((exp & 0xff) << 7) | (s & 0x7f));
      }
    }
  }
  return out;
}

}  // namespace zipserv::tca
