// Decompression of a weight to BF16, row-major, two values per u32 (the layout of a bf16 tensor).
// One invocation per output word decodes its two elements independently, so odd column counts
// (pairs that straddle rows) need no special case. Outlier ranks are found by scanning the
// outlier masks of earlier small tiles: outliers are rare (~2%) and this op is not on the
// decode-step path (ZipGEMM decodes in registers).

import { type DecompressOp, GLOBAL_TILE } from '@zipserv/format';
import { type WeightPart, type WeightRecord, partBuffers } from '../weights.js';
import { type BufferRange, type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';

import { LINEAR_WORKGROUP, RAW_DECODE_AT, TCA_DECODE_AT, weightBindings } from './wgsl.js';

const DECOMPRESS_PARAMS: ParamSpec = [
  ['cols', 'u32'],
  ['partRows', 'u32'],
  ['tileCols', 'u32'],
  ['expBase', 'u32'],
  ['outWord0', 'u32'],
  ['rowFirst', 'u32'],
  ['wordCount', 'u32'],
];

function decompressShader(storage: 'tca-tbe' | 'raw'): string {
  return /* wgsl */ `
${paramStruct(DECOMPRESS_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
${weightBindings(storage, 2)}
${LINEAR_WORKGROUP}
${storage === 'raw' ? RAW_DECODE_AT : TCA_DECODE_AT}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wg, nwg) * 256u + lid;
  if (i >= P.wordCount) { return; }
  let total = P.partRows * P.cols;   // elements of rows rowFirst .. rowFirst + partRows
  var word = 0u;
  for (var h = 0u; h < 2u; h++) {
    let e = 2u * i + h;
    if (e < total) {
      word |= decodeAt(P.rowFirst + e / P.cols, e % P.cols) << (16u * h);
    }
  }
  out[P.outWord0 + i] = word;
}`;
}

/** Decodes rows [rowFirst, rowFirst + rowCount) of a part (all of it by default) into `out`, whose
 *  word `outWord0` receives their first two elements. rowFirst * cols must be even. */
export function planDecompressPart(
  ctx: PlanContext,
  w: WeightRecord,
  part: WeightPart,
  out: GPUBuffer | BufferRange,
  outWord0: number,
  rowFirst = 0,
  rowCount = part.rows,
): DispatchPlan[] {
  const wordCount = Math.ceil((rowCount * w.cols) / 2);
  const pipeline = ctx.pipeline(`decompress:${w.storage}`, () => decompressShader(w.storage));
  const params = ctx.params(DECOMPRESS_PARAMS, {
    cols: w.cols,
    partRows: rowCount,
    tileCols: w.tileCols,
    expBase: w.expBase,
    outWord0,
    rowFirst,
    wordCount,
  });
  return [
    {
      label: `decompress ${w.rows}x${w.cols} rows ${part.rowStart + rowFirst}+${rowCount}`,
      pipeline,
      bindings: [params, out, ...partBuffers(w, part)],
      workgroups: grid2d(Math.ceil(wordCount / 256), ctx.limits.maxComputeWorkgroupsPerDimension),
    },
  ];
}

export function planDecompress(ctx: PlanContext, node: DecompressOp): DispatchPlan[] {
  const w = ctx.weight(node.weight, 'weight');
  const out = ctx.tensor(node.out, 'out', true);
  const { maxStorageBufferBindingSize: limit, minStorageBufferOffsetAlignment: align } = ctx.limits;
  if (out.size <= limit) {
    // Parts start at multiples of 64 rows, so each starts on a whole output word.
    return w.parts.flatMap((part) => planDecompressPart(ctx, w, part, out, (part.rowStart * w.cols) / 2));
  }
  // The output is too large for one binding: bind an aligned window per range of 64-row bands.
  const chunkRows = Math.floor((limit - align) / (GLOBAL_TILE * w.cols * 2)) * GLOBAL_TILE;
  if (chunkRows < 1) ctx.fail(`one 64-row band of ${w.cols} BF16 columns exceeds the device's binding limit`);
  const plans: DispatchPlan[] = [];
  for (const part of w.parts) {
    for (let r0 = 0; r0 < part.rows; r0 += chunkRows) {
      const rows = Math.min(chunkRows, part.rows - r0);
      const firstByte = (part.rowStart + r0) * w.cols * 2;
      const offset = Math.floor(firstByte / align) * align;
      const end = Math.min(out.size, Math.ceil(((part.rowStart + r0 + rows) * w.cols * 2) / 4) * 4);
      const range: BufferRange = { kind: 'range', buffer: out, offset, size: end - offset };
      plans.push(...planDecompressPart(ctx, w, part, range, (firstByte - offset) / 4, r0, rows));
    }
  }
  return plans;
}
