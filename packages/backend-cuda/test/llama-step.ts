// A Llama decode step as one op graph (batch 1, paged KV cache), over any backend: the smoke test of
// "a decode step = one CUDA graph replay", on the real stories260K weights.
import { encodeMatrix } from '@zipserv/codec-ref';
import { type DeviceTensor, type DeviceWeight, type OpNode, type ZipservBackendV1, bf16ArrayToF32 } from '@zipserv/format';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FixtureTensor, fixtureDir } from './fixture.js';

export interface LlamaConfig {
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  eps: number;
  theta: number;
  bos: number;
}

export function stories260KConfig(): LlamaConfig {
  const c = JSON.parse(readFileSync(join(fixtureDir(), 'config.json'), 'utf8'));
  return {
    dim: c.hidden_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    ffn: c.intermediate_size,
    vocab: c.vocab_size,
    eps: c.rms_norm_eps,
    theta: c.rope_theta,
    bos: c.bos_token_id,
  };
}

export interface DecodeStep {
  /** Runs one token at `position`; returns the logits [V] and the argmax. */
  step(token: number, position: number): Promise<{ logits: Float32Array; next: number }>;
  /** The compiled step (for timing). */
  graph: ReturnType<ZipservBackendV1['compileGraph']>;
  dispose(): void;
}

export const BLOCK_SIZE = 16;

/** Builds the step graph once; every step writes ids/positions/slots/lengths and replays it. */
export async function buildDecodeStep(b: ZipservBackendV1, cfg: LlamaConfig, weights: Map<string, FixtureTensor>, maxBlocks: number, storage: 'tca-tbe' | 'raw'): Promise<DecodeStep> {
  const handles: (DeviceTensor | DeviceWeight)[] = [];
  const tensor = (dtype: 'f32' | 'i32', shape: number[], init?: Float32Array | Int32Array): DeviceTensor => {
    const t = b.createTensor({ dtype, shape }, init);
    handles.push(t);
    return t;
  };
  const get = (name: string): FixtureTensor => {
    const t = weights.get(name);
    if (!t) throw new Error(`stories260K: missing tensor ${name}`);
    return t;
  };
  const weight = async (name: string): Promise<DeviceWeight> => {
    const t = get(name);
    const [rows, cols] = t.shape as [number, number];
    const w = await b.uploadWeight(storage === 'raw' ? { storage, rows, cols, data: t.bits } : { storage, matrix: encodeMatrix(t.bits, rows, cols) });
    handles.push(w);
    return w;
  };
  const norm = (name: string): DeviceTensor => tensor('f32', [cfg.dim], bf16ArrayToF32(get(name).bits));

  const { dim, heads: H, kvHeads: Hkv, headDim: hd, ffn, vocab: V } = cfg;
  const qkvWidth = (H + 2 * Hkv) * hd;
  const ids = tensor('i32', [1]);
  const positions = tensor('i32', [1]);
  const slots = tensor('i32', [1]);
  const contextLens = tensor('i32', [1]);
  const queryStarts = tensor('i32', [2], Int32Array.from([0, 1]));
  // Blocks in a scrambled order: the cache is paged for real.
  const table = Int32Array.from({ length: maxBlocks }, (_, i) => (i * 7 + 3) % maxBlocks);
  const blockTables = tensor('i32', [1, maxBlocks], table);
  const h = tensor('f32', [1, dim]); // residual stream
  const xn = tensor('f32', [1, dim]);
  const qkv = tensor('f32', [1, qkvWidth]);
  const attn = tensor('f32', [1, H * hd]);
  const gateUp = tensor('f32', [1, 2 * ffn]);
  const act = tensor('f32', [1, ffn]);
  const logits = tensor('f32', [1, V]);
  const next = tensor('i32', [1]);
  const embed = await weight('model.embed_tokens.weight');

  const nodes: OpNode[] = [{ op: 'embedding', ids, table: embed, out: h }];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    const kCache = tensor('f32', [maxBlocks, BLOCK_SIZE, Hkv, hd]);
    const vCache = tensor('f32', [maxBlocks, BLOCK_SIZE, Hkv, hd]);
    nodes.push(
      { op: 'rmsnorm', x: h, weight: norm(`${p}input_layernorm.weight`), out: xn, eps: cfg.eps },
      { op: 'matmul', x: xn, weight: await weight(`${p}self_attn.q_proj.weight`), out: qkv, outOffset: 0 },
      { op: 'matmul', x: xn, weight: await weight(`${p}self_attn.k_proj.weight`), out: qkv, outOffset: H * hd },
      { op: 'matmul', x: xn, weight: await weight(`${p}self_attn.v_proj.weight`), out: qkv, outOffset: (H + Hkv) * hd },
      { op: 'rope', x: qkv, positions, firstHead: 0, numHeads: H + Hkv, headDim: hd, theta: cfg.theta },
      { op: 'kvAppend', qkv, kOffset: H * hd, vOffset: (H + Hkv) * hd, kCache, vCache, slots },
      { op: 'attention', qkv, qOffset: 0, kCache, vCache, blockTables, contextLens, queryStarts, out: attn, numHeads: H, numKvHeads: Hkv, headDim: hd, scale: 1 / Math.sqrt(hd) },
      { op: 'matmul', x: attn, weight: await weight(`${p}self_attn.o_proj.weight`), out: h, accumulate: true },
      { op: 'rmsnorm', x: h, weight: norm(`${p}post_attention_layernorm.weight`), out: xn, eps: cfg.eps },
      { op: 'matmul', x: xn, weight: await weight(`${p}mlp.gate_proj.weight`), out: gateUp, outOffset: 0 },
      { op: 'matmul', x: xn, weight: await weight(`${p}mlp.up_proj.weight`), out: gateUp, outOffset: ffn },
      { op: 'siluMul', x: gateUp, out: act },
      { op: 'matmul', x: act, weight: await weight(`${p}mlp.down_proj.weight`), out: h, accumulate: true },
    );
  }
  nodes.push(
    { op: 'rmsnorm', x: h, weight: norm('model.norm.weight'), out: xn, eps: cfg.eps },
    { op: 'matmul', x: xn, weight: embed, out: logits }, // tied embeddings
    { op: 'argmax', x: logits, out: next },
  );
  const graph = b.compileGraph({ nodes, label: `decode step (${storage})` });

  return {
    graph,
    async step(token, position) {
      b.writeTensor(ids, Int32Array.of(token));
      b.writeTensor(positions, Int32Array.of(position));
      b.writeTensor(slots, Int32Array.of(table[Math.floor(position / BLOCK_SIZE)]! * BLOCK_SIZE + (position % BLOCK_SIZE)));
      b.writeTensor(contextLens, Int32Array.of(position + 1));
      await graph.run();
      const out = (await b.readTensor(logits)) as Float32Array;
      const nextId = ((await b.readTensor(next)) as Int32Array)[0]!;
      return { logits: out, next: nextId };
    },
    dispose() {
      graph.dispose();
      for (const handle of handles.reverse()) b.free(handle);
    },
  };
}
