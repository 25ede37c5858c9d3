// RMSNorm over groups of D contiguous columns (D = weight length): a whole row, or per-head groups
// (Qwen3 q/k norm), restricted to columns [offset, offset + width) of each row. One workgroup of 64
// per group. In place (out = x) binds the tensor once: WebGPU forbids a buffer in a writable and
// another binding of one dispatch; every invocation rewrites only what it read.

import { type RmsNormOp, elementCount } from '@zipserv/format';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { LINEAR_WORKGROUP } from './wgsl.js';

const RMSNORM_PARAMS: ParamSpec = [
  ['rowWidth', 'u32'],
  ['offset', 'u32'],
  ['groupSize', 'u32'],
  ['groupsPerRow', 'u32'],
  ['groups', 'u32'],
  ['eps', 'f32'],
];

function rmsnormShader(subgroups: boolean, inPlace: boolean): string {
  // With subgroups, each subgroup reduces in registers and one value per subgroup goes through
  // workgroup memory; the device check in backend.ts guarantees subgroups are linear in the index.
  const reduce = subgroups
    ? /* wgsl */ `
  let sgSum = subgroupAdd(ss);
  if (sgLane == 0u) { red[lid / sgSize] = sgSum; }
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < 64u / sgSize; i++) { total += red[i]; }`
    : /* wgsl */ `
  red[lid] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];`;
  return /* wgsl */ `
${subgroups ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);' : ''}
${paramStruct(RMSNORM_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
${
  inPlace
    ? '@group(0) @binding(1) var<storage, read> weight: array<f32>;\n@group(0) @binding(2) var<storage, read_write> out: array<f32>;\nfn loadX(i: u32) -> f32 { return out[i]; }'
    : '@group(0) @binding(1) var<storage, read> weight: array<f32>;\n@group(0) @binding(2) var<storage, read_write> out: array<f32>;\n@group(0) @binding(3) var<storage, read> x: array<f32>;\nfn loadX(i: u32) -> f32 { return x[i]; }'
}
${LINEAR_WORKGROUP}
var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${subgroups ? ', @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32' : ''}) {
  let g = linearWorkgroup(wg, nwg);
  if (g >= P.groups) { return; }
  let base = (g / P.groupsPerRow) * P.rowWidth + P.offset + (g % P.groupsPerRow) * P.groupSize;
  var ss = 0.0;
  for (var d = lid; d < P.groupSize; d += 64u) {
    let v = loadX(base + d);
    ss += v * v;
  }
${reduce}
  let r = 1.0 / sqrt(total / f32(P.groupSize) + P.eps);
  for (var d = lid; d < P.groupSize; d += 64u) {
    out[base + d] = (loadX(base + d) * r) * weight[d];
  }
}`;
}

export function planRmsNorm(ctx: PlanContext, node: RmsNormOp): DispatchPlan[] {
  const x = ctx.tensor(node.x, 'x');
  const weight = ctx.tensor(node.weight, 'weight');
  const out = ctx.tensor(node.out, 'out');
  const rowWidth = node.x.shape[node.x.shape.length - 1]!;
  const rows = elementCount(node.x.shape) / rowWidth;
  const offset = node.offset ?? 0;
  const width = node.width ?? rowWidth - offset;
  const groupSize = node.weight.shape[0]!;
  const groupsPerRow = width / groupSize;
  const groups = rows * groupsPerRow;
  const subgroups = ctx.features.subgroups;
  const inPlace = x === out;
  return [
    {
      label: `rmsnorm ${rows}x${width}/${groupSize}`,
      pipeline: ctx.pipeline(`rmsnorm:${subgroups ? 'sg' : 'wg'}:${inPlace ? 'inplace' : 'copy'}`, () => rmsnormShader(subgroups, inPlace)),
      bindings: [
        ctx.params(RMSNORM_PARAMS, { rowWidth, offset, groupSize, groupsPerRow, groups, eps: node.eps }),
        weight,
        out,
        ...(inPlace ? [] : [x]),
      ],
      workgroups: grid2d(groups, ctx.limits.maxComputeWorkgroupsPerDimension),
    },
  ];
}
