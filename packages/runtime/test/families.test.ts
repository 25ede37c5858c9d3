import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SafetensorsWriteEntry, f32ArrayToBf16, writeSafetensors } from '@zipserv/format';
import { compressModel } from '@zipserv/codec-ref';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelConfig } from '../src/config/model-config.js';
import { createEngine } from '../src/engine/engine.js';
import { DirectoryModelSource } from '../src/model/directory-source.js';
import { Rng } from '../src/util/rng.js';
import { referenceLogits, relErr } from './reference-llama.js';

const base = {
  hidden_size: 64,
  intermediate_size: 100,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 200,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  hidden_act: 'silu',
  bos_token_id: 1,
  eos_token_id: 2,
};

const FAMILIES: Record<string, Record<string, unknown>> = {
  // Qwen2: q/k/v biases, tied embeddings.
  qwen2: { ...base, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', tie_word_embeddings: true, use_sliding_window: false, sliding_window: 4096 },
  // Qwen3: per-head q/k RMSNorm, head_dim (24) unrelated to hidden/heads (16), untied.
  qwen3: { ...base, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', head_dim: 24, tie_word_embeddings: false },
  // Mistral: norms stored as F32 (exercises non-BF16 vectors), linear RoPE scaling.
  mistral: { ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: null, rope_scaling: { type: 'linear', factor: 2 }, tie_word_embeddings: false },
};

/** Random weights for a config, as a Hugging Face directory. */
async function writeModel(dir: string, raw: Record<string, unknown>, seed: number): Promise<void> {
  const c = parseModelConfig(raw);
  const rng = new Rng(seed);
  const entries: SafetensorsWriteEntry[] = [];
  const bf16 = (name: string, shape: number[], sigma: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: n }, () => mean + sigma * rng.nextNormal());
    const bits = f32ArrayToBf16(v);
    entries.push({ name, dtype: 'BF16', shape, data: new Uint8Array(bits.buffer) });
  };
  const f32 = (name: string, shape: number[], sigma: number, mean: number) => {
    const v = Float32Array.from({ length: shape[0]! }, () => mean + sigma * rng.nextNormal());
    entries.push({ name, dtype: 'F32', shape, data: new Uint8Array(v.buffer) });
  };
  const norm = c.family === 'mistral' ? (n: string, s: number[]) => f32(n, s, 0.1, 1) : (n: string, s: number[]) => bf16(n, s, 0.1, 1);
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  bf16('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize], 0.5);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    norm(`${p}input_layernorm.weight`, [c.hiddenSize]);
    norm(`${p}post_attention_layernorm.weight`, [c.hiddenSize]);
    bf16(`${p}self_attn.q_proj.weight`, [q, c.hiddenSize], 0.1);
    bf16(`${p}self_attn.k_proj.weight`, [kv, c.hiddenSize], 0.1);
    bf16(`${p}self_attn.v_proj.weight`, [kv, c.hiddenSize], 0.1);
    bf16(`${p}self_attn.o_proj.weight`, [c.hiddenSize, q], 0.1);
    bf16(`${p}mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize], 0.1);
    bf16(`${p}mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize], 0.1);
    bf16(`${p}mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize], 0.1);
    if (c.qkvBias) {
      bf16(`${p}self_attn.q_proj.bias`, [q], 0.2);
      bf16(`${p}self_attn.k_proj.bias`, [kv], 0.2);
      bf16(`${p}self_attn.v_proj.bias`, [kv], 0.2);
    }
    if (c.qkNorm) {
      norm(`${p}self_attn.q_norm.weight`, [c.headDim]);
      norm(`${p}self_attn.k_norm.weight`, [c.headDim]);
    }
  }
  norm('model.norm.weight', [c.hiddenSize]);
  if (!c.tieWordEmbeddings) bf16('lm_head.weight', [c.vocabSize, c.hiddenSize], 0.3);
  await writeSafetensors(join(dir, 'model.safetensors'), entries);
  await writeFile(join(dir, 'config.json'), JSON.stringify(raw));
}

describe('model families against an independent float64 forward pass (ref backend)', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'zipserv-families-'));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const [family, raw] of Object.entries(FAMILIES)) {
    it(`${family}: teacher-forced logits at every position`, async () => {
      const dir = join(tmp, family);
      await (await import('node:fs/promises')).mkdir(dir);
      await writeModel(dir, raw, family.length * 7919);
      const ids = [1, 150, 7, 42, 199, 3, 88, 120, 64, 5, 9, 33];
      const src = await DirectoryModelSource.open(dir);
      const ref = await referenceLogits(src, parseModelConfig(raw), ids);
      await src.close();
      const engine = await createEngine({ model: dir, backend: 'ref', weights: 'zipgemm', maxBatch: 2, maxContext: 32, kvBlockSize: 4, encoderThreads: 1 });
      try {
        expect(engine.config.family).toBe(family);
        const got = await engine.scoreTokens(ids);
        for (let t = 0; t < ids.length; t++) expect(relErr(got[t]!, ref[t]!), `${family} position ${t}`).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
    });
  }

  it('a compressed copy loads q|k|v and gate|up fused (shared windows), with biases, and scores the same', async () => {
    // 64-row multiples everywhere, so every fusable group can stack without decoding.
    const raw = { ...FAMILIES.qwen2!, num_key_value_heads: 4, intermediate_size: 128 };
    const dir = join(tmp, 'fusable');
    const zs = join(tmp, 'fusable.zs');
    await (await import('node:fs/promises')).mkdir(dir);
    await writeModel(dir, raw, 4242);
    await compressModel(dir, zs, { threads: 1 });
    const ids = [1, 150, 7, 42, 199, 3, 88, 120];
    const src = await DirectoryModelSource.open(dir);
    const ref = await referenceLogits(src, parseModelConfig(raw), ids);
    await src.close();
    const engine = await createEngine({ model: zs, backend: 'ref', weights: 'zipgemm', maxBatch: 1, maxContext: 16, encoderThreads: 1 });
    try {
      expect(engine.info.compressedSource).toBe(true);
      expect(engine.info.load.fusedMatrices).toBe(4);
      const got = await engine.scoreTokens(ids);
      for (let t = 0; t < ids.length; t++) expect(relErr(got[t]!, ref[t]!), `position ${t}`).toBeLessThan(1e-5);
    } finally {
      await engine.dispose();
    }
  });

  it('a missing tensor is named', async () => {
    const dir = join(tmp, 'broken');
    await (await import('node:fs/promises')).mkdir(dir);
    await writeModel(dir, { ...FAMILIES.qwen3!, num_hidden_layers: 1 }, 1);
    await writeFile(join(dir, 'config.json'), JSON.stringify(FAMILIES.qwen3));
    await expect(createEngine({ model: dir, backend: 'ref', weights: 'dense' })).rejects.toThrow(/missing tensors model\.layers\.1\./);
  });
});
