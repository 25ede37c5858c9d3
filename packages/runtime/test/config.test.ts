import { describe, expect, it } from 'vitest';
import { ModelConfigError, parseModelConfig } from '../src/config/model-config.js';
import { SYNTHETIC_CONFIGS } from '../src/config/synthetic-configs.js';

const llama2 = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 4096,
  rms_norm_eps: 1e-5,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};

describe('parseModelConfig', () => {
  it('Llama 2: head_dim from hidden/heads, default rope, untied', () => {
    const c = parseModelConfig(llama2);
    expect(c).toMatchObject({ family: 'llama', headDim: 128, numKvHeads: 32, ropeTheta: 10000, tieWordEmbeddings: false, qkvBias: false, qkNorm: false, eosTokenIds: [2], bosTokenId: 1 });
    expect(c.ropeScaling).toBeUndefined();
  });

  it('Llama 3.1: llama3 rope scaling, list of EOS ids', () => {
    const c = parseModelConfig({
      ...llama2,
      hidden_size: 4096,
      intermediate_size: 14336,
      num_key_value_heads: 8,
      vocab_size: 128256,
      rope_theta: 500000,
      rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      eos_token_id: [128001, 128008, 128009],
    });
    expect(c.ropeScaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(c.numHeads / c.numKvHeads).toBe(4);
  });

  it('transformers 5 layout: rope_theta and llama3 scaling inside rope_parameters', () => {
    const c = parseModelConfig({
      ...llama2,
      rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling?.type).toBe('llama3');
    const plain = parseModelConfig({ ...llama2, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } });
    expect(plain.ropeTheta).toBe(1e6);
    expect(plain.ropeScaling).toBeUndefined();
  });

  it('Llama 3.2 1B (synthetic config): head_dim given, tied', () => {
    const c = parseModelConfig(SYNTHETIC_CONFIGS['llama-3.2-1b']);
    expect(c).toMatchObject({ headDim: 64, tieWordEmbeddings: true, vocabSize: 128256, hiddenSize: 2048 });
    expect(c.ropeScaling?.type).toBe('llama3');
  });

  it('Mistral: sliding window caps the context', () => {
    const c = parseModelConfig({ ...llama2, architectures: ['MistralForCausalLM'], model_type: 'mistral', num_key_value_heads: 8, sliding_window: 4096, rope_theta: 1e6 });
    expect(c.family).toBe('mistral');
    expect(c.slidingWindow).toBe(4096);
    const v3 = parseModelConfig({ ...llama2, model_type: 'mistral', sliding_window: null });
    expect(v3.slidingWindow).toBeUndefined();
  });

  it('Qwen2: q/k/v bias, no o bias, sliding window off', () => {
    const c = parseModelConfig({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      vocab_size: 151936,
      max_position_embeddings: 32768,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      sliding_window: 32768,
      use_sliding_window: false,
      max_window_layers: 21,
      tie_word_embeddings: true,
      hidden_act: 'silu',
      eos_token_id: 151643,
    });
    expect(c).toMatchObject({ family: 'qwen2', qkvBias: true, oBias: false, headDim: 64, tieWordEmbeddings: true, qkNorm: false });
    expect(c.slidingWindow).toBeUndefined();
  });

  it('Qwen3: per-head q/k norm, explicit head_dim, no bias', () => {
    const c = parseModelConfig({
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      hidden_size: 1024,
      intermediate_size: 3072,
      num_hidden_layers: 28,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      head_dim: 128,
      vocab_size: 151936,
      max_position_embeddings: 40960,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      rope_scaling: null,
      attention_bias: false,
      tie_word_embeddings: true,
      hidden_act: 'silu',
    });
    expect(c).toMatchObject({ family: 'qwen3', qkNorm: true, qkvBias: false, headDim: 128, numHeads: 16 });
  });

  it('SmolLM / TinyLlama are model_type llama', () => {
    const smol = parseModelConfig({ ...llama2, hidden_size: 576, intermediate_size: 1536, num_attention_heads: 9, num_key_value_heads: 3, num_hidden_layers: 30, vocab_size: 49152, tie_word_embeddings: true, rope_theta: 100000 });
    expect(smol.headDim).toBe(64);
    const tiny = parseModelConfig({ ...llama2, hidden_size: 2048, intermediate_size: 5632, num_attention_heads: 32, num_key_value_heads: 4, num_hidden_layers: 22 });
    expect(tiny.headDim).toBe(64);
  });

  it('missing tie_word_embeddings is recorded as unspecified', () => {
    const { tie_word_embeddings: _, ...rest } = llama2;
    const c = parseModelConfig(rest);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.tieWordEmbeddingsSpecified).toBe(false);
  });

  it('refuses unsupported architectures and fields by name', () => {
    expect(() => parseModelConfig({ ...llama2, model_type: 'gemma2', architectures: ['Gemma2ForCausalLM'] }, '/m/config.json')).toThrow(
      /\/m\/config.json: unsupported architecture model_type 'gemma2' \(Gemma2ForCausalLM\)/,
    );
    expect(() => parseModelConfig({ ...llama2, model_type: undefined })).toThrow(/no model_type/);
    expect(() => parseModelConfig({ ...llama2, hidden_act: 'gelu' })).toThrow(/unsupported hidden_act 'gelu'/);
    expect(() => parseModelConfig({ ...llama2, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/unsupported rope_scaling type 'yarn'/);
    expect(() => parseModelConfig({ ...llama2, hidden_size: undefined })).toThrow(/missing hidden_size/);
    expect(() => parseModelConfig({ ...llama2, num_key_value_heads: 5 })).toThrow(/not a multiple/);
    expect(() => parseModelConfig({ ...llama2, rope_scaling: { rope_type: 'llama3', factor: 8 } })).toThrow(/low_freq_factor/);
    expect(() => parseModelConfig('nope')).toThrow(ModelConfigError);
  });

  it('parses the fixture config', async () => {
    const { readFile } = await import('node:fs/promises');
    const raw = JSON.parse(await readFile(new URL('../../../models/stories260K/config.json', import.meta.url), 'utf8'));
    expect(parseModelConfig(raw)).toMatchObject({ hiddenSize: 64, intermediateSize: 172, numHeads: 8, numKvHeads: 4, headDim: 8, vocabSize: 512, tieWordEmbeddings: true });
  });
});
