// The model's weights on the device, and the loader that streams them there tensor by tensor.

import { EncoderPool, decodeMatrix, encodeMatrix } from '@zipserv/codec-ref';
import {
  concatTcaTbeRows,
  type DeviceTensor,
  type DeviceWeight,
  tcaTbeStoredBytes,
  type WeightPath,
  type WeightSource,
  type ZipservBackendV1,
} from '@zipserv/format';
import type { ModelConfig } from '../config/model-config.js';
import type { ModelSource } from './model-source.js';
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensor } from './weight-names.js';

/** How matmuls read weights: compressed (fused ZipGEMM), or plain BF16 through our kernel or the vendor's. */
export type WeightMode = 'zipgemm' | 'dense' | 'vendor';

/**
 * A layer's projections. q|k|v and gate|up are fused into one matrix each ([q; k; v] and [gate; up] stacked by
 * rows, one GEMM instead of three or two) whenever the loader can: always for BF16 sources, and for
 * pre-compressed ones when the parts share a window. Otherwise the parts stay separate.
 */
export type QkvWeights = { qkv: DeviceWeight /* [(H + 2 Hkv) * hd, D] */ } | { q: DeviceWeight; k: DeviceWeight; v: DeviceWeight };
export type GateUpWeights = { gateUp: DeviceWeight /* [2I, D] */ } | { gate: DeviceWeight; up: DeviceWeight };

export interface LayerWeights {
  inputNorm: DeviceTensor; // [D] f32
  postNorm: DeviceTensor; // [D] f32
  attnIn: QkvWeights;
  o: DeviceWeight; // [D, H*hd]
  mlpIn: GateUpWeights;
  down: DeviceWeight; // [D, I]
  qkvBias?: DeviceTensor; // [(H + 2 Hkv) * hd] f32, with a fused qkv
  gateUpBias?: DeviceTensor; // [2I] f32, with a fused gateUp
  qBias?: DeviceTensor; // [H*hd] f32
  kBias?: DeviceTensor; // [Hkv*hd] f32
  vBias?: DeviceTensor; // [Hkv*hd] f32
  oBias?: DeviceTensor; // [D] f32
  gateBias?: DeviceTensor; // [I] f32
  upBias?: DeviceTensor; // [I] f32
  downBias?: DeviceTensor; // [D] f32
  qNorm?: DeviceTensor; // [hd] f32 (Qwen3)
  kNorm?: DeviceTensor; // [hd] f32 (Qwen3)
}

export interface WeightLoadStats {
  /** Fused q|k|v and gate|up matrices (each counts once below). */
  fusedMatrices: number;
  /** Matrices on the device in TCA-TBE form. */
  compressedMatrices: number;
  /** Matrices on the device as plain BF16. */
  rawMatrices: number;
  /** BF16 bytes of all matrices (what a dense engine would hold). */
  bf16MatrixBytes: number;
  /** Device bytes of all weights (matrices, norms, biases). */
  weightBytes: number;
  /** Seconds spent compressing on load (EncoderPool) or decoding for dense/vendor. */
  convertSeconds: number;
  loadSeconds: number;
  /** Synthetic matrices built from reused encoded bands (see synthetic-source.ts). */
  syntheticTiled: boolean;
  /** Matrices stored as F32/F16 and rounded to BF16 on load. */
  roundedToBf16: number;
}

export interface LoadProgress {
  phase: 'load';
  /** Tensor just placed on the device. */
  tensor: string;
  done: number;
  total: number;
  /** Device bytes so far. */
  bytes: number;
}

export interface DeviceModel {
  config: ModelConfig;
  mode: WeightMode;
  embed: DeviceWeight; // [V, D]
  lmHead: DeviceWeight; // [V, D] (the embedding table when tied)
  finalNorm: DeviceTensor; // [D] f32
  layers: LayerWeights[];
  stats: WeightLoadStats;
  /** The matmul path for a weight under this model's mode, for `rows` activation rows (a step's token rows, or
   *  its sequence count for the LM head). */
  pathFor(weight: DeviceWeight, rows: number): WeightPath;
  free(): void;
}

