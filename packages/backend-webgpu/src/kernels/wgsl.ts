// WGSL helpers shared by several kernels. WGSL has no bf16 type: a BF16 value is the upper half of
// an f32, so widening is a shift and narrowing is round-to-nearest-even on the bits.

/** Linear workgroup index for grids made by grid2d(). */
export const LINEAR_WORKGROUP = /* wgsl */ `
fn linearWorkgroup(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wg.x + wg.y * nwg.x;
}`;

export const BF16 = /* wgsl */ `
fn bf16ToF32(bits: u32) -> f32 {
  return bitcast<f32>((bits & 0xffffu) << 16u);
}

fn isNanBits(v: f32) -> bool {
  // A bit test: compilers may fold v != v away.
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn f32ToBf16(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return ((b >> 16u) | 0x40u) & 0xffffu;
  }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}`;

/**
 * Element decoders for one weight part, over bindings named `bm` (bitmaps as u32 pairs lo, hi),
 * `sm` (sign-mantissa bytes as u32 words), `ol` (outlier bytes as u32 words), `oo` (outlier
 * offsets), or `raw` (BF16 pairs). `P` must have `cols`, `tileCols`, `expBase`.
 * decodeAt(r, c) returns the BF16 bits of element (r, c) of the part (r local to the part).
 */
export const TCA_DECODE_AT = /* wgsl */ `
fn outlierMask(t64: u32) -> vec2<u32> {
  let b = t64 * 6u;
  return vec2<u32>(bm[b] & bm[b + 2u] & bm[b + 4u], bm[b + 1u] & bm[b + 3u] & bm[b + 5u]);
}

fn decodeElement(gt: u32, e: u32) -> u32 {
  let t = e >> 6u;
  let pos = e & 63u;
  let half = pos >> 5u;
  let sh = pos & 31u;
  let b = (gt * 64u + t) * 6u + half;
  let code = ((bm[b] >> sh) & 1u) | (((bm[b + 2u] >> sh) & 1u) << 1u) | (((bm[b + 4u] >> sh) & 1u) << 2u);
  var ex = P.expBase + code;
  if (code == 7u) {
    // rank of this outlier in its tile: all outliers of earlier small tiles, then those below pos
    var rank = 0u;
    for (var u = 0u; u < t; u++) {
      let m = outlierMask(gt * 64u + u);
      rank += countOneBits(m.x) + countOneBits(m.y);
    }
    let m = outlierMask(gt * 64u + t);
    let below = (1u << sh) - 1u;
    if (half == 1u) {
      rank += countOneBits(m.x) + countOneBits(m.y & below);
    } else {
      rank += countOneBits(m.x & below);
    }
    let byteIndex = oo[gt] + rank;
    ex = (ol[byteIndex >> 2u] >> ((byteIndex & 3u) * 8u)) & 0xffu;
  }
  let s8 = (sm[gt * 1024u + (e >> 2u)] >> ((e & 3u) * 8u)) & 0xffu;
  return ((s8 & 0x80u) << 8u) | (ex << 7u) | (s8 & 0x7fu);
}

fn decodeAt(r: u32, c: u32) -> u32 {
  let gt = (r >> 6u) * P.tileCols + (c >> 6u);
  let rt = r & 63u;
  let ct = c & 63u;
  let t = (rt >> 4u) * 16u + (ct >> 4u) * 4u + ((rt >> 3u) & 1u) + (((ct >> 3u) & 1u) << 1u);
  return decodeElement(gt, t * 64u + (rt & 7u) * 8u + (ct & 7u));
}`;

export const RAW_DECODE_AT = /* wgsl */ `
fn decodeAt(r: u32, c: u32) -> u32 {
  let e = r * P.cols + c;
  return (raw[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
}`;

/** Binding declarations of a weight part starting at binding `first`. */
export function weightBindings(storage: 'tca-tbe' | 'raw', first: number): string {
  if (storage === 'raw') return `@group(0) @binding(${first}) var<storage, read> raw: array<u32>;`;
  return [
    `@group(0) @binding(${first}) var<storage, read> bm: array<u32>;`,
    `@group(0) @binding(${first + 1}) var<storage, read> sm: array<u32>;`,
    `@group(0) @binding(${first + 2}) var<storage, read> ol: array<u32>;`,
    `@group(0) @binding(${first + 3}) var<storage, read> oo: array<u32>;`,
  ].join('\n');
}
