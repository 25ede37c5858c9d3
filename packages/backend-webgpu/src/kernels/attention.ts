// Causal attention over a paged KV cache, decode and prefill alike, with GQA. One workgroup of 64
// per (query row, head). Keys are visited in chunks of 64 (one per invocation) with an online
// softmax (running max and sum, FlashAttention style); each invocation owns output dims
// d = lid + 64r. Rows no sequence owns are left untouched. All arithmetic is f32.

import type { AttentionOp } from '@zipserv/format';
import { type DispatchPlan, type ParamSpec, type PlanContext, paramStruct } from './plan.js';
import { BF16 } from './wgsl.js';

const ATTENTION_PARAMS: ParamSpec = [
  ['sequences', 'u32'],
  ['numHeads', 'u32'],
  ['numKvHeads', 'u32'],
  ['group', 'u32'],
  ['rowWidth', 'u32'],
  ['qOffset', 'u32'],
  ['maxBlocks', 'u32'],
  ['blockSize', 'u32'],
  ['numBlocks', 'u32'],
  ['scale', 'f32'],
];

const MASKED = '-3.0e38';

function attentionShader(headDim: number, bf16: boolean, subgroups: boolean): string {
  const dimsPerLane = Math.ceil(headDim / 64);
  const load = (buf: string) =>
    bf16 ? `bf16ToF32(${buf}[i >> 1u] >> ((i & 1u) * 16u))` : `${buf}[i]`;
  // Reduction of `v` over the 64 invocations into `red[0]`; `op` is max or add.
  const reduce = (v: string, op: 'max' | 'add', out: string) =>
    subgroups
      ? /* wgsl */ `
    {
      let r = ${op === 'max' ? `subgroupMax(${v})` : `subgroupAdd(${v})`};
      if (sgLane == 0u) { red[lid / sgSize] = r; }
      workgroupBarrier();
      var acc = red[0];
      for (var i = 1u; i < 64u / sgSize; i++) { acc = ${op === 'max' ? 'max(acc, red[i])' : 'acc + red[i]'}; }
      ${out} = acc;
      workgroupBarrier();
    }`
      : /* wgsl */ `
    red[lid] = ${v};
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
      if (lid < s) { red[lid] = ${op === 'max' ? 'max(red[lid], red[lid + s])' : 'red[lid] + red[lid + s]'}; }
      workgroupBarrier();
    }
    ${out} = red[0];
    workgroupBarrier();`;
  return /* wgsl */ `
${subgroups ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);' : ''}
${paramStruct(ATTENTION_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<${bf16 ? 'u32' : 'f32'}>;
@group(0) @binding(3) var<storage, read> vc: array<${bf16 ? 'u32' : 'f32'}>;
@group(0) @binding(4) var<storage, read> blockTables: array<i32>;
@group(0) @binding(5) var<storage, read> contextLens: array<i32>;
@group(0) @binding(6) var<storage, read> queryStarts: array<i32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
${BF16}

const HD: u32 = ${headDim}u;
var<workgroup> qv: array<f32, ${headDim}>;
var<workgroup> probs: array<f32, 64>;
var<workgroup> keyBase: array<u32, 64>;
var<workgroup> red: array<f32, 64>;
var<workgroup> info: vec3<u32>;   // (keys visible to this row, sequence, owned)

fn loadK(i: u32) -> f32 { return ${load('kc')}; }
fn loadV(i: u32) -> f32 { return ${load('vc')}; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32${subgroups ? ', @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32' : ''}) {
  let h = wg.x;
  let n = wg.y;
  if (lid == 0u) {
    var found = vec3<u32>(0u, 0u, 0u);
    for (var s = 0u; s < P.sequences; s++) {
      let a = queryStarts[s];
      let b = queryStarts[s + 1u];
      if (i32(n) >= a && i32(n) < b) {
        let position = contextLens[s] - (b - a) + (i32(n) - a);
        found = vec3<u32>(u32(max(position + 1, 0)), s, 1u);
        break;
      }
    }
    info = found;
  }
  let row = workgroupUniformLoad(&info);
  if (row.z == 0u || row.x == 0u) { return; }
  let keys = row.x;
  let seq = row.y;
  let kvHead = h / P.group;
  for (var d = lid; d < HD; d += 64u) {
    qv[d] = qkv[n * P.rowWidth + P.qOffset + h * HD + d];
  }
  var runMax = ${MASKED};
  var runSum = 0.0;
  var acc: array<f32, ${dimsPerLane}>;
  let chunks = (keys + 63u) / 64u;
  for (var c = 0u; c < chunks; c++) {
    workgroupBarrier();
    let key = c * 64u + lid;
    var score = ${MASKED};
    if (key < keys) {
      let block = u32(blockTables[seq * P.maxBlocks + key / P.blockSize]);
      let base = ((min(block, P.numBlocks - 1u) * P.blockSize + key % P.blockSize) * P.numKvHeads + kvHead) * HD;
      keyBase[lid] = base;
      var dotv = 0.0;
      for (var d = 0u; d < HD; d++) { dotv += qv[d] * loadK(base + d); }
      score = dotv * P.scale;
    }
    var chunkMax: f32;
    ${reduce('score', 'max', 'chunkMax')}
    let newMax = max(runMax, chunkMax);
    let correction = exp(runMax - newMax);
    var p = 0.0;
    if (key < keys) { p = exp(score - newMax); }
    probs[lid] = p;
    var chunkSum: f32;
    ${reduce('p', 'add', 'chunkSum')}
    runSum = runSum * correction + chunkSum;
    runMax = newMax;
    let inChunk = min(64u, keys - c * 64u);
    for (var r = 0u; r < ${dimsPerLane}u; r++) {
      let d = lid + r * 64u;
      if (d < HD) {
        var a = acc[r] * correction;
        for (var k = 0u; k < inChunk; k++) { a += probs[k] * loadV(keyBase[k] + d); }
        acc[r] = a;
      }
    }
  }
  for (var r = 0u; r < ${dimsPerLane}u; r++) {
    let d = lid + r * 64u;
    if (d < HD) { out[n * P.numHeads * HD + h * HD + d] = acc[r] / runSum; }
  }
}`;
}

