// An independent float64 Llama forward pass (no paging, no graphs) for checking the engine.
// Plain loops over the weights of a ModelSource; only for small models.

import { bf16ArrayToF32 } from '@zipserv/format';
import type { ModelConfig } from '../src/config/model-config.js';
import type { ModelSource } from '../src/model/model-source.js';

type Mat = { rows: number; cols: number; w: Float64Array }; // [rows, cols]

async function matrix(src: ModelSource, name: string): Promise<Mat> {
  const m = await src.readMatrix(name, 'raw');
  if (m.storage !== 'raw') throw new Error('reference needs raw weights');
  return { rows: m.rows, cols: m.cols, w: Float64Array.from(bf16ArrayToF32(m.data)) };
}

function linear(x: Float64Array, m: Mat, bias?: Float64Array): Float64Array {
  const y = new Float64Array(m.rows); // [M]
  for (let r = 0; r < m.rows; r++) {
    let s = 0;
    for (let k = 0; k < m.cols; k++) s += x[k]! * m.w[r * m.cols + k]!;
    y[r] = s + (bias ? bias[r]! : 0);
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  const d = w.length;
  for (let g = 0; g < x.length; g += d) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[g + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) out[g + i] = x[g + i]! * inv * w[i]!;
  }
  return out;
}

/** transformers' default / llama3 / linear inverse frequencies. */
export function invFreq(c: ModelConfig): Float64Array {
  const hd = c.headDim;
  const f = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) f[i] = 1 / c.ropeTheta ** ((2 * i) / hd);
  const s = c.ropeScaling;
  if (s?.type === 'linear') for (let i = 0; i < f.length; i++) f[i]! /= s.factor;
  if (s?.type === 'llama3') {
    const lowWl = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWl = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < f.length; i++) {
      const wl = (2 * Math.PI) / f[i]!;
      if (wl > lowWl) f[i] = f[i]! / s.factor;
      else if (wl >= highWl) {
        const smooth = (s.originalMaxPositionEmbeddings / wl - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        f[i] = (1 - smooth) * (f[i]! / s.factor) + smooth * f[i]!;
      }
    }
  }
  return f;
}

function rope(x: Float64Array, heads: number, hd: number, pos: number, freq: Float64Array): void {
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const a = x[h * hd + i]!;
      const b = x[h * hd + i + half]!;
      const ang = pos * freq[i]!;
      x[h * hd + i] = a * Math.cos(ang) - b * Math.sin(ang);
      x[h * hd + i + half] = b * Math.cos(ang) + a * Math.sin(ang);
    }
  }
}

/** Logits [T][V] of every position of `ids`. */
export async function referenceLogits(src: ModelSource, c: ModelConfig, ids: readonly number[]): Promise<Float64Array[]> {
  const vec = async (n: string) => Float64Array.from(await src.readVector(n));
  const embed = await matrix(src, 'model.embed_tokens.weight');
  const head = c.tieWordEmbeddings ? embed : await matrix(src, 'lm_head.weight');
  const freq = invFreq(c);
  const H = c.numHeads;
  const Hkv = c.numKvHeads;
  const hd = c.headDim;
  const T = ids.length;
  let xs: Float64Array[] = ids.map((id) => embed.w.slice(id * c.hiddenSize, (id + 1) * c.hiddenSize)); // T x [D]
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const [wq, wk, wv, wo, wg, wu, wd] = await Promise.all(
      ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((n) => matrix(src, `${p}${n}.weight`)),
    );
    const inNorm = await vec(`${p}input_layernorm.weight`);
    const postNorm = await vec(`${p}post_attention_layernorm.weight`);
    const bias = async (n: string) => (c.qkvBias ? vec(`${p}self_attn.${n}_proj.bias`) : undefined);
    const [bq, bk, bv] = await Promise.all([bias('q'), bias('k'), bias('v')]);
    const qn = c.qkNorm ? await vec(`${p}self_attn.q_norm.weight`) : undefined;
    const kn = c.qkNorm ? await vec(`${p}self_attn.k_norm.weight`) : undefined;
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm(xs[t]!, inNorm, c.rmsNormEps);
      let q = linear(h, wq!, bq);
      let k = linear(h, wk!, bk);
      if (qn && kn) {
        q = rmsnorm(q, qn, c.rmsNormEps);
        k = rmsnorm(k, kn, c.rmsNormEps);
      }
      rope(q, H, hd, t, freq);
      rope(k, Hkv, hd, t, freq);
      qs.push(q);
      ks.push(k);
      vs.push(linear(h, wv!, bv));
    }
    const next: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const attn = new Float64Array(H * hd);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / Hkv));
        const scores = new Float64Array(t + 1);
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += qs[t]![h * hd + i]! * ks[j]![kvh * hd + i]!;
          scores[j] = s / Math.sqrt(hd);
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += scores[j] = Math.exp(scores[j]! - max);
        for (let j = 0; j <= t; j++) for (let i = 0; i < hd; i++) attn[h * hd + i]! += (scores[j]! / sum) * vs[j]![kvh * hd + i]!;
      }
      const x = xs[t]!.slice();
      const o = linear(attn, wo!);
      for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
      const h2 = rmsnorm(x, postNorm, c.rmsNormEps);
      const g = linear(h2, wg!);
      const u = linear(h2, wu!);
      const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const down = linear(act, wd!);
      for (let i = 0; i < x.length; i++) x[i]! += down[i]!;
      next.push(x);
    }
    xs = next;
  }
  const finalNorm = await vec('model.norm.weight');
  return xs.map((x) => linear(rmsnorm(x, finalNorm, c.rmsNormEps), head));
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
