// CPU test of the C++ TCA-TBE host codec (native/gemm/host_codec.cpp):
//  - byte-identical to the TypeScript encoder on golden data (dev/make-golden.ts output), if given;
//  - round trip on random N(0,0.02)-like, all-65536-pattern and ragged matrices, forced windows.
// Usage: host_codec_test [golden.bin]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "gemm/host_codec.h"

using namespace zipserv::tca;
static int failures = 0;
static void expect(bool ok, const std::string& what) {
  printf("%s %s\n", ok ? "  ok  " : "  FAIL", what.c_str());
  if (!ok) failures++;
}

static uint16_t to_bf16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

static void golden(const char* path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    expect(false, std::string("open golden ") + path);
    return;
  }
  std::vector<char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t p = 0;
  int n = 0;
  auto take = [&](void* dst, size_t bytes) {
    if (p + bytes > data.size()) throw std::runtime_error("golden file truncated");
    memcpy(dst, data.data() + p, bytes);
    p += bytes;
  };
  while (p < data.size()) {
    uint32_t head[4];
    take(head, 16);
    const int rows = int(head[0]), cols = int(head[1]);
    HostMatrix ref;
    ref.rows = rows;
    ref.cols = cols;
    ref.expBase = int(head[2]);
    std::vector<uint16_t> bits(size_t(rows) * cols);
    take(bits.data(), bits.size() * 2);
    ref.bitmaps.resize(ref.tiles() * 192);
    ref.signMantissa.resize(ref.tiles() * 4096);
    ref.outliers.resize(head[3]);
    ref.outlierOffsets.resize(ref.tiles() + 1);
    take(ref.bitmaps.data(), ref.bitmaps.size() * 8);
    take(ref.signMantissa.data(), ref.signMantissa.size());
    take(ref.outliers.data(), ref.outliers.size());
    take(ref.outlierOffsets.data(), ref.outlierOffsets.size() * 4);
    const HostMatrix m = encode(bits.data(), rows, cols, -1, 2);
    const bool same = m.expBase == ref.expBase && m.bitmaps == ref.bitmaps && m.signMantissa == ref.signMantissa &&
                      m.outliers == ref.outliers && m.outlierOffsets == ref.outlierOffsets;
    expect(same && decode(m) == bits, "golden tensor " + std::to_string(n) + " (" + std::to_string(rows) + "x" +
                                          std::to_string(cols) + ", expBase " + std::to_string(m.expBase) +
                                          ") identical to the TS encoder, round trip");
    n++;
  }
  expect(n > 0, "golden file holds tensors");
}

int main(int argc, char** argv) {
  try {
    if (argc > 1) golden(argv[1]);
    std::mt19937_64 rng(12345);
    std::normal_distribution<float> nd(0.f, 0.02f);
    for (auto [r, c] : {std::pair{1, 1}, {64, 64}, {65, 130}, {172, 64}, {32, 4099}, {300, 700}}) {
      std::vector<uint16_t> w(size_t(r) * c);
      for (auto& v : w) v = to_bf16(nd(rng));
      const HostMatrix m = encode(w.data(), r, c);
      const double bits = 8.0 * m.storedBytes() / w.size();
      expect(decode(m) == w, "round trip " + std::to_string(r) + "x" + std::to_string(c) + " (" +
                                 std::to_string(bits).substr(0, 5) + " bits/weight)");
      const HostMatrix single = encode(w.data(), r, c, -1, 1);
      expect(single.bitmaps == m.bitmaps && single.outliers == m.outliers, "thread count does not change the output");
    }
    std::vector<uint16_t> all(65536);
    for (int i = 0; i < 65536; i++) all[i] = uint16_t(i);
    for (int eb : {-1, 0, 7, 126, 249}) {
      const HostMatrix m = encode(all.data(), 256, 256, eb);
      expect(decode(m) == all, "all 65536 patterns, expBase " + std::to_string(m.expBase));
    }
    // Size on N(0, 0.02): ~11.2 bits/weight.
    std::vector<uint16_t> big(size_t(1024) * 1024);
    for (auto& v : big) v = to_bf16(nd(rng));
    const HostMatrix m = encode(big.data(), 1024, 1024);
    const double bpw = 8.0 * m.storedBytes() / big.size();
    expect(bpw > 11.0 && bpw < 11.5, "N(0,0.02) 1024x1024: " + std::to_string(bpw) + " bits/weight");
    // A corrupted bitmap is caught by the decoder.
    HostMatrix bad = m;
    bad.bitmaps[0] |= 7;  // three planes' bit 0 -> one more outlier than the segment holds (if not padded)
    bad.bitmaps[1] |= 0xffffffffffffull;
    bad.bitmaps[2] |= 0xffffffffffffull;
    bool threw = false;
    try {
      decode(bad, "corrupt");
    } catch (const std::exception& e) {
      threw = std::string(e.what()).find("corrupt: tile 0") == 0;
    }
    expect(threw, "corrupted bitmap rejected with a message naming the matrix and tile");
  } catch (const std::exception& e) {
    printf("  FAIL exception: %s\n", e.what());
    failures++;
  }
  printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
