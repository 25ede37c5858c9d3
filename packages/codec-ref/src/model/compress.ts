// compressModel: a Hugging Face model directory (or one .safetensors file) -> a zipserv container
// directory (SPEC.md section 6), atomically.
//
// One pass per weights file, about two tensors in memory: each tensor is read (the next one is
// prefetched while the current one encodes), encoded in the worker pool, stored as TCA-TBE when that
// is smaller and raw otherwise, and appended to the output. The header goes last, into room
// reserved for the largest header the file could need (every candidate compressed with the most
// outliers its shape allows, every checksum at its widest spelling). Small candidates are sized
// first (tcaTbeEncodedBytes), so that the room reserved for components they will not have stays
// negligible next to the tensors that could still end up raw. The projections a runtime fuses (q|k|v, gate|up
// of a layer) share the window of the first of them that is encoded (window-groups.ts), so a loader can stack
// them without decoding.

import { constants as bufferConstants } from 'node:buffer';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type ContainerSource,
  type ContainerTensorRecord,
  MAX_EXP_BASE,
  SafetensorsFile,
  type SafetensorsTensorInfo,
  type SafetensorsTensorLayout,
  SafetensorsWriter,
  Sha256,
  TCA_NAME_MARKER,
  TILE_ELEMENTS,
  buildContainerMetadata,
  buildSafetensorsHeader,
  crc32,
  headerLengthPrefix,
  isContainerMetadata,
  tcaComponentBytes,
  tcaComponentLayout,
  tcaComponentNames,
  tcaTbeGeometry,
} from '@zipserv/format';
import { type EncoderPool, tcaTbeEncodedBytes } from '../codec/index.js';
import { withAtomicOutputDir } from './atomic-dir.js';
import { SharedBufferPool } from './buffer-pool.js';
import { type PoolOptions, withPool } from './decoder.js';
import { ModelError } from './errors.js';
import { checkOutput, modelFiles, resolveInput } from './paths.js';
import { type ProgressCallback, ProgressCounter } from './progress.js';
import { type FileSummary, type TensorSummary, countBitmapOutliers, tensorSummary } from './summary.js';
import { windowGroupOf } from './window-groups.js';

export interface CompressOptions extends PoolOptions {
  /** Decode every encoded tensor and compare it with the original before writing (default true). */
  check?: boolean;
  onProgress?: ProgressCallback;
}

export interface CompressSummary {
  input: string;
  output: string;
  /** Weights files, compressed. */
  files: FileSummary[];
  /** Other files, copied as they are (relative paths). */
  copied: string[];
  tensors: TensorSummary[];
  /** Bytes of the weights files before and after. */
  originalBytes: number;
  storedBytes: number;
  /** storedBytes / originalBytes. */
  ratio: number;
  seconds: number;
}

export async function compressModel(input: string, outDir: string, options: CompressOptions = {}): Promise<CompressSummary> {
  const started = performance.now();
  const source = await resolveInput(input);
  const out = await checkOutput(source, input, outDir);
  const files = await modelFiles(source);
  if (!files.some((f) => f.isSafetensors)) throw new ModelError(`${input}: no .safetensors files to compress`);

  const opened = new Map<string, SafetensorsFile>();
  try {
    // Every header is validated before anything is written.
    for (const f of files) {
      if (!f.isSafetensors) continue;
      const src = await SafetensorsFile.open(f.abs);
      opened.set(f.rel, src);
      if (isContainerMetadata(src.metadata)) throw new ModelError(`${src.path}: already a zipserv container (decompress it first)`);
    }
    const total = [...opened.values()].reduce((n, s) => n + s.fileSize - s.dataStart, 0);
    const progress = new ProgressCounter('compress', total, options.onProgress);
    return await withPool(options, (pool) =>
      withAtomicOutputDir(out, async (temp) => {
        const summaries: FileSummary[] = [];
        const tensors: TensorSummary[] = [];
        const copied: string[] = [];
        const windows = new Map<string, number>(); // window group -> expBase, across shards
        const buffers = new SharedBufferPool();
        for (const f of files) {
          const dest = join(temp, f.rel);
          await mkdir(dirname(dest), { recursive: true });
          const src = opened.get(f.rel);
          if (!src) {
            await copyFile(f.abs, dest);
            copied.push(f.rel);
            continue;
          }
          const result = await compressFile(src, f.rel, dest, pool, options.check ?? true, progress, windows, buffers);
          summaries.push(result.file);
          tensors.push(...result.tensors);
        }
        const originalBytes = summaries.reduce((n, s) => n + s.originalBytes, 0);
        const storedBytes = summaries.reduce((n, s) => n + s.storedBytes, 0);
        return {
          input: source.path,
          output: out,
          files: summaries,
          copied,
          tensors,
          originalBytes,
          storedBytes,
          ratio: originalBytes === 0 ? 1 : storedBytes / originalBytes,
          seconds: (performance.now() - started) / 1000,
        };
      }),
    );
  } finally {
    await Promise.all([...opened.values()].map((s) => s.close()));
  }
}

