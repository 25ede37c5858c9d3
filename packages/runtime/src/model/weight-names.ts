// Tensor names of the Hugging Face Llama layout (transformers' LlamaForCausalLM and its kin).

export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

export const layerTensor = (layer: number, suffix: string): string => `model.layers.${layer}.${suffix}`;

/** The 2-D projection matrices of one layer, in the order the step graph uses them. */
export const LAYER_MATRICES = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;

export type LayerMatrix = (typeof LAYER_MATRICES)[number];
