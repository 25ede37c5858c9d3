// Synthetic models: the exact shapes of public configs, weights N(0, 0.02) in BF16 from a seeded
// generator, norms = 1. Generated per tensor when the loader asks (never the whole model at once).
//
// Large matrices (>= TILED_MIN_ELEMENTS, rows a multiple of 64) are built from BAND_COUNT distinct
// 64-row bands reused down the matrix: the raw form repeats the band rows, the TCA-TBE form repeats
// the bands' encoded tile rows (one real encode of the bands). Both forms hold the same values, so
// zipgemm and dense runs stay comparable bit for bit, and an 8B model loads in seconds instead of
// the minutes a full CPU encode would take. Smaller matrices are generated and encoded in full.

import { encodeMatrix } from '@zipserv/codec-ref';
import { GLOBAL_TILE, TILE_ELEMENTS, type TcaTbeMatrix, type WeightSource, type WeightStorage, f32ArrayToBf16 } from '@zipserv/format';
import { SYNTHETIC_CONFIGS, SYNTHETIC_PREFIX } from '../config/synthetic-configs.js';
import { type ModelConfig, parseModelConfig } from '../config/model-config.js';
import { Rng, hashString } from '../util/rng.js';
import type { ModelSource, SourceTensorInfo } from './model-source.js';
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensor } from './weight-names.js';

export const SYNTHETIC_SIGMA = 0.02;
/** Matrices at least this large are built from reused bands. */
export const TILED_MIN_ELEMENTS = 1 << 22;
/** Distinct 64-row bands per tiled matrix. */
export const BAND_COUNT = 4;

export interface SyntheticOptions {
  seed?: number;
  /** Force full generation + real encode for every matrix (slow for big models). */
  fullEncode?: boolean;
}

export class SyntheticModelSource implements ModelSource {
  readonly compressed = false;
  readonly dir = null;
  readonly rawConfig: Record<string, unknown>;
  readonly config: ModelConfig;
  private readonly tensors = new Map<string, SourceTensorInfo>();
  private readonly seed: number;
  private readonly fullEncode: boolean;
  private tiledUsed = false;

  constructor(
    readonly description: string,
    options: SyntheticOptions = {},
  ) {
    const name = description.slice(SYNTHETIC_PREFIX.length);
    const raw = SYNTHETIC_CONFIGS[name];
    if (!raw) throw new Error(`unknown synthetic model '${description}'; known: ${Object.keys(SYNTHETIC_CONFIGS).map((n) => SYNTHETIC_PREFIX + n).join(', ')}`);
    this.rawConfig = raw;
    this.config = parseModelConfig(raw, description);
    this.seed = options.seed ?? 0x5eed;
    this.fullEncode = options.fullEncode ?? false;
    const c = this.config;
    const add = (n: string, shape: number[]) => this.tensors.set(n, { name: n, dtype: 'BF16', shape, storage: 'raw' });
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    add(EMBED_TOKENS, [c.vocabSize, c.hiddenSize]);
    for (let l = 0; l < c.numLayers; l++) {
      add(layerTensor(l, 'input_layernorm.weight'), [c.hiddenSize]);
      add(layerTensor(l, 'post_attention_layernorm.weight'), [c.hiddenSize]);
      add(layerTensor(l, 'self_attn.q_proj.weight'), [qDim, c.hiddenSize]);
      add(layerTensor(l, 'self_attn.k_proj.weight'), [kvDim, c.hiddenSize]);
      add(layerTensor(l, 'self_attn.v_proj.weight'), [kvDim, c.hiddenSize]);
      add(layerTensor(l, 'self_attn.o_proj.weight'), [c.hiddenSize, qDim]);
      add(layerTensor(l, 'mlp.gate_proj.weight'), [c.intermediateSize, c.hiddenSize]);
      add(layerTensor(l, 'mlp.up_proj.weight'), [c.intermediateSize, c.hiddenSize]);
      add(layerTensor(l, 'mlp.down_proj.weight'), [c.hiddenSize, c.intermediateSize]);
    }
    add(FINAL_NORM, [c.hiddenSize]);
    if (!c.tieWordEmbeddings) add(LM_HEAD, [c.vocabSize, c.hiddenSize]);
  }

  /** True once any matrix was served from reused bands. */
  get syntheticTiled(): boolean {
    return this.tiledUsed;
  }

  tensor(name: string): SourceTensorInfo | undefined {
    return this.tensors.get(name);
  }