/** Above this many activation rows a matmul is a large GEMM: the fused kernels (which stream and decode the weights
 *  once per 64-row chunk on CUDA) lose to one decompression pass plus the vendor GEMM (backend-cuda's
 *  choose_gemm_path, dev/NOTES.md: 4096x4096 at 128 rows 60 vs 42 us on the H100). zipgemm and dense mode switch
 *  at the same size, so their results stay bit-identical (the same vendor GEMM on the same BF16 weights). */
export const LARGE_STEP_ROWS = 64;

export interface LoadOptions {
  mode: WeightMode;
  /** 'auto' (default): matmuls over more than LARGE_STEP_ROWS rows (prefill chunks) run as vendor GEMMs, on
   *  decompressed weights in zipgemm mode and on the BF16 weights in dense mode, where the backend has those
   *  paths; smaller ones (decode) on the fused kernels. 'zipgemm': the fused kernels at every size. */
  zipgemmPath?: 'zipgemm' | 'auto';
  encoderThreads?: number;
  onProgress?: (p: LoadProgress) => void;
}

export async function loadDeviceModel(
  backend: ZipservBackendV1,
  source: ModelSource,
  config: ModelConfig,
  options: LoadOptions,
): Promise<DeviceModel> {
  const started = performance.now();
  const { mode } = options;
  const largeStepsOnVendor = (options.zipgemmPath ?? 'auto') === 'auto';
  const paths = backend.capabilities.weightPaths;
  if (!paths.includes(mode)) {
    throw new Error(`backend '${backend.name}' does not support weight path '${mode}' (it has: ${paths.join(', ')})`);
  }
  // A matrix that would not shrink stays raw in zipgemm mode, read by the dense twin; a backend
  // without that path gets it compressed anyway (valid, only larger).
  const rawAllowed = mode !== 'zipgemm' || paths.includes('dense');

  const owned: Array<DeviceTensor | DeviceWeight> = [];
  const stats: WeightLoadStats = {
    fusedMatrices: 0,
    compressedMatrices: 0,
    rawMatrices: 0,
    bf16MatrixBytes: 0,
    weightBytes: 0,
    convertSeconds: 0,
    loadSeconds: 0,
    syntheticTiled: false,
    roundedToBf16: 0,
  };
  const has = (name: string) => source.tensor(name) !== undefined;
  const lmHeadName = resolveLmHead(config, has, source.description);
  const matrixNames = [EMBED_TOKENS];
  const vectorNames = [FINAL_NORM];
  for (let l = 0; l < config.numLayers; l++) {
    for (const m of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
      matrixNames.push(layerTensor(l, `${m}.weight`));
    }
    vectorNames.push(layerTensor(l, 'input_layernorm.weight'), layerTensor(l, 'post_attention_layernorm.weight'));
    if (config.qkvBias) for (const p of ['q', 'k', 'v']) vectorNames.push(layerTensor(l, `self_attn.${p}_proj.bias`));
    if (config.oBias) vectorNames.push(layerTensor(l, 'self_attn.o_proj.bias'));
    if (config.mlpBias) for (const p of ['gate', 'up', 'down']) vectorNames.push(layerTensor(l, `mlp.${p}_proj.bias`));
    if (config.qkNorm) vectorNames.push(layerTensor(l, 'self_attn.q_norm.weight'), layerTensor(l, 'self_attn.k_norm.weight'));
  }
  if (lmHeadName !== EMBED_TOKENS) matrixNames.push(lmHeadName);
  const missing = [...matrixNames, ...vectorNames].filter((n) => !has(n));
  if (missing.length > 0) {
    throw new Error(`${source.description}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} for a ${config.modelType} model`);
  }
  checkShapes(source, config, lmHeadName);

  const total = matrixNames.length + vectorNames.length;
  let done = 0;
  const progress = (tensor: string) => {
    done++;
    options.onProgress?.({ phase: 'load', tensor, done, total, bytes: stats.weightBytes });
  };
  const pool = mode === 'zipgemm' && !source.compressed ? new EncoderPool(options.encoderThreads ? { threads: options.encoderThreads } : {}) : null;

  const matrices = new Map<string, DeviceWeight>();
  const vectors = new Map<string, DeviceTensor>();
  const place = async (key: string, src: WeightSource, rows: number, cols: number) => {
    const weight = await backend.uploadWeight(src);
    owned.push(weight);
    matrices.set(key, weight);
    if (weight.storage === 'tca-tbe') stats.compressedMatrices++;
    else stats.rawMatrices++;
    stats.bf16MatrixBytes += rows * cols * 2;
    stats.weightBytes += weight.deviceBytes;
  };
  const read = async (name: string) => {
    const info = source.tensor(name)!;
    if (info.storage === 'raw' && info.dtype !== 'BF16') stats.roundedToBf16++;
    return source.readMatrix(name, mode === 'zipgemm' ? 'tca-tbe' : 'raw');
  };
  const convertTimed = async (stored: WeightSource) => {
    const t0 = performance.now();
    const src = await convert(stored, mode, pool, rawAllowed);
    stats.convertSeconds += (performance.now() - t0) / 1000;
    return src;
  };
  // Bias name -> its fused unit, for the biases that are stacked instead of placed alone.
  const fusedBias = new Map<string, { key: string; parts: string[]; biases: string[] }>();
  try {
    for (const unit of loadUnits(matrixNames, config.numLayers)) {
      if (unit.parts.length > 1) {
        const parts = [];
        for (const name of unit.parts) parts.push(await read(name));
        const fused = fuseRows(parts);
        if (fused) {
          const src = await convertTimed(fused);
          await place(unit.key, src, sourceRows(fused), sourceCols(fused));
          stats.fusedMatrices++;
          for (const b of unit.biases) fusedBias.set(b, unit);
          for (const name of unit.parts) progress(name);
          continue;
        }
        // Parts that cannot be fused without re-encoding (pre-compressed with different windows): one by one.
        for (let i = 0; i < parts.length; i++) {
          const src = await convertTimed(parts[i]!);
          await place(unit.parts[i]!, src, sourceRows(src), sourceCols(src));
          progress(unit.parts[i]!);
        }
        continue;
      }
      const name = unit.parts[0]!;
      const src = await convertTimed(await read(name));
      await place(name, src, sourceRows(src), sourceCols(src));
      progress(name);
    }
    const place1d = (key: string, data: Float32Array) => {
      const t = backend.createTensor({ dtype: 'f32', shape: [data.length] }, data);
      owned.push(t);
      vectors.set(key, t);
      stats.weightBytes += t.byteLength;
    };
    const stacked = new Map<string, Float32Array>(); // biases of fused units, until their unit is complete
    for (const name of vectorNames) {
      const data = await source.readVector(name); // [n] f32
      const unit = fusedBias.get(name);
      if (unit) stacked.set(name, data);
      else place1d(name, data);
      progress(name);
    }
    // Biases of fused projections, concatenated like their rows.
    for (const unit of new Set(fusedBias.values())) {
      const parts = unit.biases.flatMap((b) => stacked.get(b) ?? []);
      if (parts.length === 0) continue; // a model without these biases
      if (parts.length !== unit.biases.length) {
        // The config asks for all of a group's biases or none (checked above); a fused matmul has one bias.
        throw new Error(`${source.description}: ${unit.key} has biases for only some of ${unit.parts.join(', ')}`);
      }
      const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        data.set(p, at);
        at += p.length;
      }
      place1d(`${unit.key}.bias`, data);
    }
  } catch (err) {
    for (const h of owned) backend.free(h);
    throw err;
  } finally {
    await pool?.close();
  }
  stats.syntheticTiled = source.syntheticTiled;
  stats.loadSeconds = (performance.now() - started) / 1000;

  const w = (name: string) => matrices.get(name)!;
  const vec = (name: string) => vectors.get(name)!;
  const opt = (name: string) => vectors.get(name);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const n = (s: string) => layerTensor(l, s);
    layers.push({
      inputNorm: vec(n('input_layernorm.weight')),
      postNorm: vec(n('post_attention_layernorm.weight')),
      attnIn: matrices.has(fusedKey(l, 'qkv'))
        ? { qkv: w(fusedKey(l, 'qkv')) }
        : { q: w(n('self_attn.q_proj.weight')), k: w(n('self_attn.k_proj.weight')), v: w(n('self_attn.v_proj.weight')) },
      o: w(n('self_attn.o_proj.weight')),
      mlpIn: matrices.has(fusedKey(l, 'gateUp'))
        ? { gateUp: w(fusedKey(l, 'gateUp')) }
        : { gate: w(n('mlp.gate_proj.weight')), up: w(n('mlp.up_proj.weight')) },
      down: w(n('mlp.down_proj.weight')),
      qkvBias: opt(`${fusedKey(l, 'qkv')}.bias`),
      gateUpBias: opt(`${fusedKey(l, 'gateUp')}.bias`),
      qBias: opt(n('self_attn.q_proj.bias')),
      kBias: opt(n('self_attn.k_proj.bias')),
      vBias: opt(n('self_attn.v_proj.bias')),
      oBias: opt(n('self_attn.o_proj.bias')),
      gateBias: opt(n('mlp.gate_proj.bias')),
      upBias: opt(n('mlp.up_proj.bias')),
      downBias: opt(n('mlp.down_proj.bias')),
      qNorm: opt(n('self_attn.q_norm.weight')),
      kNorm: opt(n('self_attn.k_norm.weight')),
    });
  }
  let freed = false;
  return {
    config,
    mode,
    embed: w(EMBED_TOKENS),
    lmHead: w(lmHeadName),
    finalNorm: vec(FINAL_NORM),
    layers,
    stats,
    pathFor(weight: DeviceWeight, rows: number): WeightPath {
      if (mode === 'vendor') return 'vendor';
      const large = largeStepsOnVendor && rows > LARGE_STEP_ROWS;
      if (mode === 'dense' || weight.storage === 'raw') return large && paths.includes('vendor') ? 'vendor' : 'dense';
      return large && paths.includes('decompress+vendor') ? 'decompress+vendor' : 'zipgemm';
    },
    free() {
      if (freed) return;
      freed = true;
      for (const h of owned) backend.free(h);
    },
  };
}

