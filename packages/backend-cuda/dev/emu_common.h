// Helpers shared by the CPU emulations of kernel bit math (dev/*_emu.cpp): a SplitMix64 generator and PRMT.
#pragma once

#include <cstdint>

inline uint64_t sm64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// PRMT default mode: selector nibble bits 0..2 pick one of the 8 bytes {b:a}, bit 3 replicates its sign bit.
inline uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
  const uint64_t x = (uint64_t(b) << 32) | a;
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    const uint32_t s = (sel >> (4 * i)) & 15;
    uint32_t v = uint32_t((x >> (8 * (s & 7))) & 0xff);
    if (s & 8) v = (v & 0x80) ? 0xff : 0;
    r |= v << (8 * i);
  }
  return r;
}
