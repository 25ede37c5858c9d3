// TCA-TBE v1 host encoder/decoder in C++ (SPEC.md, packages/format), for the kernel harness and tests.
// Multi-threaded over tile rows; output is byte-identical to @zipserv/codec-ref's encodeMatrix.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace zipserv::tca {

struct HostMatrix {
  int rows = 0, cols = 0, expBase = 0;
  std::vector<uint64_t> bitmaps;         // [tiles, 64, 3]
  std::vector<uint8_t> signMantissa;     // [tiles, 4096]
  std::vector<uint8_t> outliers;         // [outlierBytes]
  std::vector<uint32_t> outlierOffsets;  // [tiles + 1]
  int tileRows() const { return (rows + 63) / 64; }
  int tileCols() const { return (cols + 63) / 64; }
  size_t tiles() const { return size_t(tileRows()) * tileCols(); }
  size_t storedBytes() const {
    return bitmaps.size() * 8 + signMantissa.size() + outliers.size() + outlierOffsets.size() * 4;
  }
};

/** Stream index (0..4095) of element (r, c) of a 64x64 global tile. */
inline int tile_element_index(int r, int c) {
  const int t = (r >> 4) * 16 + (c >> 4) * 4 + (((r >> 3) & 1) | (((c >> 3) & 1) << 1));
  return t * 64 + (r & 7) * 8 + (c & 7);
}

/** Best-covering window of the true elements; ties go to the smallest expBase. */
int choose_exp_base(const uint16_t* bits, size_t count);

/** bits: [rows, cols] bf16 row-major. expBase < 0: best-covering window. threads 0: hardware count. */
HostMatrix encode(const uint16_t* bits, int rows, int cols, int expBase = -1, int threads = 0);

/** Decodes to [rows, cols] bf16; throws std::runtime_error naming `what` on a malformed matrix. */
std::vector<uint16_t> decode(const HostMatrix& m, const std::string& what = "matrix");

}  // namespace zipserv::tca