/** Tied: the embedding table doubles as the LM head. Untied: lm_head.weight must exist. */
function resolveLmHead(config: ModelConfig, has: (n: string) => boolean, where: string): string {
  if (config.tieWordEmbeddings) return EMBED_TOKENS;
  if (has(LM_HEAD)) return LM_HEAD;
  if (!config.tieWordEmbeddingsSpecified) return EMBED_TOKENS;
  throw new Error(`${where}: missing tensor ${LM_HEAD} (config.json says tie_word_embeddings: false)`);
}

function checkShapes(source: ModelSource, c: ModelConfig, lmHeadName: string): void {
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const expect: Array<[string, number[]]> = [
    [EMBED_TOKENS, [c.vocabSize, c.hiddenSize]],
    [lmHeadName, [c.vocabSize, c.hiddenSize]],
    [FINAL_NORM, [c.hiddenSize]],
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const n = (s: string) => layerTensor(l, s);
    expect.push(
      [n('self_attn.q_proj.weight'), [qDim, c.hiddenSize]],
      [n('self_attn.k_proj.weight'), [kvDim, c.hiddenSize]],
      [n('self_attn.v_proj.weight'), [kvDim, c.hiddenSize]],
      [n('self_attn.o_proj.weight'), [c.hiddenSize, qDim]],
      [n('mlp.gate_proj.weight'), [c.intermediateSize, c.hiddenSize]],
      [n('mlp.up_proj.weight'), [c.intermediateSize, c.hiddenSize]],
      [n('mlp.down_proj.weight'), [c.hiddenSize, c.intermediateSize]],
      [n('input_layernorm.weight'), [c.hiddenSize]],
      [n('post_attention_layernorm.weight'), [c.hiddenSize]],
    );
    if (c.qkvBias) expect.push([n('self_attn.q_proj.bias'), [qDim]], [n('self_attn.k_proj.bias'), [kvDim]], [n('self_attn.v_proj.bias'), [kvDim]]);
    if (c.qkNorm) expect.push([n('self_attn.q_norm.weight'), [c.headDim]], [n('self_attn.k_norm.weight'), [c.headDim]]);
  }
  for (const [name, shape] of expect) {
    const got = source.tensor(name)!.shape;
    if (got.join() !== shape.join()) {
      throw new Error(`${source.description}: tensor ${name} has shape [${got.join(', ')}], config.json implies [${shape.join(', ')}]`);
    }
  }
}

