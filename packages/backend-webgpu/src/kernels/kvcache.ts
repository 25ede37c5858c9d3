// Paged KV-cache append: token n's k and v (Hkv*hd values each, from its qkv row) go to cache slot
// slots[n] of [blocks, blockSize, Hkv, hd]; the slot index is the flat (block, offset) position,
// so the destination is slot * Hkv*hd. Negative (or out-of-range) slots are skipped.
// A bf16 cache is written as u32 pairs rounded to nearest even, one invocation per pair, which
// needs an even Hkv*hd so that no two slots share a word.

import type { KvAppendOp } from '@zipserv/format';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { BF16, LINEAR_WORKGROUP } from './wgsl.js';

const KV_PARAMS: ParamSpec = [
  ['tokens', 'u32'],
  ['rowWidth', 'u32'],
  ['kOffset', 'u32'],
  ['vOffset', 'u32'],
  ['kvWidth', 'u32'],
  ['numSlots', 'u32'],
];

function kvShader(bf16: boolean): string {
  const body = bf16
    ? /* wgsl */ `
  let pairs = P.kvWidth / 2u;
  if (idx >= P.tokens * pairs) { return; }
  let n = idx / pairs;
  let e = (idx % pairs) * 2u;
  let slot = slots[n];
  if (slot < 0 || u32(slot) >= P.numSlots) { return; }
  let src = n * P.rowWidth;
  let dst = (u32(slot) * P.kvWidth + e) / 2u;
  kc[dst] = f32ToBf16(qkv[src + P.kOffset + e]) | (f32ToBf16(qkv[src + P.kOffset + e + 1u]) << 16u);
  vc[dst] = f32ToBf16(qkv[src + P.vOffset + e]) | (f32ToBf16(qkv[src + P.vOffset + e + 1u]) << 16u);`
    : /* wgsl */ `
  if (idx >= P.tokens * P.kvWidth) { return; }
  let n = idx / P.kvWidth;
  let e = idx % P.kvWidth;
  let slot = slots[n];
  if (slot < 0 || u32(slot) >= P.numSlots) { return; }
  let src = n * P.rowWidth;
  let dst = u32(slot) * P.kvWidth + e;
  kc[dst] = qkv[src + P.kOffset + e];
  vc[dst] = qkv[src + P.vOffset + e];`;
  const elem = bf16 ? 'u32' : 'f32';
  return /* wgsl */ `
${paramStruct(KV_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> kc: array<${elem}>;
@group(0) @binding(3) var<storage, read_write> vc: array<${elem}>;
@group(0) @binding(4) var<storage, read> slots: array<i32>;
${LINEAR_WORKGROUP}
${BF16}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = linearWorkgroup(wg, nwg) * 256u + lid;${body}
}`;
}

export function planKvAppend(ctx: PlanContext, node: KvAppendOp): DispatchPlan[] {
  const qkv = ctx.tensor(node.qkv, 'qkv');
  const kc = ctx.tensor(node.kCache, 'kCache');
  const vc = ctx.tensor(node.vCache, 'vCache');
  const slots = ctx.tensor(node.slots, 'slots');
  if (node.kCache.dtype !== node.vCache.dtype) ctx.fail('kCache and vCache must have one dtype');
  if (kc === vc) ctx.fail('kCache and vCache must be different tensors');
  const [blocks, blockSize, heads, headDim] = node.kCache.shape as [number, number, number, number];
  const kvWidth = heads * headDim;
  const bf16 = node.kCache.dtype === 'bf16';
  if (bf16 && kvWidth % 2 !== 0) ctx.fail(`a bf16 cache needs an even Hkv*hd, got ${kvWidth}`);
  const tokens = node.qkv.shape[0]!;
  const count = bf16 ? (tokens * kvWidth) / 2 : tokens * kvWidth;
  return [
    {
      label: `kvAppend ${tokens}x${kvWidth} ${node.kCache.dtype}`,
      pipeline: ctx.pipeline(`kvAppend:${node.kCache.dtype}`, () => kvShader(bf16)),
      bindings: [
        ctx.params(KV_PARAMS, {
          tokens,
          rowWidth: node.qkv.shape[1]!,
          kOffset: node.kOffset,
          vOffset: node.vOffset,
          kvWidth,
          numSlots: blocks * blockSize,
        }),
        qkv,
        kc,
        vc,
        slots,
      ],
      workgroups: grid2d(Math.ceil(count / 256), ctx.limits.maxComputeWorkgroupsPerDimension),
    },
  ];
}
