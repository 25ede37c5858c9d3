// ZipGEMM and its dense twin: y[N, M] = x[N, K] . W[M, K]^T with W read either from the TCA-TBE
// arrays (decoded to f32 in registers by bit shifts) or from raw BF16 pairs. Same schedule, same
// arithmetic order, so the two produce bit-identical results; they differ only in how W is read.
//
// Schedule: one workgroup of 256 invocations owns one 64-row tile row of W (all four 16-row bands)
// and a range of K tiles (split-K across workgroups when there are few tile rows). For each K tile:
//   - the x slice [NB, 64] is staged in workgroup memory;
//   - invocation `tid` takes, in each band q, the 4 consecutive stream elements
//     q*1024 + 4*tid .. +3 = one u32 of sign-mantissa bytes; they are 4 neighbouring columns of one
//     row of a small tile, and the same 4 columns in every band, so one x vec4 feeds 4 rows;
//   - an outlier's rank in the tile's segment is the small tile's rank base from the part's rank table
//     (weights.ts smallTileRanks, computed at upload) plus the outliers before it in its own word, so a
//     K tile costs the zip kernel the same two barriers as the dense twin.
// The 16 invocations sharing a row reduce through workgroup memory at the end, in fixed order.

import { type MatmulOp, type WeightPath, GLOBAL_TILE } from '@zipserv/format';
import type { WeightPart, WeightRecord } from '../weights.js';
import { partBuffers, tileRowsPerPart } from '../weights.js';
import { planDecompressPart } from './decompress.js';
import { type DispatchPlan, type ParamSpec, type PlanContext, grid2d, paramStruct } from './plan.js';
import { LINEAR_WORKGROUP } from './wgsl.js';

const GEMM_PARAMS: ParamSpec = [
  ['M', 'u32'],
  ['K', 'u32'],
  ['N', 'u32'],
  ['tileCols', 'u32'],
  ['rowBase', 'u32'],
  ['partRows', 'u32'],
  ['kTilesPerSplit', 'u32'],
  ['outStride', 'u32'],
  ['outOffset', 'u32'],
  ['expBase', 'u32'],
  ['accumulate', 'u32'],
];

const REDUCE_PARAMS: ParamSpec = [
  ['M', 'u32'],
  ['N', 'u32'],
  ['splitK', 'u32'],
  ['outStride', 'u32'],
  ['outOffset', 'u32'],
  ['accumulate', 'u32'],
];

export type GemmMode = 'zip' | 'dense';

export interface GemmVariant {
  mode: GemmMode;
  /** Tokens per workgroup pass (1, 2, 4, 8 or 16); more tokens run as more workgroups in z. */
  nb: number;
  bias: boolean;
  /** splitK == 1: the kernel applies bias/accumulate and writes out; else it writes partial sums. */
  direct: boolean;
  /** dense: K is even, so 4 neighbouring BF16 values are two aligned u32 words. */
  kEven: boolean;
}

