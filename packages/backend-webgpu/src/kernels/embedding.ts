// Embedding gather: out[n, :] = table[ids[n], :], decoding only the gathered rows of a compressed
// table (or reading a raw one). One dispatch per weight part; each writes the tokens whose id falls
// in its rows. Ids outside [0, V) give a zero row (a GPU kernel cannot throw).

import type { EmbeddingOp } from '@zipserv/format';
import { partBuffers } from '../weights.js';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { BF16, LINEAR_WORKGROUP, RAW_DECODE_AT, TCA_DECODE_AT, weightBindings } from './wgsl.js';

const EMBEDDING_PARAMS: ParamSpec = [
  ['cols', 'u32'],
  ['partRows', 'u32'],
  ['tileCols', 'u32'],
  ['expBase', 'u32'],
  ['rowBase', 'u32'],
  ['vocab', 'u32'],
  ['tokens', 'u32'],
  ['firstPart', 'u32'],
];

function embeddingShader(storage: 'tca-tbe' | 'raw'): string {
  return /* wgsl */ `
${paramStruct(EMBEDDING_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${weightBindings(storage, 3)}
${LINEAR_WORKGROUP}
${BF16}
${storage === 'raw' ? RAW_DECODE_AT : TCA_DECODE_AT}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wg, nwg) * 256u + lid;
  if (i >= P.tokens * P.cols) { return; }
  let n = i / P.cols;
  let d = i % P.cols;
  let id = ids[n];
  if (id < 0 || u32(id) >= P.vocab) {
    if (P.firstPart != 0u) { out[i] = 0.0; }
    return;
  }
  let r = u32(id);
  if (r < P.rowBase || r >= P.rowBase + P.partRows) { return; }
  out[i] = bf16ToF32(decodeAt(r - P.rowBase, d));
}`;
}

export function planEmbedding(ctx: PlanContext, node: EmbeddingOp): DispatchPlan[] {
  const w = ctx.weight(node.table, 'table');
  const ids = ctx.tensor(node.ids, 'ids');
  const out = ctx.tensor(node.out, 'out');
  const tokens = node.ids.shape[0]!;
  const pipeline = ctx.pipeline(`embedding:${w.storage}`, () => embeddingShader(w.storage));
  return w.parts.map((part, i) => ({
    label: `embedding ${w.rows}x${w.cols} rows ${part.rowStart}+${part.rows}`,
    pipeline,
    bindings: [
      ctx.params(EMBEDDING_PARAMS, {
        cols: w.cols,
        partRows: part.rows,
        tileCols: w.tileCols,
        expBase: w.expBase,
        rowBase: part.rowStart,
        vocab: w.rows,
        tokens,
        firstPart: i === 0 ? 1 : 0,
      }),
      ids,
      out,
      ...partBuffers(w, part),
    ],
    workgroups: grid2d(Math.ceil((tokens * w.cols) / 256), ctx.limits.maxComputeWorkgroupsPerDimension),
  }));
}
