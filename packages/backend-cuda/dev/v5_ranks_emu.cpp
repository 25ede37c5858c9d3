// CPU emulation of the v5 producer-side outlier ranks (native/gemm/zipgemm.cu stage_outlier_ranks): the
// rank table the producer writes (lane l: small tiles 2l, 2l+1, uint4 loads, warp scan) must equal, for
// every consumer lane of every band, v4's per-warp rank (earlier bands + lane scan) and the true rank of
// the lane's first outlier in the tile's segment (host codec order). Exit code = number of mismatches.
// Build: g++ -O2 -std=c++17 -Inative dev/v5_ranks_emu.cpp native/gemm/host_codec.cpp -lpthread
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "gemm/host_codec.h"
using namespace zipserv;
static uint64_t sm64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static int popc(uint32_t x) { return __builtin_popcount(x); }

int main() {
  int fails = 0, checked = 0;
  for (int base : {0, 120, 249})
    for (int pct : {0, 3, 30, 100}) {
      const int M = 64, K = 64;
      std::vector<uint16_t> w(M * K);
      uint64_t s = base * 131 + pct;
      for (auto& b : w) {
        const uint64_t r = sm64(s);
        int e = base + int(r % 7);
        if (int((r >> 8) % 100) < pct) e = std::max(1, base - 8 - int((r >> 16) % 50));
        b = uint16_t(((r >> 32) & 0x8000) | (uint32_t(e) << 7) | ((r >> 40) & 0x7f));
      }
      const auto h = tca::encode(w.data(), M, K, base);
      const uint32_t* bm32 = reinterpret_cast<const uint32_t*>(h.bitmaps.data());
      // Producer: lane l reads uint4 q[3l..3l+2] = words 12l..12l+11.
      uint16_t ranks[128];
      int sums[32];
      for (int l = 0; l < 32; l++) {
        const uint32_t* q = bm32 + 12 * l;  // a = q[0..3], b = q[4..7], c = q[8..11]
        const int h0 = popc(q[0] & q[2] & q[4]), h1 = popc(q[1] & q[3] & q[5]);
        const int h2 = popc(q[6] & q[8] & q[10]), h3 = popc(q[7] & q[9] & q[11]);
        sums[l] = h0 + h1 + h2 + h3;
        int excl = 0;
        for (int i = 0; i < l; i++) excl += sums[i];
        ranks[4 * l] = uint16_t(excl), ranks[4 * l + 1] = uint16_t(excl + h0);
        ranks[4 * l + 2] = uint16_t(excl + h0 + h1), ranks[4 * l + 3] = uint16_t(excl + h0 + h1 + h2);
      }
      // True rank: outliers of the tile in small-tile order, rows 0..7, columns 0..7 (host codec order).
      std::vector<int> trueRank(128);
      int run = 0;
      for (int t = 0; t < 64; t++)
        for (int hh = 0; hh < 2; hh++) {
          trueRank[t * 2 + hh] = run;
          run += popc(bm32[t * 6 + hh] & bm32[t * 6 + 2 + hh] & bm32[t * 6 + 4 + hh]);
        }
      const uint32_t segLen = h.outlierOffsets[1] - h.outlierOffsets[0];
      if (uint32_t(run) > segLen) fails++;  // the segment holds every outlier exponent (+ padding)
      // v4 consumer formula per band w, lane = tl * 2 + hh.
      for (int wp = 0; wp < 4; wp++) {
        int cnt[32], before[32];
        for (int lane = 0; lane < 32; lane++) {
          const int tl = lane >> 1, hh = lane & 1, t = wp * 16 + tl;
          cnt[lane] = popc(bm32[t * 6 + hh] & bm32[t * 6 + 2 + hh] & bm32[t * 6 + 4 + hh]);
          before[lane] = 0;
          for (int b = 0; b < wp; b++) {
            const int u = (b * 16 + tl) * 6 + hh;
            before[lane] += popc(bm32[u] & bm32[u + 2] & bm32[u + 4]);
          }
        }
        int redux = 0;
        for (int lane = 0; lane < 32; lane++) redux += before[lane];
        int incl = 0;
        for (int lane = 0; lane < 32; lane++) {
          incl += cnt[lane];
          const int v4k = redux + incl - cnt[lane];
          const int t = wp * 16 + (lane >> 1), hh = lane & 1;
          const int v5k = ranks[t * 2 + hh];  // consumer: u16 at byte t * 4 + h * 2
          checked++;
          if (v4k != v5k || v5k != trueRank[t * 2 + hh]) {
            if (fails < 10) printf("mismatch base %d pct %d band %d lane %d: v4 %d v5 %d true %d\n", base, pct, wp, lane, v4k, v5k, trueRank[t * 2 + hh]);
            fails++;
          }
        }
      }
    }
  printf("v5 ranks: %d lanes checked, %d wrong\n", checked, fails);
  return fails;
}
