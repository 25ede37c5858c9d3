// Byte-granular tensor writes: queue.writeBuffer needs 4-byte offsets and sizes, so a write to a
// u8 or bf16 tensor at any other offset/length is staged in a temporary buffer and merged into the
// destination by this kernel, one invocation per destination word (so no two invocations share one).

import { type ParamSpec, paramStruct } from './plan.js';
import { LINEAR_WORKGROUP } from './wgsl.js';

export const PATCH_PARAMS: ParamSpec = [
  ['byteOffset', 'u32'],
  ['byteLength', 'u32'],
  ['firstWord', 'u32'],
  ['wordCount', 'u32'],
];

export const PATCH_SHADER = /* wgsl */ `
${paramStruct(PATCH_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<u32>;
${LINEAR_WORKGROUP}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wg, nwg) * 256u + lid;
  if (i >= P.wordCount) { return; }
  let w = P.firstWord + i;
  var word = dst[w];
  for (var b = 0u; b < 4u; b++) {
    let g = w * 4u + b;
    if (g >= P.byteOffset && g < P.byteOffset + P.byteLength) {
      let s = g - P.byteOffset;
      let byte = (src[s >> 2u] >> ((s & 3u) * 8u)) & 0xffu;
      word = (word & ~(0xffu << (b * 8u))) | (byte << (b * 8u));
    }
  }
  dst[w] = word;
}`;