/**
 * 2-D BF16 tensors whose component names are free and that fit one buffer. A name that already
 * looks like a component is never compressed (its owner would be ambiguous).
 */
function isCandidate(info: SafetensorsTensorInfo, names: ReadonlySet<string>): boolean {
  if (info.dtype !== 'BF16' || info.shape.length !== 2 || info.shape[0]! < 1 || info.shape[1]! < 1) return false;
  if (info.dataOffsets[1] - info.dataOffsets[0] > bufferConstants.MAX_LENGTH) return false;
  if (info.name.includes(TCA_NAME_MARKER)) return false;
  return tcaComponentNames(info.name).every((n) => !names.has(n));
}

/** Candidates up to this size are sized before writing (a second read of a small tensor is cheap). */
const SIZE_FIRST_BYTES = 1 << 20;

/** Drops the small candidates that TCA-TBE would not shrink. */
async function dropSmallIncompressible(src: SafetensorsFile, candidates: Set<string>): Promise<void> {
  for (const name of [...candidates]) {
    const info = src.tensor(name);
    const bytes = info.dataOffsets[1] - info.dataOffsets[0];
    if (bytes > SIZE_FIRST_BYTES) continue;
    const data = await src.read(name);
    const [rows, cols] = info.shape as [number, number];
    if (tcaTbeEncodedBytes(new Uint16Array(data.buffer, data.byteOffset, bytes / 2), rows, cols) >= bytes) candidates.delete(name);
  }
}

/** Header bytes that hold any outcome: every candidate compressed with its most outliers. */
function headerRoom(src: SafetensorsFile, byOffset: readonly SafetensorsTensorInfo[], candidates: ReadonlySet<string>): number {
  const layout: SafetensorsTensorLayout[] = [];
  const records = new Map<string, ContainerTensorRecord>();
  for (const info of byOffset) {
    const tca = candidates.has(info.name);
    if (tca) {
      const [rows, cols] = info.shape as [number, number];
      layout.push(...tcaComponentLayout(info.name, rows, cols, tcaTbeGeometry(rows, cols).tiles * TILE_ELEMENTS));
    } else {
      layout.push(info);
    }
    records.set(info.name, {
      dtype: info.dtype,
      shape: info.shape,
      storage: tca ? 'tca-tbe' : 'raw',
      sha256: '0'.repeat(64),
      crc32: 0xffffffff,
      ...(tca ? { expBase: MAX_EXP_BASE } : {}),
    });
  }
  const source: ContainerSource = { header: src.headerBytes, fileBytes: src.fileSize, sha256: '0'.repeat(64) };
  const metadata = buildContainerMetadata(source, src.tensors.map((t) => [t.name, records.get(t.name)!] as const));
  return buildSafetensorsHeader(layout, metadata).headerBytes.length;
}

/** The bytes of a candidate tensor, in shared memory so the pool's workers read them in place. */
async function readShared(src: SafetensorsFile, info: SafetensorsTensorInfo, buffers: SharedBufferPool): Promise<Uint8Array> {
  const bytes = buffers.take(info.dataOffsets[1] - info.dataOffsets[0]);
  try {
    return await src.readInto(info.name, bytes);
  } catch (err) {
    buffers.give(bytes);
    throw err;
  }
}