/** Device key of a layer's fused projection (not a tensor name of the source). */
function fusedKey(layer: number, which: 'qkv' | 'gateUp'): string {
  return `model.layers.${layer}.fused.${which}`;
}

/**
 * The order matrices are placed in: q|k|v and gate|up of each layer as one unit each (with the names of their
 * biases, stacked the same way when the unit fuses), the rest alone.
 */
function loadUnits(matrixNames: readonly string[], numLayers: number): Array<{ key: string; parts: string[]; biases: string[] }> {
  const grouped = new Set<string>();
  const groups = new Map<string, { key: string; parts: string[]; biases: string[] }>();
  for (let l = 0; l < numLayers; l++) {
    const group = (key: string, names: string[]) => {
      groups.set(names[0]!, { key, parts: names.map((n) => `${n}.weight`), biases: names.map((n) => `${n}.bias`) });
      for (const n of names) grouped.add(`${n}.weight`);
    };
    group(fusedKey(l, 'qkv'), ['q', 'k', 'v'].map((p) => layerTensor(l, `self_attn.${p}_proj`)));
    group(fusedKey(l, 'gateUp'), ['gate', 'up'].map((p) => layerTensor(l, `mlp.${p}_proj`)));
  }
  const units: Array<{ key: string; parts: string[]; biases: string[] }> = [];
  for (const name of matrixNames) {
    const g = groups.get(name.replace(/\.weight$/, ''));
    if (g) units.push(g);
    else if (!grouped.has(name)) units.push({ key: name, parts: [name], biases: [] });
  }
  return units;
}

