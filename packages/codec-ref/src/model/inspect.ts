// inspectModel: per-tensor storage figures of a compressed (or original) model, reading headers and
// the small bitmap components only.

import { type WeightsFile, openWeightsFile } from './container-file.js';
import { ModelError } from './errors.js';
import { modelFiles, resolveInput } from './paths.js';
import { type FileSummary, type TensorSummary, countBitmapOutliers, tensorSummary } from './summary.js';

export interface InspectReport {
  dir: string;
  /** True when at least one weights file is a zipserv container. */
  compressed: boolean;
  files: FileSummary[];
  tensors: TensorSummary[];
  /** Bytes of the weights files as original and as stored (equal for an original model). */
  originalBytes: number;
  storedBytes: number;
  /** storedBytes / originalBytes. */
  ratio: number;
}

export async function inspectModel(dir: string): Promise<InspectReport> {
  const source = await resolveInput(dir);
  const weights = (await modelFiles(source)).filter((f) => f.isSafetensors);
  if (weights.length === 0) throw new ModelError(`${dir}: no .safetensors files`);
  const files: FileSummary[] = [];
  const tensors: TensorSummary[] = [];
  let compressed = false;
  for (const f of weights) {
    const w: WeightsFile = await openWeightsFile(f.abs);
    try {
      const { file, container } = w;
      if (!container) {
        for (const t of file.tensors) {
          const n = t.dataOffsets[1] - t.dataOffsets[0];
          tensors.push(tensorSummary(f.rel, t, 'raw', n, n, null));
        }
        files.push({ file: f.rel, originalBytes: file.fileSize, storedBytes: file.fileSize, tensors: file.tensors.length, compressedTensors: 0 });
        continue;
      }
      compressed = true;
      for (const t of container.tensors) {
        let tca: { expBase: number; outliers: number } | null = null;
        if (t.storage === 'tca-tbe') {
          const bitmaps = await file.read(t.stored[0]!.name); // [tiles, 64, 3] u64
          tca = { expBase: t.expBase!, outliers: countBitmapOutliers(bitmaps) };
        }
        tensors.push(tensorSummary(f.rel, t, t.storage, t.originalBytes, t.storedBytes, tca));
      }
      files.push({
        file: f.rel,
        originalBytes: container.source.fileBytes,
        storedBytes: file.fileSize,
        tensors: container.tensors.length,
        compressedTensors: container.tensors.filter((t) => t.storage === 'tca-tbe').length,
      });
    } finally {
      await w.file.close();
    }
  }
  const originalBytes = files.reduce((n, f) => n + f.originalBytes, 0);
  const storedBytes = files.reduce((n, f) => n + f.storedBytes, 0);
  return {
    dir: source.path,
    compressed,
    files,
    tensors,
    originalBytes,
    storedBytes,
    ratio: originalBytes === 0 ? 1 : storedBytes / originalBytes,
  };
}