export function gemmShader(v: GemmVariant): string {
  const bindings = [
    '@group(0) @binding(0) var<uniform> P: Params;',
    '@group(0) @binding(1) var<storage, read> x: array<f32>;',
    '@group(0) @binding(2) var<storage, read_write> y: array<f32>;',
  ];
  let b = 3;
  if (v.bias) bindings.push(`@group(0) @binding(${b++}) var<storage, read> bias: array<f32>;`);
  if (v.mode === 'zip') {
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> bm: array<u32>;`);
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> sm: array<u32>;`);
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> ol: array<u32>;`);
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> oo: array<u32>;`);
  } else {
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> raw: array<u32>;`);
  }

  const zipTilePrologue = /* wgsl */ `
    workgroupBarrier();
    let gt = tileRow * P.tileCols + kt;
    let segBase = oo[gt];`;

  const zipLoadW = /* wgsl */ `
      let t = q * 16u + sub;
      let bw = (gt * 64u + t) * 6u + hiWord;
      let m0 = bm[bw];
      let m1 = bm[bw + 2u];
      let m2 = bm[bw + 4u];
      let p0 = m0 >> sh;
      let p1 = m1 >> sh;
      let p2 = m2 >> sh;
      let smw = sm[gt * 1024u + q * 256u + tid];
      var rank = 0u;
      if ((p0 & p1 & p2 & 0xfu) != 0u) {
        // outliers of the small tiles before t (rank table), of t's low half if this is the high one, then
        // of this word below these 4 elements
        rank = segBase + ((oo[rankTable + gt * 32u + (t >> 1u)] >> ((t & 1u) * 16u)) & 0xffffu)
          + countOneBits(m0 & m1 & m2 & ((1u << sh) - 1u));
        if (hiWord == 1u) { rank += countOneBits(bm[bw - 1u] & bm[bw + 1u] & bm[bw + 3u]); }
      }
      var w: vec4<f32>;
      for (var i = 0u; i < 4u; i++) {
        let code = ((p0 >> i) & 1u) | (((p1 >> i) & 1u) << 1u) | (((p2 >> i) & 1u) << 2u);
        var ex = P.expBase + code;
        if (code == 7u) {
          ex = (ol[rank >> 2u] >> ((rank & 3u) * 8u)) & 0xffu;
          rank += 1u;
        }
        let s8 = (smw >> (i * 8u)) & 0xffu;
        w[i] = bitcast<f32>(((s8 & 0x80u) << 24u) | (ex << 23u) | ((s8 & 0x7fu) << 16u));
      }`;

  const denseLoadW = v.kEven
    ? /* wgsl */ `
      let rl = tileRow * 64u + q * 16u + rowInBand;
      let col = kt * 64u + c0;
      var w = vec4<f32>(0.0);
      if (rl < P.partRows && col < P.K) {
        let wi = (rl * P.K + col) >> 1u;
        let a = raw[wi];
        w.x = bitcast<f32>(a << 16u);
        w.y = bitcast<f32>(a & 0xffff0000u);
        if (col + 2u < P.K) {
          let c = raw[wi + 1u];
          w.z = bitcast<f32>(c << 16u);
          w.w = bitcast<f32>(c & 0xffff0000u);
        }
      }`
    : /* wgsl */ `
      let rl = tileRow * 64u + q * 16u + rowInBand;
      let col = kt * 64u + c0;
      var w = vec4<f32>(0.0);
      if (rl < P.partRows) {
        for (var i = 0u; i < 4u; i++) {
          if (col + i < P.K) {
            let e = rl * P.K + col + i;
            w[i] = bitcast<f32>(((raw[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu) << 16u);
          }
        }
      }`;

  const store = v.direct
    ? /* wgsl */ `
          var value = sum;
          ${v.bias ? 'value += bias[m];' : ''}
          let o = nn * P.outStride + P.outOffset + m;
          if (P.accumulate != 0u) { value = y[o] + value; }
          y[o] = value;`
    : /* wgsl */ `
          y[(split * P.N + nn) * P.M + m] = sum;`;

  return /* wgsl */ `
${paramStruct(GEMM_PARAMS)}
${bindings.join('\n')}

const NB: u32 = ${v.nb}u;
var<workgroup> xs: array<vec4<f32>, ${v.nb * 16}>;
var<workgroup> red: array<f32, 1024>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let tileRow = wg.x;
  let split = wg.y;
  let n0 = wg.z * NB;
  let sub = tid >> 4u;            // small tile within a band: s*4 + j
  let j = sub & 3u;
  let q16 = tid & 15u;            // which 4 of the small tile's 64 elements
  let c0 = (sub >> 2u) * 16u + (j >> 1u) * 8u + (q16 & 1u) * 4u;   // column in the tile
  let rowInBand = (j & 1u) * 8u + (q16 >> 1u);
  let sh = (q16 * 4u) & 31u;
  let hiWord = q16 >> 3u;
  var acc: array<array<f32, ${v.nb}>, 4>;   // [band, token] partial sums over 4 columns
  ${v.mode === 'zip' ? 'let rankTable = ((P.partRows + 63u) / 64u) * P.tileCols + 1u;   // after the part\'s tile offsets in oo' : ''}
  let kt0 = split * P.kTilesPerSplit;
  let kt1 = min(kt0 + P.kTilesPerSplit, P.tileCols);
  for (var kt = kt0; kt < kt1; kt++) {
    workgroupBarrier();
    for (var i = tid; i < NB * 64u; i += 256u) {
      let n = n0 + (i >> 6u);
      let k = kt * 64u + (i & 63u);
      var v = 0.0;
      if (n < P.N && k < P.K) { v = x[n * P.K + k]; }
      xs[i >> 2u][i & 3u] = v;
    }
    ${v.mode === 'zip' ? zipTilePrologue : 'workgroupBarrier();'}
    for (var q = 0u; q < 4u; q++) {
      ${v.mode === 'zip' ? zipLoadW : denseLoadW}
      for (var n = 0u; n < NB; n++) {
        acc[q][n] += dot(w, xs[n * 16u + (c0 >> 2u)]);
      }
    }
  }
  let slot = (sub >> 2u) * 4u + (j >> 1u) * 2u + (q16 & 1u);
  for (var n = 0u; n < NB; n++) {
    workgroupBarrier();
    for (var q = 0u; q < 4u; q++) {
      red[(q * 16u + rowInBand) * 16u + slot] = acc[q][n];
    }
    workgroupBarrier();
    if (tid < 64u) {
      var sum = 0.0;
      for (var i = 0u; i < 16u; i++) { sum += red[tid * 16u + i]; }
      let nn = n0 + n;
      let localRow = tileRow * 64u + tid;
      if (localRow < P.partRows && nn < P.N) {
        let m = P.rowBase + localRow;${store}
      }
    }
  }
}`;
}

function reduceShader(bias: boolean): string {
  return /* wgsl */ `
${paramStruct(REDUCE_PARAMS)}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
${LINEAR_WORKGROUP}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = linearWorkgroup(wg, nwg) * 256u + lid;
  if (idx >= P.M * P.N) { return; }
  let n = idx / P.M;
  let m = idx % P.M;
  var sum = 0.0;
  for (var s = 0u; s < P.splitK; s++) { sum += partial[(s * P.N + n) * P.M + m]; }
  ${bias ? 'sum += bias[m];' : ''}
  let o = n * P.outStride + P.outOffset + m;
  if (P.accumulate != 0u) { sum = y[o] + sum; }
  y[o] = sum;
}`;
}

/** Tokens per pass for N tokens. */
export function tokensPerPass(n: number): number {
  if (n >= 16) return 16;
  let nb = 1;
  while (nb < n) nb *= 2;
  return nb;
}

/** Split-K factor: enough workgroups to fill the device, at least 4 K tiles per split. */
export function chooseSplitK(tileRows: number, tileCols: number, targetWorkgroups: number): number {
  if (tileRows >= targetWorkgroups) return 1;
  const wanted = Math.ceil(targetWorkgroups / tileRows);
  const most = Math.max(1, Math.floor(tileCols / 4));
  const split = Math.max(1, Math.min(wanted, most));
  const perSplit = Math.ceil(tileCols / split);
  return Math.ceil(tileCols / perSplit);
}

/** The concrete path a matmul takes for a weight. */
export function resolvePath(path: WeightPath, storage: 'tca-tbe' | 'raw'): Exclude<WeightPath, 'auto'> {
  if (path !== 'auto') return path;
  return storage === 'tca-tbe' ? 'zipgemm' : 'dense';
}

export function planMatmul(ctx: PlanContext, node: MatmulOp): DispatchPlan[] {
  const w = ctx.weight(node.weight, 'weight');
  const x = ctx.tensor(node.x, 'x');
  const out = ctx.tensor(node.out, 'out');
  if (x === out) ctx.fail('out must not be x');
  const bias = node.bias ? ctx.tensor(node.bias, 'bias') : undefined;
  const path = resolvePath(node.path ?? 'auto', w.storage);
  const N = node.x.shape[0]!;
  const M = w.rows;
  const K = w.cols;
  const nb = tokensPerPass(N);
  const tileRows = Math.ceil(M / GLOBAL_TILE);
  const splitK = chooseSplitK(tileRows, w.tileCols, ctx.zipgemmTargetWorkgroups);
  const direct = splitK === 1;
  const kTilesPerSplit = Math.ceil(w.tileCols / splitK);
  const target = direct ? out : ctx.scratch('matmul.partial', splitK * N * M * 4);
  const plans: DispatchPlan[] = [];
  const pushGemm = (u: { rowBase: number; rows: number; mode: GemmMode; weightBufs: GPUBuffer[] }) => {
    const variant: GemmVariant = { mode: u.mode, nb, bias: !!bias, direct, kEven: K % 2 === 0 };
    const key = `gemm:${u.mode}:nb${nb}:${variant.bias ? 'bias' : 'nobias'}:${direct ? 'direct' : 'partial'}:${variant.kEven ? 'keven' : 'kodd'}`;
    const pipeline = ctx.pipeline(key, () => gemmShader(variant));
    const params = ctx.params(GEMM_PARAMS, {
      M,
      K,
      N,
      tileCols: w.tileCols,
      rowBase: u.rowBase,
      partRows: u.rows,
      kTilesPerSplit,
      outStride: node.out.shape[1]!,
      outOffset: node.outOffset ?? 0,
      expBase: w.expBase,
      accumulate: node.accumulate ? 1 : 0,
    });
    plans.push({
      label: `matmul ${path} ${M}x${K} N=${N} rows ${u.rowBase}+${u.rows}`,
      pipeline,
      bindings: [params, x, target, ...(bias ? [bias] : []), ...u.weightBufs],
      workgroups: [Math.ceil(u.rows / GLOBAL_TILE), splitK, Math.ceil(N / nb)],
    });
  };
  // One GEMM dispatch per weight part; for decompress+vendor, per range of a part small enough for
  // its decoded BF16 copy to fit one binding (decode, then multiply, then the next range).
  for (const part of w.parts) {
    if (path === 'zipgemm') {
      pushGemm({ rowBase: part.rowStart, rows: part.rows, mode: 'zip', weightBufs: partBuffers(w, part) });
    } else if (path === 'decompress+vendor') {
      const chunkRows = tileRowsPerPart('raw', K, ctx.limits) * GLOBAL_TILE;
      if (chunkRows < 1) ctx.fail(`one 64-row band of ${K} BF16 columns exceeds the device's binding limit`);
      for (let r0 = 0; r0 < part.rows; r0 += chunkRows) {
        const rows = Math.min(chunkRows, part.rows - r0);
        const decoded = ctx.scratch('matmul.decoded', Math.ceil((rows * K) / 2) * 4);
        plans.push(...planDecompressPart(ctx, w, part, decoded, 0, r0, rows));
        pushGemm({ rowBase: part.rowStart + r0, rows, mode: 'dense', weightBufs: [decoded] });
      }
    } else {
      pushGemm({ rowBase: part.rowStart, rows: part.rows, mode: 'dense', weightBufs: partBuffers(w, part) });
    }
  }
  if (!direct) {
    const pipeline = ctx.pipeline(`gemm:reduce:${bias ? 'bias' : 'nobias'}`, () => reduceShader(!!bias));
    const params = ctx.params(REDUCE_PARAMS, {
      M,
      N,
      splitK,
      outStride: node.out.shape[1]!,
      outOffset: node.outOffset ?? 0,
      accumulate: node.accumulate ? 1 : 0,
    });
    plans.push({
      label: `matmul reduce split-K ${splitK}`,
      pipeline,
      bindings: [params, target, out, ...(bias ? [bias] : [])],
      workgroups: grid2d(Math.ceil((M * N) / 256), ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  }
  return plans;
}

export type { WeightPart, WeightRecord };