const sourceRows = (s: WeightSource) => (s.storage === 'raw' ? s.rows : s.matrix.rows);
const sourceCols = (s: WeightSource) => (s.storage === 'raw' ? s.cols : s.matrix.cols);

/**
 * Parts stacked by rows into one matrix, or null: BF16 parts are concatenated (then encoded once), TCA-TBE parts
 * are concatenated tile-row-wise when they share a window (concatTcaTbeRows); mixed parts stay separate.
 */
export function fuseRows(parts: readonly WeightSource[]): WeightSource | null {
  const cols = sourceCols(parts[0]!);
  if (parts.some((p) => sourceCols(p) !== cols)) return null;
  if (parts.every((p) => p.storage === 'raw')) {
    const raws = parts as Array<Extract<WeightSource, { storage: 'raw' }>>;
    const rows = raws.reduce((s, p) => s + p.rows, 0);
    const data = new Uint16Array(rows * cols); // [rows, cols] bf16 bits
    let at = 0;
    for (const p of raws) {
      data.set(p.data.subarray(0, p.rows * cols), at);
      at += p.rows * cols;
    }
    return { storage: 'raw', rows, cols, data };
  }
  if (parts.every((p) => p.storage === 'tca-tbe')) {
    const matrix = concatTcaTbeRows(parts.map((p) => (p as Extract<WeightSource, { storage: 'tca-tbe' }>).matrix));
    return matrix ? { storage: 'tca-tbe', matrix } : null;
  }
  return null;
}

/** Brings a stored matrix into the form the mode uploads. */
async function convert(src: WeightSource, mode: WeightMode, pool: EncoderPool | null, rawAllowed: boolean): Promise<WeightSource> {
  if (mode === 'zipgemm') {
    if (src.storage === 'tca-tbe') return src;
    const matrix = pool ? await pool.encode(src.data, src.rows, src.cols) : encodeMatrix(src.data, src.rows, src.cols);
    // Like the container: keep a matrix raw when its TCA-TBE form would not be smaller.
    return rawAllowed && tcaTbeStoredBytes(matrix) >= src.data.byteLength ? src : { storage: 'tca-tbe', matrix };
  }
  if (src.storage === 'raw') return src;
  const m = src.matrix;
  return { storage: 'raw', rows: m.rows, cols: m.cols, data: decodeMatrix(m) };
}
