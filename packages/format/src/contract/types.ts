// ZipservBackendV1: the contract between the runtime and every backend (ref, cuda, webgpu, yours).
//
// Shape of the contract (ggml-backend / vercel-ai provider patterns):
// - versioned by the literal `specificationVersion: 'v1'`;
// - capability queries instead of assumptions (`capabilities`);
// - device memory as opaque handles (DeviceTensor, DeviceWeight) with explicit `free`;
// - work submitted as a graph of ops over device buffers, compiled once, run many times
//   (CUDA graph replay, one WebGPU command encoder per step, an interpreter on the CPU).
// Shapes in comments: N = token rows, K = input features, M = output features (weight rows),
// H = query heads, Hkv = key/value heads, hd = head dim, S = sequences, V = vocabulary.

import type { TcaTbeMatrix } from '../tca-tbe/layout.js';

export type DType = 'f32' | 'bf16' | 'i32' | 'u8';

export interface TensorDesc {
  dtype: DType;
  /** Row-major shape; the last dimension is contiguous. */
  shape: readonly number[];
}

/** A device buffer. Opaque: only the backend that made it can use it. */
export interface DeviceTensor extends TensorDesc {
  readonly kind: 'tensor';
  readonly id: number;
  readonly byteLength: number;
}

export type WeightStorage = 'tca-tbe' | 'raw';

/** A BF16 weight matrix [rows=M, cols=K] on the device, compressed (tca-tbe) or plain (raw). */
export interface DeviceWeight {
  readonly kind: 'weight';
  readonly id: number;
  readonly rows: number;
  readonly cols: number;
  readonly storage: WeightStorage;
  /** Device bytes this weight occupies. */
  readonly deviceBytes: number;
}

/** Host-side source of a weight upload. Raw data is BF16 bits, row-major [rows, cols]. */
export type WeightSource =
  | { storage: 'raw'; rows: number; cols: number; data: Uint16Array }
  | { storage: 'tca-tbe'; matrix: TcaTbeMatrix };

/**
 * How a matmul reads its weight.
 * - zipgemm: fused decode-in-registers GEMM on a tca-tbe weight;
 * - dense: the zipgemm schedule reading a raw BF16 weight (bit-identical results to zipgemm);
 * - vendor: the backend's best dense GEMM (cuBLAS, ...) on a raw weight: the speed baseline;
 * - decompress+vendor: decompress a tca-tbe weight to a scratch BF16 buffer, then vendor;
 * - auto: the backend picks per shape and N (zipgemm / decompress+vendor for tca-tbe weights,
 *   dense / vendor for raw ones).
 */
export type WeightPath = 'zipgemm' | 'dense' | 'vendor' | 'decompress+vendor' | 'auto';

