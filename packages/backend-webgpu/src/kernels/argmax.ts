// Row argmax: out[r] = index of the largest x[r, :], the first one on ties; NaN never wins (a row
// of NaNs gives 0). One workgroup of 256 per row; each invocation scans a strided slice in
// increasing order, then a tree reduction keeps (value, smallest index).

import type { ArgmaxOp } from '@zipserv/format';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { BF16, LINEAR_WORKGROUP } from './wgsl.js';

const ARGMAX_PARAMS: ParamSpec = [
  ['rows', 'u32'],
  ['width', 'u32'],
];

const ARGMAX_SHADER = /* wgsl */ `
${paramStruct(ARGMAX_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;
${LINEAR_WORKGROUP}
${BF16}
const NONE: u32 = 0xffffffffu;
var<workgroup> bestValue: array<f32, 256>;
var<workgroup> bestIndex: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = linearWorkgroup(wg, nwg);
  if (r >= P.rows) { return; }
  var bv = 0.0;
  var bi = NONE;
  for (var i = lid; i < P.width; i += 256u) {
    let v = x[r * P.width + i];
    if (!isNanBits(v) && (bi == NONE || v > bv)) {
      bv = v;
      bi = i;
    }
  }
  bestValue[lid] = bv;
  bestIndex[lid] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let oi = bestIndex[lid + s];
      let ov = bestValue[lid + s];
      let mi = bestIndex[lid];
      if (oi != NONE && (mi == NONE || ov > bestValue[lid] || (ov == bestValue[lid] && oi < mi))) {
        bestValue[lid] = ov;
        bestIndex[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[r] = select(i32(bestIndex[0]), 0, bestIndex[0] == NONE);
  }
}`;

export function planArgmax(ctx: PlanContext, node: ArgmaxOp): DispatchPlan[] {
  const x = ctx.tensor(node.x, 'x');
  const out = ctx.tensor(node.out, 'out');
  const rows = node.x.shape[0]!;
  return [
    {
      label: `argmax ${rows}x${node.x.shape[1]}`,
      pipeline: ctx.pipeline('argmax', () => ARGMAX_SHADER),
      bindings: [ctx.params(ARGMAX_PARAMS, { rows, width: node.x.shape[1]! }), x, out],
      workgroups: grid2d(rows, ctx.limits.maxComputeWorkgroupsPerDimension),
    },
  ];
}
