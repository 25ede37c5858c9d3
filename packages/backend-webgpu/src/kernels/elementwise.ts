// Row-wise and element-wise ops: siluMul (SwiGLU), add, gatherRows. WebGPU forbids one buffer in a
// writable and another binding of the same dispatch, so add (whose out may alias a or b) has
// in-place variants that bind the aliased tensor once.

import { type AddOp, type GatherRowsOp, type SiluMulOp, elementCount } from '@zipserv/format';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { LINEAR_WORKGROUP } from './wgsl.js';

const SILU_PARAMS: ParamSpec = [
  ['tokens', 'u32'],
  ['inner', 'u32'],
];
const ADD_PARAMS: ParamSpec = [['count', 'u32']];
const GATHER_PARAMS: ParamSpec = [
  ['rows', 'u32'],
  ['width', 'u32'],
  ['sourceRows', 'u32'],
];

const HEADER = /* wgsl */ `${LINEAR_WORKGROUP}
`;
const ENTRY = /* wgsl */ `@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = linearWorkgroup(wg, nwg) * 256u + lid;`;

const SILU_SHADER = /* wgsl */ `
${paramStruct(SILU_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${HEADER}
${ENTRY}
  if (idx >= P.tokens * P.inner) { return; }
  let n = idx / P.inner;
  let i = idx % P.inner;
  let g = x[n * 2u * P.inner + i];
  let u = x[n * 2u * P.inner + P.inner + i];
  out[idx] = g / (1.0 + exp(-g)) * u;
}`;

const ADD_SHADER = /* wgsl */ `
${paramStruct(ADD_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${HEADER}
${ENTRY}
  if (idx >= P.count) { return; }
  out[idx] = a[idx] + b[idx];
}`;

const ADD_INPLACE_SHADER = /* wgsl */ `
${paramStruct(ADD_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> other: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${HEADER}
${ENTRY}
  if (idx >= P.count) { return; }
  out[idx] = out[idx] + other[idx];
}`;

const ADD_SELF_SHADER = /* wgsl */ `
${paramStruct(ADD_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${HEADER}
${ENTRY}
  if (idx >= P.count) { return; }
  out[idx] = out[idx] + out[idx];
}`;

const GATHER_SHADER = /* wgsl */ `
${paramStruct(GATHER_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${HEADER}
${ENTRY}
  if (idx >= P.rows * P.width) { return; }
  let r = idx / P.width;
  let d = idx % P.width;
  let src = rows[r];
  var v = 0.0;
  if (src >= 0 && u32(src) < P.sourceRows) { v = x[u32(src) * P.width + d]; }
  out[idx] = v;
}`;

const wgs = (ctx: PlanContext, count: number) => grid2d(Math.ceil(count / 256), ctx.limits.maxComputeWorkgroupsPerDimension);

export function planSiluMul(ctx: PlanContext, node: SiluMulOp): DispatchPlan[] {
  const x = ctx.tensor(node.x, 'x');
  const out = ctx.tensor(node.out, 'out');
  if (x === out) ctx.fail('out must not be x (rows have different widths)');
  const tokens = node.out.shape[0]!;
  const inner = node.out.shape[1]!;
  return [
    {
      label: `siluMul ${tokens}x${inner}`,
      pipeline: ctx.pipeline('siluMul', () => SILU_SHADER),
      bindings: [ctx.params(SILU_PARAMS, { tokens, inner }), x, out],
      workgroups: wgs(ctx, tokens * inner),
    },
  ];
}

export function planAdd(ctx: PlanContext, node: AddOp): DispatchPlan[] {
  const a = ctx.tensor(node.a, 'a');
  const b = ctx.tensor(node.b, 'b');
  const out = ctx.tensor(node.out, 'out');
  const count = elementCount(node.out.shape);
  const params = ctx.params(ADD_PARAMS, { count });
  const plan = (key: string, code: string, bindings: GPUBuffer[]): DispatchPlan[] => [
    { label: `add ${count}`, pipeline: ctx.pipeline(key, () => code), bindings: [params, ...bindings], workgroups: wgs(ctx, count) },
  ];
  if (a === out && b === out) return plan('add:self', ADD_SELF_SHADER, [out]);
  if (a === out) return plan('add:inplace', ADD_INPLACE_SHADER, [b, out]);
  if (b === out) return plan('add:inplace', ADD_INPLACE_SHADER, [a, out]);
  return plan('add', ADD_SHADER, [a, b, out]);
}

export function planGatherRows(ctx: PlanContext, node: GatherRowsOp): DispatchPlan[] {
  const x = ctx.tensor(node.x, 'x');
  const rows = ctx.tensor(node.rows, 'rows');
  const out = ctx.tensor(node.out, 'out');
  if (x === out) ctx.fail('out must not be x');
  const count = node.out.shape[0]! * node.out.shape[1]!;
  return [
    {
      label: `gatherRows ${node.out.shape[0]}x${node.out.shape[1]}`,
      pipeline: ctx.pipeline('gatherRows', () => GATHER_SHADER),
      bindings: [ctx.params(GATHER_PARAMS, { rows: node.out.shape[0]!, width: node.x.shape[1]!, sourceRows: node.x.shape[0]! }), x, rows, out],
      workgroups: wgs(ctx, count),
    },
  ];
}