/** Llama-3 style RoPE frequency scaling (`rope_scaling.rope_type == "llama3"`). */
export interface RopeScalingLlama3 {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Linear position interpolation (`rope_type == "linear"`). */
export interface RopeScalingLinear {
  type: 'linear';
  factor: number;
}

export type RopeScaling = RopeScalingLlama3 | RopeScalingLinear;

/**
 * y[N, outOffset : outOffset+M] (+)= round?(x)[N, K] . W[M, K]^T (+ bias[M]).
 * Activations are f32; a backend whose capabilities say `matmulInputPrecision: 'bf16'` rounds x to
 * BF16 before the product. Accumulation is at least f32. `out` is [N, W] with W >= outOffset + M,
 * so several matmuls can fill one packed buffer (q|k|v, gate|up). With `accumulate`, the product is
 * added to what `out` holds (residual connections without a separate add).
 */
export interface MatmulOp {
  op: 'matmul';
  x: DeviceTensor; // [N, K] f32
  weight: DeviceWeight; // [M, K]
  out: DeviceTensor; // [N, W] f32
  outOffset?: number; // column of out where y starts; default 0
  bias?: DeviceTensor; // [M] f32
  accumulate?: boolean;
  path?: WeightPath; // default 'auto'
}

/** out[M, K] bf16 = the weight's BF16 values (bit-exact). */
export interface DecompressOp {
  op: 'decompress';
  weight: DeviceWeight; // [M, K]
  out: DeviceTensor; // [M, K] bf16
}

/** out[N, D] f32 = table[ids[n], :] (rows decoded on gather from a compressed table). */
export interface EmbeddingOp {
  op: 'embedding';
  ids: DeviceTensor; // [N] i32
  table: DeviceWeight; // [V, D]
  out: DeviceTensor; // [N, D] f32
}

/**
 * RMSNorm over every contiguous group of D = weight.shape[0] elements:
 * out = x / sqrt(mean(x^2) + eps) * weight. Groups make per-head norms (Qwen3 q/k norm) the same op.
 * `out` may be `x` (in place). `offset`/`width` restrict the op to columns [offset, offset+width)
 * of each row of a 2-D x (default: the whole row); columns of `out` outside them are left as they are.
 */
export interface RmsNormOp {
  op: 'rmsnorm';
  x: DeviceTensor; // [N, C] f32
  weight: DeviceTensor; // [D] f32
  out: DeviceTensor; // [N, C] f32
  eps: number;
  offset?: number;
  width?: number;
}

/**
 * Rotary embedding in place, Hugging Face `rotate_half` layout, on heads
 * [firstHead, firstHead+numHeads) of each row of x (head h occupies columns h*hd .. h*hd+hd-1).
 * Token n is at position positions[n]. inv_freq[i] = theta^(-2i/hd), then `scaling` if given.
 */
export interface RopeOp {
  op: 'rope';
  x: DeviceTensor; // [N, C] f32, C >= (firstHead+numHeads)*hd
  positions: DeviceTensor; // [N] i32
  firstHead: number;
  numHeads: number;
  headDim: number;
  theta: number;
  scaling?: RopeScaling;
}

/**
 * Paged KV-cache append: for each token n, cache slot s = slots[n] (block = s / blockSize,
 * offset = s % blockSize) receives k = qkv[n, kOffset : kOffset+Hkv*hd] and v likewise. A negative
 * slot skips the token (padding rows of a batch bucket).
 */
export interface KvAppendOp {
  op: 'kvAppend';
  qkv: DeviceTensor; // [N, C] f32
  kOffset: number;
  vOffset: number;
  kCache: DeviceTensor; // [blocks, blockSize, Hkv, hd] f32 or bf16
  vCache: DeviceTensor; // [blocks, blockSize, Hkv, hd]
  slots: DeviceTensor; // [N] i32
}

/**
 * Causal attention over a paged KV cache, decode and prefill alike, GQA (query head h reads kv head
 * h / (H / Hkv)). Sequence s owns query rows queryStarts[s] .. queryStarts[s+1]-1; it has
 * contextLens[s] tokens in the cache (this step's included), so its query row i sits at position
 * contextLens[s] - nq + i and attends to cache positions 0..that position. Blocks come from
 * blockTables[s, :]. Rows of out that no sequence owns are left as they are.
 */
export interface AttentionOp {
  op: 'attention';
  qkv: DeviceTensor; // [N, C] f32
  qOffset: number;
  kCache: DeviceTensor; // [blocks, blockSize, Hkv, hd]
  vCache: DeviceTensor;
  blockTables: DeviceTensor; // [S, maxBlocksPerSeq] i32
  contextLens: DeviceTensor; // [S] i32
  queryStarts: DeviceTensor; // [S + 1] i32
  out: DeviceTensor; // [N, H*hd] f32
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  scale: number;
}

/** out[N, I] = silu(x[N, 0:I]) * x[N, I:2I]  (gate | up packed by two matmuls). */
export interface SiluMulOp {
  op: 'siluMul';
  x: DeviceTensor; // [N, 2I] f32
  out: DeviceTensor; // [N, I] f32
}

/** out = a + b, elementwise (out may alias a or b). */
export interface AddOp {
  op: 'add';
  a: DeviceTensor;
  b: DeviceTensor;
  out: DeviceTensor;
}

/** out[R, D] = x[rows[r], :]  (pick each sequence's last row before the LM head). */
export interface GatherRowsOp {
  op: 'gatherRows';
  x: DeviceTensor; // [N, D] f32
  rows: DeviceTensor; // [R] i32
  out: DeviceTensor; // [R, D] f32
}

/** out[r] = index of the largest x[r, :] (first one on ties; NaN never wins). */
export interface ArgmaxOp {
  op: 'argmax';
  x: DeviceTensor; // [R, V] f32
  out: DeviceTensor; // [R] i32
}

export type OpNode =
  | MatmulOp
  | DecompressOp
  | EmbeddingOp
  | RmsNormOp
  | RopeOp
  | KvAppendOp
  | AttentionOp
  | SiluMulOp
  | AddOp
  | GatherRowsOp
  | ArgmaxOp;

export type OpName = OpNode['op'];

export const OP_NAMES: readonly OpName[] = [
  'matmul',
  'decompress',
  'embedding',
  'rmsnorm',
  'rope',
  'kvAppend',
  'attention',
  'siluMul',
  'add',
  'gatherRows',
  'argmax',
];

/** A step's work: ops run in order; later ops see earlier ops' writes. */
export interface OpGraph {
  nodes: readonly OpNode[];
  /** For logs and profiles. */
  label?: string;
}

/** A graph bound to its buffers, ready to run many times (their contents may change between runs). */
export interface CompiledGraph {
  readonly label: string;
  readonly nodeCount: number;
  /** Runs the graph; resolves when its results can be read. */
  run(): Promise<void>;
  dispose(): void;
}

export interface BackendCapabilities {
  /** Human-readable device, e.g. "NVIDIA H100 80GB HBM3 (sm_90)" or "CPU (reference)". */
  device: string;
  /** Ops this backend runs; a graph using any other is refused at compile time. */
  ops: readonly OpName[];
  /** Weight paths matmul accepts (besides 'auto'). */
  weightPaths: readonly Exclude<WeightPath, 'auto'>[];
  dtypes: readonly DType[];
  /** Largest single buffer, bytes. */
  maxBufferBytes: number;
  /** Device memory in total, bytes, when known. */
  deviceMemoryBytes?: number;
  /** Does the backend round matmul inputs to BF16? */
  matmulInputPrecision: 'f32' | 'bf16';
  /** Does `timeGraph` measure device time? */
  timers: boolean;
}

export interface GraphTiming {
  /** Median device milliseconds per run. */
  medianMs: number;
  /** All samples, ms. */
  samplesMs: number[];
}

export interface ZipservBackendV1 {
  readonly specificationVersion: 'v1';
  /** Registry name: 'ref', 'cuda', 'webgpu', ... */
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  /** Allocates a tensor, zero-filled unless `init` is given (its bytes, same length). */
  createTensor(desc: TensorDesc, init?: ArrayBufferView): DeviceTensor;
  /** Overwrites a tensor's bytes from `byteOffset` (default 0). Ordered before later runs. */
  writeTensor(tensor: DeviceTensor, data: ArrayBufferView, byteOffset?: number): void;
  /** Reads a tensor back after all submitted work: Float32Array, Uint16Array (bf16), Int32Array or Uint8Array. */
  readTensor(tensor: DeviceTensor): Promise<Float32Array | Uint16Array | Int32Array | Uint8Array>;
  /** Places a weight on the device. */
  uploadWeight(source: WeightSource): Promise<DeviceWeight>;
  /** Validates and prepares a graph (pipelines, CUDA graph capture, ...). */
  compileGraph(graph: OpGraph): CompiledGraph;
  /** Frees a tensor or weight; using it afterwards is an error. */
  free(handle: DeviceTensor | DeviceWeight): void;
  /** Resolves when all submitted work has finished. */
  synchronize(): Promise<void>;
  /** Releases everything the backend holds. */
  dispose(): Promise<void> | void;

  /** Optional: device time of a compiled graph (capabilities.timers). */
  timeGraph?(graph: CompiledGraph, options: { warmup: number; iterations: number }): Promise<GraphTiming>;
  /** Optional: bytes of device memory in use by this backend. */
  memoryInUse?(): number;
}

/** What a backend package exports for discovery by name (tinygrad-style: one module per backend). */
export interface BackendProviderV1 {
  readonly specificationVersion: 'v1';
  readonly name: string;
  /** Why this backend cannot run here, or null if it can (no GPU, addon not built, ...). */
  unavailableReason(): Promise<string | null>;
  /**
   * Optional: true when the backend would run on a software emulation of its device (e.g. WebGPU
   * on a CPU rasteriser). It still works when asked for by name; 'auto' prefers the next backend.
   */
  emulated?(): Promise<boolean>;
  create(options?: Record<string, unknown>): Promise<ZipservBackendV1>;
}
