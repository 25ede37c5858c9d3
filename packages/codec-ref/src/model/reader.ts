// ModelReader: tensors of a model directory, original (single file or sharded through
// model.safetensors.index.json) or compressed, for the runtime. Checksums are verified on load:
// CRC-32 of stored bytes always, SHA-256 of the original bytes whenever a tensor is decoded.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerTensor, SafetensorsDType, SafetensorsTensorInfo, TensorStorage, WeightSource } from '@zipserv/format';
import type { EncoderPool } from '../codec/index.js';
import { type WeightsFile, loadMatrix, openWeightsFile, readStoredParts, restoreTensor } from './container-file.js';
import { inThreadDecoder, poolDecoder } from './decoder.js';
import { FLOAT_DTYPES, toFloat32 } from './convert.js';
import { ModelError } from './errors.js';
import { SAFETENSORS_SUFFIX, isWithin, resolveInput } from './paths.js';

export interface ModelTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  storage: TensorStorage;
  /** Weights file holding it, relative to the model root. */
  file: string;
}

interface Entry extends ModelTensor {
  weights: WeightsFile;
  /** Set in container files. */
  container: ContainerTensor | null;
  /** Set in ordinary files. */
  info: SafetensorsTensorInfo | null;
}

const INDEX_SUFFIX = '.safetensors.index.json';

export interface ModelReaderOptions {
  /** Decode in this worker pool (default: in the calling thread). */
  pool?: EncoderPool;
}

export class ModelReader {
  private closed = false;

  private constructor(
    /** The model directory (real path). */
    readonly root: string,
    /** Weights files, relative to root. */
    readonly files: readonly string[],
    /** Parsed config.json, or null when there is none. */
    readonly config: Record<string, unknown> | null,
    private readonly entries: Map<string, Entry>,
    private readonly opened: WeightsFile[],
    private readonly options: ModelReaderOptions,
  ) {}

  /** True when the weights are zipserv containers. */
  get compressed(): boolean {
    return this.opened.some((w) => w.container !== null);
  }

  /** Opens a model directory (or one .safetensors file); validates every header. */
  static async open(path: string, options: ModelReaderOptions = {}): Promise<ModelReader> {
    const input = await resolveInput(path, 'model');
    const root = input.root;
    const files = input.isFile ? [input.path.slice(root.length + 1)] : await weightFiles(root, path);
    const config = await readConfig(root);
    const opened: WeightsFile[] = [];
    const entries = new Map<string, Entry>();
    try {
      for (const rel of files) {
        const weights = await openWeightsFile(join(root, rel));
        opened.push(weights);
        const add = (e: Entry) => {
          const other = entries.get(e.name);
          if (other) throw new ModelError(`${path}: tensor "${e.name}" is in both ${other.file} and ${rel}`);
          entries.set(e.name, e);
        };
        if (weights.container) {
          for (const t of weights.container.tensors) {
            add({ name: t.name, dtype: t.dtype, shape: t.shape, storage: t.storage, file: rel, weights, container: t, info: null });
          }
        } else {
          for (const t of weights.file.tensors) {
            add({ name: t.name, dtype: t.dtype, shape: t.shape, storage: 'raw', file: rel, weights, container: null, info: t });
          }
        }
      }
      if (!input.isFile) await checkIndex(root, path, entries);
    } catch (err) {
      await Promise.all(opened.map((w) => w.file.close()));
      throw err;
    }
    return new ModelReader(root, files, config, entries, opened, options);
  }

