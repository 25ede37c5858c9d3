// CPU emulation of the v8 stream decode (native/gemm/zipgemm_stream.cu: decode_band, patch_band and the
// ldmatrix addressing) for one 64x64 tile per case, against the host codec: every element of every A fragment.
// Build: g++ -O2 -std=c++17 -Inative -Idev dev/v8_decode_emu.cpp native/gemm/host_codec.cpp -lpthread
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "emu_common.h"
#include "gemm/host_codec.h"
using namespace zipserv;
int main() {
  int fails = 0;
  for (int base : {0, 1, 120, 243, 249})
    for (int pct : {0, 3, 30, 100}) {
      const int M = 64, K = 64;
      std::vector<uint16_t> w(M * K);
      uint64_t s = base * 131 + pct;
      for (auto& b : w) {
        uint64_t r = sm64(s);
        int e = base + int(r % 7);
        if (int((r >> 8) % 100) < pct) e = int((r >> 16) % 256);
        b = uint16_t(((r >> 32) & 0x8000) | (uint32_t(e) << 7) | ((r >> 40) & 0x7f));
      }
      auto h = tca::encode(w.data(), M, K, base);
      const uint32_t len = h.outlierOffsets[1] - h.outlierOffsets[0];
      const uint32_t* bm32 = reinterpret_cast<const uint32_t*>(h.bitmaps.data());
      const uint8_t* smb = h.signMantissa.data();
      const uint32_t e0 = uint32_t(base);
      const uint32_t lut0 = e0 | ((e0 + 1) << 8) | ((e0 + 2) << 16) | ((e0 + 3) << 24);
      const uint32_t lut1 = (e0 + 4) | ((e0 + 5) << 8) | ((e0 + 6) << 16);
      uint32_t segWord[32];
      for (int l = 0; l < 32; l++) {
        segWord[l] = 0;
        if (uint32_t(l) * 4 < len) memcpy(&segWord[l], &h.outliers[h.outlierOffsets[0] + l * 4], 4);
      }
      int bad = 0;
      uint32_t bandBase = 0;
      for (int mt = 0; mt < 4; mt++) {
        std::vector<uint8_t> scratch(2048, 0xee);
        uint32_t om[32], cnt[32];
        for (int lane = 0; lane < 32; lane++) {
          const uint32_t* bm = bm32 + mt * 96 + (lane >> 1) * 6 + (lane & 1);
          const uint32_t P1 = bm[0], P2 = bm[2], P3 = bm[4];
          om[lane] = P1 & P2 & P3;
          cnt[lane] = __builtin_popcount(om[lane]);
          uint32_t sel[4];
          sel[0] = (P1 & 0x11111111u) | ((P2 << 1) & 0x22222222u) | ((P3 << 2) & 0x44444444u);
          sel[1] = ((P1 >> 1) & 0x11111111u) | (P2 & 0x22222222u) | ((P3 << 1) & 0x44444444u);
          sel[2] = ((P1 >> 2) & 0x11111111u) | ((P2 >> 1) & 0x22222222u) | (P3 & 0x44444444u);
          sel[3] = ((P1 >> 3) & 0x11111111u) | ((P2 >> 2) & 0x22222222u) | ((P3 >> 1) & 0x44444444u);
          uint32_t X[4][2];
          for (int q = 0; q < 4; q++) {
            X[q][0] = prmt(lut0, lut1, sel[q] & 0xffff);
            X[q][1] = prmt(lut0, lut1, (sel[q] >> 16) & 0xffff);
          }
          uint32_t S[8];
          memcpy(S, smb + mt * 1024 + (lane >> 1) * 64 + (lane & 1) * 32, 32);
          const int t = lane >> 1, hh = lane & 1;
          const uint32_t rowBase = uint32_t(t) * 128;
          for (int r = 0; r < 4; r++) {
            uint32_t o[4];
            for (int c = 0; c < 4; c++) {
              const int s0 = (2 * c) & 3, b = 2 * (r & 1) + (c >> 1);
              const uint32_t xe = prmt(X[s0][r >> 1], X[s0 + 1][r >> 1], uint32_t(b | (b << 4) | ((4 + b) << 8) | ((4 + b) << 12)));
              const uint32_t sd = prmt(S[2 * r + (c >> 1)], 0u, (c & 1) ? 0x3322u : 0x1100u);
              o[c] = ((xe << 7) & 0x7F807F80u) | (sd & 0x807F807Fu);
            }
            memcpy(&scratch[rowBase + ((uint32_t((4 * hh + r) ^ (t & 3))) << 4)], o, 16);
          }
        }
        // patch_band
        uint32_t incl = 0, total = 0;
        for (int l = 0; l < 32; l++) total += cnt[l];
        for (int lane = 0; lane < 32; lane++) {
          incl += cnt[lane];
          uint32_t k = bandBase + incl - cnt[lane];
          const int t = lane >> 1, hh = lane & 1;
          const uint32_t rowBase = uint32_t(t) * 128;
          uint32_t m = om[lane];
          while (m) {
            const uint32_t word = segWord[(k >> 2) & 31u];
            const int e = __builtin_ctz(m);
            m &= m - 1u;
            uint32_t ex = prmt(word, 0u, 0x4440u | (k & 3u));
            if (k >= 128) ex = k < len ? uint32_t(h.outliers[h.outlierOffsets[0] + k]) : 0u;
            k++;
            const uint32_t laneBase = rowBase + uint32_t(lane & 1) * 64, swz = uint32_t((lane >> 1) & 3) << 3;
            const uint32_t a = laneBase + ((uint32_t(e) ^ swz) << 1);
            uint16_t v;
            memcpy(&v, &scratch[a], 2);
            v = uint16_t(v | (ex << 7));
            memcpy(&scratch[a], &v, 2);
          }
        }
        bandBase += total;
        // ldmatrix.x4 per k16 slice: lane provides the row address of matrix lane>>3, row lane&7; the lane then
        // receives (row lane/4, cols 2(lane%4), +1) of each matrix i.
        for (int sl = 0; sl < 4; sl++) {
          uint32_t rowAddr[32];
          for (int lane = 0; lane < 32; lane++)
            rowAddr[lane] = uint32_t(sl) * 512 + uint32_t(lane >> 3) * 128 + ((uint32_t((lane & 7) ^ (lane >> 3))) << 4);
          for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++) {
              const uint32_t addr = rowAddr[8 * i + (lane >> 2)] + (lane & 3) * 4;
              uint16_t v[2];
              memcpy(v, &scratch[addr], 4);
              // A fragment register i: rows g + 8(i&1), cols 2q + 8(i>>1) (+1) of the band's k16 slice sl
              const int row = mt * 16 + (lane >> 2) + 8 * (i & 1), col = sl * 16 + 8 * (i >> 1) + 2 * (lane & 3);
              for (int u = 0; u < 2; u++)
                if (v[u] != w[row * K + col + u]) {
                  if (bad < 5) printf("  base %d pct %d: row %d col %d got %04x want %04x\n", base, pct, row, col + u, v[u], w[row * K + col + u]);
                  bad++;
                }
            }
        }
      }
      printf("expBase %3d outliers %3d%% (segment %u B): %d wrong of 4096\n", base, pct, len, bad);
      fails += bad;
    }
  printf(fails ? "FAIL\n" : "OK\n");
  return fails ? 1 : 0;
}
