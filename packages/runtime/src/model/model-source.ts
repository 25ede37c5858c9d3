// Where weights come from: a model directory (original or compressed) or a synthetic generator.
// The loader asks one tensor at a time, so no source ever holds the whole model in JS memory.

import type { WeightSource, WeightStorage } from '@zipserv/format';

export interface SourceTensorInfo {
  name: string;
  /** Safetensors dtype of the original tensor ('BF16', 'F32', ...). */
  dtype: string;
  shape: readonly number[];
  storage: WeightStorage;
}

export interface ModelSource {
  /** The directory or `synthetic:NAME`, for messages. */
  readonly description: string;
  /** Parsed config.json. */
  readonly rawConfig: unknown;
  /** True for a ZipServ container directory. */
  readonly compressed: boolean;
  /** Directory holding tokenizer files, or null (synthetic models). */
  readonly dir: string | null;
  /** Set when TCA-TBE matrices are built from a few encoded bands reused down the matrix. */
  readonly syntheticTiled: boolean;
  tensor(name: string): SourceTensorInfo | undefined;
  /**
   * A 2-D matrix as BF16, compressed or raw. `prefer` lets a source that can produce either form
   * cheaply (synthetic) skip a conversion; others return what they store and the loader converts.
   */
  readMatrix(name: string, prefer: WeightStorage): Promise<WeightSource>;
  /** A 1-D tensor (norm weight, bias) widened to f32. */
  readVector(name: string): Promise<Float32Array>; // [n] f32
  close(): Promise<void>;
}
