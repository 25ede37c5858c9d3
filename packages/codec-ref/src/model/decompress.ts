// decompressModel: a zipserv container directory -> the original files, byte for byte, atomically.

import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { withAtomicOutputDir } from './atomic-dir.js';
import { type WeightsFile, openWeightsFile } from './container-file.js';
import { type PoolOptions, poolDecoder, withPool } from './decoder.js';
import { ModelError } from './errors.js';
import { SequentialFileWriter } from './file-writer.js';
import { checkOutput, modelFiles, resolveInput } from './paths.js';
import { type ProgressCallback, ProgressCounter } from './progress.js';
import { restoreFile } from './restore.js';

export interface DecompressOptions extends PoolOptions {
  onProgress?: ProgressCallback;
}

export interface DecompressSummary {
  input: string;
  output: string;
  /** Weights files restored (relative paths) with their sizes before (stored) and after. */
  files: { file: string; storedBytes: number; originalBytes: number }[];
  /** Other files, copied as they are. */
  copied: string[];
  storedBytes: number;
  originalBytes: number;
  seconds: number;
}

export async function decompressModel(compressedDir: string, outDir: string, options: DecompressOptions = {}): Promise<DecompressSummary> {
  const started = performance.now();
  const source = await resolveInput(compressedDir);
  const out = await checkOutput(source, compressedDir, outDir);
  const files = await modelFiles(source);
  const opened = new Map<string, WeightsFile>();
  try {
    // Every header is validated before anything is written.
    for (const f of files) if (f.isSafetensors) opened.set(f.rel, await openWeightsFile(f.abs));
    if (![...opened.values()].some((w) => w.container)) {
      throw new ModelError(`${compressedDir}: not a zipserv-compressed model (no container files)`);
    }
    const total = [...opened.values()].reduce((n, w) => n + (w.container?.source.fileBytes ?? w.file.fileSize), 0);
    const progress = new ProgressCounter('decompress', total, options.onProgress);
    return await withPool(options, (pool) =>
      withAtomicOutputDir(out, async (temp) => {
        const restored: DecompressSummary['files'] = [];
        const copied: string[] = [];
        for (const f of files) {
          const dest = join(temp, f.rel);
          await mkdir(dirname(dest), { recursive: true });
          const w = opened.get(f.rel);
          if (!w?.container) {
            // Not a container (any other file, or a weights file stored as it was): copied.
            await copyFile(f.abs, dest);
            copied.push(f.rel);
            if (w) progress.add(w.file.fileSize, f.rel);
            continue;
          }
          const writer = await SequentialFileWriter.create(dest);
          try {
            await restoreFile(w.file, w.container, poolDecoder(pool), (bytes) => writer.write(bytes), {
              onTensor: (name, bytes) => progress.add(bytes, f.rel, name),
            });
            await writer.close();
          } catch (err) {
            await writer.abort();
            throw err;
          }
          restored.push({ file: f.rel, storedBytes: w.file.fileSize, originalBytes: w.container.source.fileBytes });
        }
        return {
          input: source.path,
          output: out,
          files: restored,
          copied,
          storedBytes: restored.reduce((n, r) => n + r.storedBytes, 0),
          originalBytes: restored.reduce((n, r) => n + r.originalBytes, 0),
          seconds: (performance.now() - started) / 1000,
        };
      }),
    );
  } finally {
    await Promise.all([...opened.values()].map((w) => w.file.close()));
  }
}
