// The rotation of one RoPE pair, shared by the rope kernel and the fused rope + KV-append kernel so both give
// the same bits: (x[i], x[i + hd/2]) of a head rotates by angle position * invFreq[i], an f32 product, with
// full-precision sincosf (no fast math), as torch computes it.
#pragma once

namespace zipserv::ops {

/** Rotates pair i of `head` in place and returns the rotated (x[i], x[i + half]). */
__device__ __forceinline__ float2 rope_rotate_pair(float* head, int i, int half, int position,
                                                   const float* __restrict__ invFreq) {
  const float angle = static_cast<float>(position) * invFreq[i];
  float sn, cs;
  sincosf(angle, &sn, &cs);
  const float x1 = head[i];
  const float x2 = head[i + half];
  const float2 r = make_float2(x1 * cs - x2 * sn, x2 * cs + x1 * sn);
  head[i] = r.x;
  head[i + half] = r.y;
  return r;
}

}  // namespace zipserv::ops