async function compressFile(
  src: SafetensorsFile,
  rel: string,
  dest: string,
  pool: EncoderPool,
  check: boolean,
  progress: ProgressCounter,
  windows: Map<string, number>,
  buffers: SharedBufferPool,
): Promise<{ file: FileSummary; tensors: TensorSummary[] }> {
  const names = new Set(src.tensors.map((t) => t.name));
  const byOffset = [...src.tensors].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
  const candidates = new Set(byOffset.filter((t) => isCandidate(t, names)).map((t) => t.name));
  await dropSmallIncompressible(src, candidates);
  const writer = await SafetensorsWriter.create(dest, {
    reserveHeaderBytes: headerRoom(src, byOffset, candidates),
    atomic: false, // the whole output directory is atomic
  });

  const records = new Map<string, ContainerTensorRecord>();
  const summaries = new Map<string, TensorSummary>();
  // The original file, hashed as it is read: length, header, then the data in offset order.
  const fileHash = new Sha256().update(headerLengthPrefix(src.headerBytes.length)).update(src.headerBytes);
  const prefetch = (i: number): Promise<Uint8Array> | null => {
    const info = byOffset[i];
    if (!info || !candidates.has(info.name)) return null;
    const p = readShared(src, info, buffers);
    p.catch(() => {}); // awaited in turn; not an unhandled rejection meanwhile
    return p;
  };
  let next = prefetch(0);
  try {
    for (let i = 0; i < byOffset.length; i++) {
      const info = byOffset[i]!;
      const pending = next;
      next = null;
      const originalBytes = info.dataOffsets[1] - info.dataOffsets[0];
      const where = () => `${src.path}: tensor "${info.name}"`;
      if (!pending) {
        // Not a candidate: streamed through in chunks (it may be larger than one buffer).
        next = prefetch(i + 1);
        const sha = new Sha256();
        let crc = 0;
        const tapped = async function* () {
          for await (const chunk of src.chunks(info.name)) {
            sha.update(chunk);
            fileHash.update(chunk);
            crc = crc32(chunk, crc);
            yield chunk;
          }
        };
        await writer.addTensor(info, { byteLength: originalBytes, chunks: tapped() });
        records.set(info.name, { dtype: info.dtype, shape: info.shape, storage: 'raw', sha256: sha.hex(), crc32: crc });
        summaries.set(info.name, tensorSummary(rel, info, 'raw', originalBytes, originalBytes, null));
      } else {
        const bytes = await pending;
        next = prefetch(i + 1);
        const [rows, cols] = info.shape as [number, number];
        const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2); // [rows, cols] bf16
        // The first tensor of a window group (q|k|v, gate|up of a layer) picks the best window; the others reuse it.
        const group = windowGroupOf(info.name);
        const shared = group === null ? undefined : windows.get(group);
        const encoding = pool.encode(bits, rows, cols, shared === undefined ? {} : { expBase: shared });
        encoding.catch(() => {}); // awaited below, after hashing
        // Hashed on this thread while the workers encode.
        const sha256 = new Sha256().update(bytes).hex();
        fileHash.update(bytes);
        const m = await encoding.catch((err: Error) => {
          throw new ModelError(`${where()}: encoding failed: ${err.message}`);
        });
        const parts = tcaComponentBytes(m);
        const storedBytes = parts.reduce((n, p) => n + p.byteLength, 0);
        if (storedBytes >= originalBytes) {
          // TCA-TBE would not shrink it (too many outliers, or padding of a small ragged shape).
          await writer.addTensor(info, bytes);
          records.set(info.name, { dtype: 'BF16', shape: info.shape, storage: 'raw', sha256, crc32: crc32(bytes) });
          summaries.set(info.name, tensorSummary(rel, info, 'raw', originalBytes, originalBytes, null));
        } else {
          if (check) {
            const scratch = buffers.take(originalBytes);
            const back = await pool.decode(m, new Uint16Array(scratch.buffer, 0, originalBytes / 2)); // [rows, cols] bf16
            const same = Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(bytes);
            buffers.give(scratch);
            if (!same) {
              throw new ModelError(`${where()}: the encoded tensor does not decode to the original (encoder bug); nothing was written`);
            }
          }
          let crc = 0;
          const layout = tcaComponentLayout(info.name, rows, cols, m.outliers.byteLength);
          for (const [k, part] of parts.entries()) {
            crc = crc32(part, crc);
            await writer.addTensor(layout[k]!, part);
          }
          records.set(info.name, { dtype: 'BF16', shape: info.shape, storage: 'tca-tbe', sha256, crc32: crc, expBase: m.expBase });
          if (group !== null && !windows.has(group)) windows.set(group, m.expBase);
          const tca = { expBase: m.expBase, outliers: countBitmapOutliers(parts[0]!) };
          summaries.set(info.name, tensorSummary(rel, info, 'tca-tbe', originalBytes, storedBytes, tca));
        }
        buffers.give(bytes); // written (or encoded and written): the next tensors may reuse it
      }
      progress.add(originalBytes, rel, info.name);
    }
    const source: ContainerSource = { header: src.headerBytes, fileBytes: src.fileSize, sha256: fileHash.hex() };
    await writer.finish(buildContainerMetadata(source, src.tensors.map((t) => [t.name, records.get(t.name)!] as const)));
  } catch (err) {
    await writer.abort();
    await next?.catch(() => {});
    throw err;
  }
  const tensors = src.tensors.map((t) => summaries.get(t.name)!);
  return {
    file: {
      file: rel,
      originalBytes: src.fileSize,
      storedBytes: writer.dataStart + writer.dataBytes,
      tensors: tensors.length,
      compressedTensors: tensors.filter((t) => t.storage === 'tca-tbe').length,
    },
    tensors,
  };
}
