// @zipserv/runtime: Llama-family inference on TCA-TBE compressed weights over any ZipservBackendV1.

export { createEngine, Engine, type EngineInfo, type EngineOptions, type EngineStepStats } from './engine/engine.js';
export type {
  ChatMessage,
  ChatOptions,
  FinishReason,
  GenerateRequest,
  GenerationEvent,
  GenerationResult,
  GenerationStats,
  GenerationStream,
  SamplingOptions,
} from './engine/types.js';
export {
  registerBackend,
  findBackendProvider,
  listBackends,
  resolveBackend,
  AUTO_BACKEND_ORDER,
  type BackendAvailability,
  type BackendChoice,
} from './backends/registry.js';
export { parseModelConfig, ModelConfigError, type ModelConfig, type ModelFamily } from './config/model-config.js';
export { SYNTHETIC_CONFIGS, SYNTHETIC_PREFIX, isSyntheticModel } from './config/synthetic-configs.js';
export type { WeightMode, LoadProgress, WeightLoadStats } from './model/device-model.js';
export { SyntheticModelSource, repeatTileRows } from './model/synthetic-source.js';
export { argmax, candidateDistribution, sample, type SamplingParams } from './sampling/sampler.js';
export { BlockAllocator } from './kv/block-allocator.js';
export { createChatTemplate, loadChatTemplate, type ChatTemplate } from './text/chat-template.js';
export { createTextCodec, loadTextCodec, type TextCodec } from './text/tokenizer.js';
export { TextStream } from './text/text-stream.js';
export { Rng } from './util/rng.js';
export { runE2EBench, type E2EBenchOptions, type E2EBenchReport, type E2EBenchRow } from './bench/e2e.js';
