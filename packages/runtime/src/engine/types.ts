// Public request, event and result types of the engine.

import type { ChatMessage } from '../text/chat-template.js';

export interface SamplingOptions {
  /** 0 = greedy (argmax on the device). Default 1. */
  temperature?: number;
  /** Keep the k most probable tokens; 0 = off (default). */
  topK?: number;
  /** Nucleus sampling mass; 1 = off (default). */
  topP?: number;
  /** Keep tokens with p >= minP * p_max; 0 = off (default). */
  minP?: number;
  /** > 1 discourages tokens already in the prompt or output; 1 = off (default). */
  repetitionPenalty?: number;
  /** Per-request seed: the same seed gives the same tokens, whatever else shares the batch. */
  seed?: number;
}

export interface GenerateRequest extends SamplingOptions {
  /** Text prompt (needs tokenizer.json). Exactly one of prompt and promptIds. */
  prompt?: string;
  /** Prompt as token ids. */
  promptIds?: readonly number[];
  /** Add BOS etc. when encoding a text prompt. Default true. */
  addSpecialTokens?: boolean;
  /** Most tokens to generate. Default 256 (capped by the context). */
  maxTokens?: number;
  /** Extra token ids that end generation (besides the model's EOS). */
  stopTokenIds?: readonly number[];
  /** Strings that end generation; the text is cut before them. */
  stopStrings?: readonly string[];
  /** Keep going past EOS (benchmarks). */
  ignoreEos?: boolean;
  signal?: AbortSignal;
}

export interface ChatOptions extends Omit<GenerateRequest, 'prompt' | 'promptIds' | 'addSpecialTokens'> {
  /** Variables passed to the chat template besides messages (e.g. enable_thinking). */
  templateVariables?: Record<string, unknown>;
}

export type FinishReason = 'stop' | 'length' | 'abort';

/** Figures named as web-llm names them, plus memory and host-overhead figures. */
export interface GenerationStats {
  prompt_tokens: number;
  completion_tokens: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  time_to_first_token_s: number;
  time_per_output_token_s: number;
  e2e_latency_s: number;
  /** Device bytes of all weights. */
  weight_bytes: number;
  /** Device bytes of the whole KV cache pool. */
  kv_bytes: number;
  /** Steps this request took part in. */
  steps: number;
  /** Mean host milliseconds per step outside device work (graph run + read-back). */
  host_overhead_ms_per_step: number;
}

export interface GenerationResult {
  /** Generated ids (prompt excluded; a stopping EOS/stop token excluded). */
  tokens: number[];
  /** Decoded text, or null for models without a tokenizer. */
  text: string | null;
  finishReason: FinishReason;
  stats: GenerationStats;
}

/**
 * `token`: one generated token and the text it settles (null without a tokenizer; may be '' while
 * a multi-byte character or a possible stop string is pending). `text`: held-back text released at
 * the end. `done`: the result, always last.
 */
export type GenerationEvent =
  | { type: 'token'; tokenId: number; text: string | null }
  | { type: 'text'; text: string }
  | { type: 'done'; result: GenerationResult };

export interface GenerationStream extends AsyncIterable<GenerationEvent> {
  /** Settles when generation ends (also without iterating). */
  readonly result: Promise<GenerationResult>;
  /** Stops generation: it ends with finishReason 'abort'. */
  cancel(): void;
}

export type { ChatMessage };