  async readMatrix(name: string, prefer: WeightStorage): Promise<WeightSource> {
    const info = this.require(name);
    if (info.shape.length !== 2) throw new Error(`${this.description}: ${name} is not a matrix`);
    const [rows, cols] = info.shape as [number, number];
    const rng = new Rng(this.seed ^ hashString(name));
    const tiled = !this.fullEncode && rows * cols >= TILED_MIN_ELEMENTS && rows % GLOBAL_TILE === 0 && rows >= BAND_COUNT * GLOBAL_TILE;
    if (!tiled) return { storage: 'raw', rows, cols, data: normalBf16(rng, rows * cols) };
    this.tiledUsed = true;
    const bandRows = BAND_COUNT * GLOBAL_TILE;
    const bands = normalBf16(rng, bandRows * cols); // [BAND_COUNT*64, cols] bf16 bits
    if (prefer === 'raw') {
      const data = new Uint16Array(rows * cols); // [rows, cols] bf16 bits
      const bandBlock = GLOBAL_TILE * cols;
      for (let gm = 0; gm < rows / GLOBAL_TILE; gm++) {
        const b = gm % BAND_COUNT;
        data.set(bands.subarray(b * bandBlock, (b + 1) * bandBlock), gm * bandBlock);
      }
      return { storage: 'raw', rows, cols, data };
    }
    return { storage: 'tca-tbe', matrix: repeatTileRows(encodeMatrix(bands, bandRows, cols), rows) };
  }

  async readVector(name: string): Promise<Float32Array> {
    const info = this.require(name);
    return new Float32Array(info.shape[0]!).fill(1);
  }

  async close(): Promise<void> {}

  private require(name: string): SourceTensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new Error(`${this.description}: no tensor ${name}`);
    return info;
  }
}

/** n BF16 values ~ N(0, SYNTHETIC_SIGMA), round to nearest even. */
export function normalBf16(rng: Rng, n: number): Uint16Array {
  const values = new Float32Array(n); // [n] f32
  for (let i = 0; i < n; i++) values[i] = rng.nextNormal() * SYNTHETIC_SIGMA;
  return f32ArrayToBf16(values);
}

/**
 * A TCA-TBE matrix of `rows` rows whose tile row gm is tile row (gm % bandTileRows) of `bands`.
 * Tile rows are self-contained (bitmaps, sign-mantissa and outlier segments per tile), so copying
 * them and rebasing the outlier offsets gives a valid matrix with the bands' window.
 */
export function repeatTileRows(bands: TcaTbeMatrix, rows: number): TcaTbeMatrix {
  const tileCols = Math.ceil(bands.cols / GLOBAL_TILE);
  const bandTileRows = bands.rows / GLOBAL_TILE;
  const tileRows = rows / GLOBAL_TILE;
  const tiles = tileRows * tileCols;
  const wordsPerTile = 192;
  const bitmaps = new BigUint64Array(tiles * wordsPerTile);
  const bitmapBytes = new Uint8Array(bitmaps.buffer);
  const srcBitmapBytes = new Uint8Array(bands.bitmaps.buffer, bands.bitmaps.byteOffset, bands.bitmaps.byteLength);
  const signMantissa = new Uint8Array(tiles * TILE_ELEMENTS);
  const outlierOffsets = new Uint32Array(tiles + 1);
  let outlierBytes = 0;
  for (let gm = 0; gm < tileRows; gm++) {
    const b = gm % bandTileRows;
    outlierBytes += bands.outlierOffsets[(b + 1) * tileCols]! - bands.outlierOffsets[b * tileCols]!;
  }
  const outliers = new Uint8Array(outlierBytes);
  let cursor = 0;
  for (let gm = 0; gm < tileRows; gm++) {
    const b = gm % bandTileRows;
    const srcTile = b * tileCols;
    const dstTile = gm * tileCols;
    // Bytes, not BigInt elements: BigUint64Array.set converts element by element.
    bitmapBytes.set(srcBitmapBytes.subarray(srcTile * wordsPerTile * 8, (srcTile + tileCols) * wordsPerTile * 8), dstTile * wordsPerTile * 8);
    signMantissa.set(bands.signMantissa.subarray(srcTile * TILE_ELEMENTS, (srcTile + tileCols) * TILE_ELEMENTS), dstTile * TILE_ELEMENTS);
    const segStart = bands.outlierOffsets[srcTile]!;
    const segEnd = bands.outlierOffsets[srcTile + tileCols]!;
    outliers.set(bands.outliers.subarray(segStart, segEnd), cursor);
    for (let t = 0; t < tileCols; t++) outlierOffsets[dstTile + t] = cursor + bands.outlierOffsets[srcTile + t]! - segStart;
    cursor += segEnd - segStart;
  }
  outlierOffsets[tiles] = cursor;
  return { rows, cols: bands.cols, expBase: bands.expBase, bitmaps, signMantissa, outliers, outlierOffsets };
}
