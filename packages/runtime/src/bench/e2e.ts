// End-to-end throughput of one model under each weight mode (zipgemm, dense, vendor) in one
// process: prefill and decode tokens/s per batch size, weight memory, and host overhead per step.

import { createEngine, type EngineOptions } from '../engine/engine.js';
import type { WeightMode } from '../model/device-model.js';
import { Rng } from '../util/rng.js';

export interface E2EBenchOptions {
  model: string;
  backend?: EngineOptions['backend'];
  weights?: WeightMode[];
  batches?: number[];
  promptLen?: number;
  gen?: number;
  seed?: number;
  /** Largest step (prefill chunk). Default: room for every prompt of the largest batch, at most 4096. */
  maxStepTokens?: number;
  /** Engine option zipgemmPath: 'auto' (default; prefill steps over 64 rows on vendor GEMMs) or 'zipgemm' (the
   *  fused kernels at every step size). */
  zipgemmPath?: EngineOptions['zipgemmPath'];
  log?: (line: string) => void;
}

export interface E2EBenchRow {
  weights: WeightMode;
  batch: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  time_to_first_token_s: number;
  time_per_output_token_ms: number;
  e2e_s: number;
  steps: number;
  device_ms_per_step: number;
  host_overhead_ms_per_step: number;
  /** Median device ms of one replay of the decode step's graph alone (back to back, no host round trip);
   *  null where the backend cannot time graphs. device_ms_per_step minus this = the per-step round trip. */
  graph_ms_per_step: number | null;
  weight_bytes: number;
  kv_bytes: number;
}

export interface E2EBenchReport {
  model: string;
  backend: string;
  device: string;
  prompt_len: number;
  gen: number;
  batches: number[];
  /** Synthetic matrices built from reused encoded bands (values repeat; sizes and speed are real). */
  synthetic_tiled: boolean;
  rows: E2EBenchRow[];
  skipped: Array<{ weights: WeightMode; reason: string }>;
  load_s: Partial<Record<WeightMode, number>>;
  node: string;
  date: string;
}

export async function runE2EBench(options: E2EBenchOptions): Promise<E2EBenchReport> {
  const weights = options.weights ?? ['zipgemm', 'dense', 'vendor'];
  const batches = options.batches ?? [1, 8, 32];
  const promptLen = options.promptLen ?? 128;
  const gen = options.gen ?? 256;
  const log = options.log ?? (() => {});
  if (batches.length === 0 || batches.some((b) => !Number.isSafeInteger(b) || b < 1)) throw new RangeError(`batch sizes must be positive integers, got ${batches.join(',')}`);
  if (!Number.isSafeInteger(promptLen) || promptLen < 1) throw new RangeError(`prompt length must be a positive integer, got ${promptLen}`);
  if (!Number.isSafeInteger(gen) || gen < 2) throw new RangeError(`gen must be an integer >= 2, got ${gen}`);
  const maxBatch = Math.max(...batches);
  const report: E2EBenchReport = {
    model: options.model,
    backend: '',
    device: '',
    prompt_len: promptLen,
    gen,
    batches,
    synthetic_tiled: false,
    rows: [],
    skipped: [],
    load_s: {},
    node: process.version,
    date: new Date().toISOString(),
  };
  for (const mode of weights) {
    log(`loading ${options.model} with ${mode} weights`);
    let engine: Awaited<ReturnType<typeof createEngine>>;
    try {
      engine = await createEngine({
        model: options.model,
        backend: options.backend ?? 'auto',
        weights: mode,
        maxBatch,
        maxContext: promptLen + gen,
        maxStepTokens: options.maxStepTokens ?? Math.min(4096, maxBatch * promptLen),
        ...(options.zipgemmPath ? { zipgemmPath: options.zipgemmPath } : {}),
      });
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
      if (/does not support weight path/.test(reason)) {
        report.skipped.push({ weights: mode, reason });
        log(`skip ${mode}: ${reason}`);
        continue;
      }
      throw err;
    }
    try {
      report.backend = engine.info.backend;
      report.device = engine.info.device;
      report.synthetic_tiled ||= engine.info.load.syntheticTiled;
      report.load_s[mode] = engine.info.load.loadSeconds;
      const rng = new Rng(options.seed ?? 1234);
      const V = engine.config.vocabSize;
      const prompts = (b: number) => Array.from({ length: b }, () => Array.from({ length: promptLen }, () => rng.nextU32() % V));
      for (const b of batches) {
        // Warm-up with the same shapes: compiles (captures) the prefill and decode buckets.
        await runBatch(engine, prompts(b), 3);
        engine.resetStepStats();
        const t = await runBatch(engine, prompts(b), gen);
        const st = engine.stepStats();
        const row: E2EBenchRow = {
          weights: mode,
          batch: b,
          prefill_tokens_per_s: (b * promptLen) / t.prefillS,
          decode_tokens_per_s: (b * (gen - 1)) / t.decodeS,
          time_to_first_token_s: t.prefillS,
          time_per_output_token_ms: (t.decodeS / (gen - 1)) * 1000,
          e2e_s: t.prefillS + t.decodeS,
          steps: st.steps,
          device_ms_per_step: st.device_ms,
          host_overhead_ms_per_step: st.host_overhead_ms,
          graph_ms_per_step: await engine.timeStepGraph(b),
          weight_bytes: engine.info.weight_bytes,
          kv_bytes: engine.info.kv_bytes,
        };
        report.rows.push(row);
        log(`${mode} batch ${b}: prefill ${row.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${row.decode_tokens_per_s.toFixed(1)} tok/s`);
      }
    } finally {
      await engine.dispose();
    }
  }
  return report;
}

/** Runs a batch greedily to `gen` tokens; times prefill (until every sequence has its first token) and decode. */
async function runBatch(engine: Awaited<ReturnType<typeof createEngine>>, prompts: number[][], gen: number): Promise<{ prefillS: number; decodeS: number }> {
  const start = performance.now();
  let lastFirst = start;
  await Promise.all(
    prompts.map(async (promptIds) => {
      let first = true;
      for await (const ev of engine.generate({ promptIds, maxTokens: gen, temperature: 0, ignoreEos: true })) {
        if (ev.type === 'token' && first) {
          first = false;
          lastFirst = Math.max(lastFirst, performance.now());
        }
      }
    }),
  );
  const end = performance.now();
  return { prefillS: (lastFirst - start) / 1000, decodeS: (end - lastFirst) / 1000 };
}
