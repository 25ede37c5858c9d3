// The GEMM kernels' benchmark (native/gemm, run_gemm_bench_json) through the addon, for `pnpm bench`.

import { loadAddon } from './addon.js';

/** Options of the kernels' benchmark (GemmBenchOptions in native/gemm/zipgemm.h). */
export interface GemmBenchOptions {
  /** Preset names or "MxK" items, comma-separated (default "llama3-8b,llama3-70b"). */
  shapes?: string;
  /** Token counts, comma-separated. */
  ns?: string;
  repeats?: number;
  itersPerRepeat?: number;
  /** 0: a fresh seed. */
  seed?: number;
  correctness?: boolean;
  sweep?: boolean;
  /** Also write the JSON report here. */
  jsonPath?: string;
}

/** Runs the benchmark on the GPU (blocking: minutes), returns its JSON report parsed. */
export function runGemmBench(options: GemmBenchOptions = {}, addonPath?: string): unknown {
  const loaded = loadAddon(addonPath);
  if ('error' in loaded) throw new Error(`cuda backend: ${loaded.error}`);
  const probe = loaded.addon.probe();
  if (!probe.ok) throw new Error(`cuda backend: ${probe.reason}`);
  return JSON.parse(loaded.addon.gemmBench(JSON.stringify(options)));
}
