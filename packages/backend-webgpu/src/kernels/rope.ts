// Rotary embedding in place, Hugging Face rotate_half layout: for i < hd/2,
//   x[i] <- x[i] cos - x[i + hd/2] sin,  x[i + hd/2] <- x[i + hd/2] cos + x[i] sin,
// angle = f32(position) * inv_freq[i] in f32 as transformers computes it. WGSL's sin/cos are only
// accurate near zero on most drivers, so the kernel reduces the angle by pi/2 in three parts
// (Cody-Waite) and evaluates minimax polynomials (Cephes sinf/cosf): ~1 ulp for |angle| < 1e5.

import type { RopeOp, RopeScaling } from '@zipserv/format';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { LINEAR_WORKGROUP } from './wgsl.js';

const ROPE_PARAMS: ParamSpec = [
  ['tokens', 'u32'],
  ['rowWidth', 'u32'],
  ['firstHead', 'u32'],
  ['numHeads', 'u32'],
  ['headDim', 'u32'],
  ['half', 'u32'],
];

/** inv_freq[i] = theta^(-2i/hd) with transformers' llama3 / linear adjustments, rounded to f32. */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling?: RopeScaling): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    // transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), in float32
    const exponent = Math.fround((2 * i) / headDim);
    inv[i] = Math.fround(1 / Math.fround(theta ** exponent));
  }
  if (!scaling) return inv;
  if (scaling.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = Math.fround(inv[i]! / scaling.factor);
    return inv;
  }
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldLen } = scaling;
  const lowFreqWavelen = oldLen / lowFreqFactor;
  const highFreqWavelen = oldLen / highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = inv[i]!;
    const wavelen = (2 * Math.PI) / f;
    let v = wavelen > lowFreqWavelen ? f / factor : f;
    if (!(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)) {
      const smooth = (oldLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      v = ((1 - smooth) * v) / factor + smooth * v;
    }
    inv[i] = Math.fround(v);
  }
  return inv;
}

const ROPE_SHADER = /* wgsl */ `
${paramStruct(ROPE_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<i32>;
@group(0) @binding(3) var<storage, read> invFreq: array<f32>;
${LINEAR_WORKGROUP}

// (sin a, cos a) for f32 a
fn sinCos(a: f32) -> vec2<f32> {
  let jf = round(a * 0.636619772367581343);
  let r = ((a - jf * 1.5703125) - jf * 4.83751296997070312e-4) - jf * 7.54978995489188216e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  let quadrant = u32(i32(jf) & 3);
  switch quadrant {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = linearWorkgroup(wg, nwg) * 256u + lid;
  if (idx >= P.tokens * P.numHeads * P.half) { return; }
  let i = idx % P.half;
  let h = (idx / P.half) % P.numHeads;
  let n = idx / (P.half * P.numHeads);
  let sc = sinCos(f32(positions[n]) * invFreq[i]);
  let base = n * P.rowWidth + (P.firstHead + h) * P.headDim;
  let x1 = x[base + i];
  let x2 = x[base + i + P.half];
  x[base + i] = x1 * sc.y - x2 * sc.x;
  x[base + i + P.half] = x2 * sc.y + x1 * sc.x;
}`;

export function planRope(ctx: PlanContext, node: RopeOp): DispatchPlan[] {
  const x = ctx.tensor(node.x, 'x');
  const positions = ctx.tensor(node.positions, 'positions');
  const tokens = node.x.shape[0]!;
  const half = node.headDim / 2;
  const invFreq = ctx.constant('rope.invFreq', ropeInverseFrequencies(node.headDim, node.theta, node.scaling));
  const count = tokens * node.numHeads * half;
  return [
    {
      label: `rope ${tokens}x${node.numHeads}x${node.headDim}`,
      pipeline: ctx.pipeline('rope', () => ROPE_SHADER),
      bindings: [
        ctx.params(ROPE_PARAMS, {
          tokens,
          rowWidth: node.x.shape[1]!,
          firstHead: node.firstHead,
          numHeads: node.numHeads,
          headDim: node.headDim,
          half,
        }),
        x,
        positions,
        invFreq,
      ],
      workgroups: grid2d(Math.ceil(count / 256), ctx.limits.maxComputeWorkgroupsPerDimension),
    },
  ];
}