export function planAttention(ctx: PlanContext, node: AttentionOp): DispatchPlan[] {
  const qkv = ctx.tensor(node.qkv, 'qkv');
  const kc = ctx.tensor(node.kCache, 'kCache');
  const vc = ctx.tensor(node.vCache, 'vCache');
  const out = ctx.tensor(node.out, 'out');
  if (node.kCache.dtype !== node.vCache.dtype) ctx.fail('kCache and vCache must have one dtype');
  if (out === qkv) ctx.fail('out must not be qkv');
  const tokens = node.qkv.shape[0]!;
  if (tokens > ctx.limits.maxComputeWorkgroupsPerDimension) ctx.fail(`${tokens} query rows exceed the dispatch limit`);
  if (node.headDim > 1024) ctx.fail(`headDim ${node.headDim} is larger than the 1024 this kernel supports`);
  const [blocks, blockSize] = node.kCache.shape as [number, number, number, number];
  const bf16 = node.kCache.dtype === 'bf16';
  const subgroups = ctx.features.subgroups;
  return [
    {
      label: `attention ${tokens}x${node.numHeads}x${node.headDim}`,
      pipeline: ctx.pipeline(`attention:hd${node.headDim}:${node.kCache.dtype}:${subgroups ? 'sg' : 'wg'}`, () =>
        attentionShader(node.headDim, bf16, subgroups),
      ),
      bindings: [
        ctx.params(ATTENTION_PARAMS, {
          sequences: node.contextLens.shape[0]!,
          numHeads: node.numHeads,
          numKvHeads: node.numKvHeads,
          group: node.numHeads / node.numKvHeads,
          rowWidth: node.qkv.shape[1]!,
          qOffset: node.qOffset,
          maxBlocks: node.blockTables.shape[1]!,
          blockSize,
          numBlocks: blocks,
          scale: node.scale,
        }),
        qkv,
        kc,
        vc,
        ctx.tensor(node.blockTables, 'blockTables'),
        ctx.tensor(node.contextLens, 'contextLens'),
        ctx.tensor(node.queryStarts, 'queryStarts'),
        out,
      ],
      workgroups: [node.numHeads, tokens, 1],
    },
  ];
}
