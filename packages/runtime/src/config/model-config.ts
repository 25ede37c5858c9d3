// Hugging Face config.json -> the one normalised description the engine builds graphs from.
// Supported: the Llama family as transformers stores it (llama, mistral, qwen2, qwen3; SmolLM and
// TinyLlama are model_type "llama"). Anything the graph cannot express is refused by name.

import type { RopeScaling } from '@zipserv/format';

export type ModelFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

export interface ModelConfig {
  family: ModelFamily;
  /** config.json `model_type` as written. */
  modelType: string;
  hiddenSize: number; // D
  intermediateSize: number; // I
  numLayers: number;
  numHeads: number; // H
  numKvHeads: number; // Hkv
  headDim: number; // hd
  vocabSize: number; // V
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  tieWordEmbeddings: boolean;
  /** False when config.json does not say: then a missing lm_head.weight means tied. */
  tieWordEmbeddingsSpecified: boolean;
  /** Bias on q/k/v projections (Qwen2, Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama with attention_bias). */
  oBias: boolean;
  /** Bias on gate/up/down (Llama with mlp_bias). */
  mlpBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Mistral's sliding window, when it limits attention; the engine caps its context to it. */
  slidingWindow?: number;
  bosTokenId?: number;
  eosTokenIds: number[];
}

const FAMILY_BY_MODEL_TYPE: Readonly<Record<string, ModelFamily>> = {
  llama: 'llama',
  mistral: 'mistral',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
};

export class ModelConfigError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'ModelConfigError';
  }
}

type Json = Record<string, unknown>;

/**
 * Parses a config.json object. `where` names the file in errors (e.g. "/models/x/config.json").
 * Throws ModelConfigError naming the first missing or unsupported field.
 */
export function parseModelConfig(raw: unknown, where = 'config.json'): ModelConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelConfigError(where, 'is not a JSON object');
  const c = raw as Json;
  const fail = (msg: string): never => {
    throw new ModelConfigError(where, msg);
  };

  const modelType = typeof c.model_type === 'string' ? c.model_type : undefined;
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : [];
  if (!modelType) fail(`no model_type (architectures: ${archs.join(', ') || 'none'}); supported: ${Object.keys(FAMILY_BY_MODEL_TYPE).join(', ')}`);
  const family = FAMILY_BY_MODEL_TYPE[modelType!];
  if (!family) {
    fail(`unsupported architecture model_type '${modelType}'${archs.length ? ` (${archs.join(', ')})` : ''}; supported: ${Object.keys(FAMILY_BY_MODEL_TYPE).join(', ')}`);
  }

  const int = (key: string, fallback?: number): number => {
    const v = c[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      return fail(`missing ${key}`);
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail(`${key} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };

  const hiddenSize = int('hidden_size');
  const intermediateSize = int('intermediate_size');
  const numLayers = int('num_hidden_layers');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim)) fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads} and head_dim is not given`);
  if (headDim % 2 !== 0) fail(`head_dim ${headDim} must be even for RoPE`);
  const vocabSize = int('vocab_size');

  const act = c.hidden_act ?? c.hidden_activation ?? 'silu';
  if (act !== 'silu') fail(`unsupported hidden_act '${String(act)}' (only silu)`);
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== null && c.partial_rotary_factor !== 1) {
    fail(`unsupported partial_rotary_factor ${String(c.partial_rotary_factor)} (only 1)`);
  }

  const attentionBias = c.attention_bias === true;
  const qkvBias = family === 'qwen2' ? true : attentionBias;
  const oBias = family === 'qwen2' ? false : attentionBias;
  const mlpBias = c.mlp_bias === true;

  let slidingWindow: number | undefined;
  const sw = c.sliding_window;
  const swEnabled = family === 'mistral' ? true : c.use_sliding_window === true;
  if (swEnabled && typeof sw === 'number' && sw > 0) {
    if (family === 'qwen2' || family === 'qwen3') {
      // Qwen applies the window only to layers >= max_window_layers: a per-layer mask we do not express.
      const mwl = typeof c.max_window_layers === 'number' ? c.max_window_layers : 0;
      if (mwl < numLayers) fail(`use_sliding_window with max_window_layers ${mwl} < num_hidden_layers ${numLayers} is not supported`);
    } else {
      slidingWindow = sw;
    }
  }

  return {
    family: family!,
    modelType: modelType!,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: ropeTheta(c, fail),
    ropeScaling: parseRopeScaling(c.rope_scaling ?? c.rope_parameters, fail),
    tieWordEmbeddings: c.tie_word_embeddings === true,
    tieWordEmbeddingsSpecified: typeof c.tie_word_embeddings === 'boolean',
    qkvBias,
    oBias,
    mlpBias,
    qkNorm: family === 'qwen3',
    slidingWindow,
    bosTokenId: typeof c.bos_token_id === 'number' ? c.bos_token_id : undefined,
    eosTokenIds: tokenIdList(c.eos_token_id),
  };
}

/** eos_token_id may be a number, a list of numbers, or absent. */
export function tokenIdList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** rope_theta at the top level, or (transformers >= 5) inside rope_parameters. */
function ropeTheta(c: Json, fail: (msg: string) => never): number {
  const params = c.rope_parameters as Json | null | undefined;
  const v = c.rope_theta ?? (params && typeof params === 'object' ? params.rope_theta : undefined) ?? 10000;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail(`rope_theta must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function parseRopeScaling(v: unknown, fail: (msg: string) => never): RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object') return fail(`rope_scaling must be an object, got ${JSON.stringify(v)}`);
  const r = v as Json;
  const type = r.rope_type ?? r.type;
  const positive = (key: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return fail(`rope_scaling.${key} must be a positive number, got ${JSON.stringify(value)}`);
    return value;
  };
  switch (type) {
    case undefined:
    case 'default':
      return undefined;
    case 'llama3':
      return {
        type: 'llama3',
        factor: positive('factor', r.factor),
        lowFreqFactor: positive('low_freq_factor', r.low_freq_factor),
        highFreqFactor: positive('high_freq_factor', r.high_freq_factor),
        originalMaxPositionEmbeddings: positive('original_max_position_embeddings', r.original_max_position_embeddings),
      };
    case 'linear':
      return { type: 'linear', factor: positive('factor', r.factor) };
    default:
      return fail(`unsupported rope_scaling type '${String(type)}' (supported: default, llama3, linear)`);
  }
}
