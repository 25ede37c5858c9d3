// Shapes of the synthetic models (`synthetic:NAME`): the exact config.json values of the public
// checkpoints, so benchmarks move the same bytes as the real models.

export const SYNTHETIC_CONFIGS: Readonly<Record<string, Record<string, unknown>>> = {
  'llama-3-8b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 4096,
    intermediate_size: 14336,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    vocab_size: 128256,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: false,
    hidden_act: 'silu',
    bos_token_id: 128000,
    eos_token_id: 128001,
  },
  'llama-3-70b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 8192,
    intermediate_size: 28672,
    num_hidden_layers: 80,
    num_attention_heads: 64,
    num_key_value_heads: 8,
    vocab_size: 128256,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: false,
    hidden_act: 'silu',
    bos_token_id: 128000,
    eos_token_id: 128001,
  },
  'llama-3.2-1b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    tie_word_embeddings: true,
    hidden_act: 'silu',
    bos_token_id: 128000,
    eos_token_id: 128001,
  },
  // Small enough for CPU tests, yet with everything awkward: GQA, llama3 RoPE scaling, an untied
  // head, ragged FFN (200) and vocabulary (320), head_dim from config.
  tiny: {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 128,
    intermediate_size: 200,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    vocab_size: 320,
    max_position_embeddings: 1024,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 },
    tie_word_embeddings: false,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
  },
};

export const SYNTHETIC_PREFIX = 'synthetic:';

export function isSyntheticModel(model: string): boolean {
  return model.startsWith(SYNTHETIC_PREFIX);
}
