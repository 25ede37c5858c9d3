// The rotation of one RoPE pair, shared by the rope kernel and the fused rope + KV-append kernel so both give
// the same bits: (x[i], x[i + hd/2]) of a head rotates by angle position * invFreq[i], an f32 product, with
// full-precision sincosf (no fast math), as torch computes it.
#pragma once

namespace zipserv::ops {

__device__ __forceinline__ void rope_rotate_pair(float* head, int i, int half, int position,
                                                 const float* __restrict__ invFreq) {
  const float angle = static_cast<float>(position) * invFreq[i];
  float sn, cs;
  sincosf(angle, &sn, &cs);
  const float x1 = head[i];
  const float x2 = head[i + half];
  head[i] = x1 * cs - x2 * sn;
  head[i + half] = x2 * cs + x1 * sn;
}

}  // namespace zipserv::ops