  /** Every tensor, file by file in header order. */
  tensors(): ModelTensor[] {
    return [...this.entries.values()].map(({ name, dtype, shape, storage, file }) => ({ name, dtype, shape, storage, file }));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  tensor(name: string): ModelTensor {
    const { dtype, shape, storage, file } = this.entry(name);
    return { name, dtype, shape, storage, file };
  }

  /** A 2-D BF16 weight as uploaded to a backend: the TCA-TBE matrix, or raw BF16 bits. */
  async readMatrix(name: string): Promise<WeightSource> {
    const e = this.entry(name);
    if (e.dtype !== 'BF16' || e.shape.length !== 2) {
      throw new ModelError(`${this.where(e)} is ${e.dtype} ${JSON.stringify(e.shape)}, not a 2-D BF16 matrix`);
    }
    const [rows, cols] = e.shape as [number, number];
    const { file } = e.weights;
    if (e.container?.storage === 'tca-tbe') return { storage: 'tca-tbe', matrix: await loadMatrix(file, e.container) };
    const bytes = e.container ? (await readStoredParts(file, e.container))[0]! : await file.read(name);
    return { storage: 'raw', rows, cols, data: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) }; // [rows, cols] bf16
  }

  /** The original bytes of a tensor (decoded and SHA-256 checked when compressed). */
  async readBytes(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    if (!e.container) return e.weights.file.read(name);
    const decode = this.options.pool ? poolDecoder(this.options.pool) : inThreadDecoder;
    return restoreTensor(e.weights.file, e.container, decode);
  }

  /** A floating-point tensor's values as float32 (exact for BF16, F16, F32 and FP8). */
  async readTensorF32(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    if (!FLOAT_DTYPES.has(e.dtype)) throw new ModelError(`${this.where(e)} is ${e.dtype}, not a floating-point tensor`);
    return toFloat32(e.dtype, await this.readBytes(name));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.opened.map((w) => w.file.close()));
  }

  private entry(name: string): Entry {
    if (this.closed) throw new ModelError(`${this.root}: model reader is closed`);
    const e = this.entries.get(name);
    if (!e) throw new ModelError(`${this.root}: no tensor named "${name}"`);
    return e;
  }

  private where(e: Entry): string {
    return `${join(this.root, e.file)}: tensor "${e.name}"`;
  }
}

/** The weights files of a directory: those named by its index, else every top-level .safetensors. */
async function weightFiles(root: string, shown: string): Promise<string[]> {
  const names = (await readdir(root)).sort();
  const index = indexFile(names, shown);
  if (index) {
    const map = await readWeightMap(join(root, index));
    const files = [...new Set(Object.values(map))];
    for (const f of files) {
      if (!isWithin(join(root, f), root)) throw new ModelError(`${join(root, index)}: weight_map names ${f}, outside the model directory`);
    }
    return files;
  }
  const files = names.filter((n) => n.endsWith(SAFETENSORS_SUFFIX));
  if (files.length === 0) throw new ModelError(`${shown}: no .safetensors files`);
  return files;
}

function indexFile(names: readonly string[], shown: string): string | null {
  const indexes = names.filter((n) => n.endsWith(INDEX_SUFFIX));
  if (indexes.length <= 1) return indexes[0] ?? null;
  if (indexes.includes(`model${INDEX_SUFFIX}`)) return `model${INDEX_SUFFIX}`;
  throw new ModelError(`${shown}: several ${INDEX_SUFFIX} files (${indexes.join(', ')}): open one weights file instead`);
}

async function readWeightMap(path: string): Promise<Record<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ModelError(`${path}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new ModelError(`${path}: no "weight_map" object`);
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.length === 0) throw new ModelError(`${path}: weight_map["${name}"] must be a file name`);
  }
  return map as Record<string, string>;
}

/** Every tensor the index maps must be in the file it names. */
async function checkIndex(root: string, shown: string, entries: ReadonlyMap<string, Entry>): Promise<void> {
  const index = indexFile((await readdir(root)).sort(), shown);
  if (!index) return;
  const map = await readWeightMap(join(root, index));
  for (const [name, file] of Object.entries(map)) {
    const e = entries.get(name);
    if (!e || e.file !== file) {
      throw new ModelError(`${join(root, index)}: maps tensor "${name}" to ${file}, which does not hold it`);
    }
  }
}

async function readConfig(root: string): Promise<Record<string, unknown> | null> {
  const path = join(root, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const json = JSON.parse(text);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as Record<string, unknown>;
  } catch (err) {
    throw new ModelError(`${path}: ${(err as Error).message.split('\n')[0]}`);
  }
}
