// The CUDA backend: ZipservBackendV1 over the native addon. Device memory lives behind opaque handles;
// a compiled graph is one CUDA graph (captured once, replayed per run); runs and reads resolve from a
// worker thread waiting on a CUDA event, so the event loop never blocks on the GPU.

import {
  type BackendCapabilities,
  type CompiledGraph,
  type DType,
  type DeviceTensor,
  type DeviceWeight,
  type GraphTiming,
  OP_NAMES,
  type OpGraph,
  type TensorDesc,
  type WeightPath,
  type WeightSource,
  type ZipservBackendV1,
  tensorByteLength,
  validateGraph,
  validateTcaTbeMatrix,
  validateTensorDesc,
} from '@zipserv/format';
import { type NativeAddon, type NativeContext, type NativeProbe, loadAddon } from './addon.js';
import { HandleTable, describeTensor } from './handles.js';
import { lowerNode, nodeHandles } from './lowering.js';

const NAME = 'cuda';

export interface CudaBackendOptions {
  /** CUDA device ordinal (default 0, or ZIPSERV_CUDA_DEVICE). */
  device?: number;
  /** Path of zipserv_cuda.node (default: ZIPSERV_CUDA_ADDON, else the package's build/Release). */
  addonPath?: string;
}

export type CudaWeightPath = Exclude<WeightPath, 'auto'>;

/** A compiled graph of this backend; `matmulPaths` says which path each matmul resolved to. */
export interface CudaCompiledGraph extends CompiledGraph {
  readonly matmulPaths: readonly string[];
}

type HostArray = Float32Array | Uint16Array | Int32Array | Uint8Array;

function viewAs(dtype: DType, buffer: ArrayBuffer): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer);
    case 'bf16':
      return new Uint16Array(buffer);
    case 'i32':
      return new Int32Array(buffer);
    case 'u8':
      return new Uint8Array(buffer);
  }
}

/** Weight paths this build and machine can run: GEMM kernels compiled in, cuBLAS loadable. */
export function supportedWeightPaths(probe: Pick<NativeProbe, 'gemmBuilt' | 'cublasAvailable'>): CudaWeightPath[] {
  const paths: CudaWeightPath[] = [];
  if (probe.gemmBuilt) paths.push('zipgemm', 'dense');
  if (probe.cublasAvailable) paths.push('vendor');
  if (probe.gemmBuilt && probe.cublasAvailable) paths.push('decompress+vendor');
  return paths;
}

class CudaBackend implements ZipservBackendV1 {
  readonly specificationVersion = 'v1' as const;
  readonly name = NAME;
  readonly capabilities: BackendCapabilities;
  private readonly table = new HandleTable('cuda backend');
  private readonly graphs = new WeakMap<CompiledGraph, () => number>();
  private disposed = false;

  constructor(
    private readonly ctx: NativeContext,
    probe: NativeProbe,
  ) {
    const info = ctx.info();
    this.capabilities = Object.freeze({
      device: `${info.name} (sm_${info.major}${info.minor}, ${info.multiProcessorCount} SMs)`,
      ops: Object.freeze([...OP_NAMES]),
      weightPaths: Object.freeze(supportedWeightPaths(probe)),
      dtypes: Object.freeze(['f32', 'bf16', 'i32', 'u8'] as const),
      maxBufferBytes: info.totalMemory,
      deviceMemoryBytes: info.totalMemory,
      matmulInputPrecision: 'bf16',
      timers: true,
    });
  }

  private live(): void {
    if (this.disposed) throw new Error('cuda backend: used after dispose()');
  }

  createTensor(desc: TensorDesc, init?: ArrayBufferView): DeviceTensor {
    this.live();
    validateTensorDesc(desc);
    const bytes = tensorByteLength(desc);
    if (bytes > this.capabilities.maxBufferBytes) {
      throw new RangeError(`cuda backend: a ${desc.dtype}[${desc.shape.join(', ')}] tensor needs ${bytes} bytes, more than the device's ${this.capabilities.maxBufferBytes}`);
    }
    if (init !== undefined && (!ArrayBuffer.isView(init) || init.byteLength !== bytes)) {
      throw new RangeError(`cuda backend: createTensor init holds ${init?.byteLength ?? 'no'} bytes, ${desc.dtype}[${desc.shape.join(', ')}] needs ${bytes}`);
    }
    const id = this.ctx.alloc(bytes, init === undefined);
    if (init !== undefined) this.ctx.write(id, init, 0);
    return this.table.addTensor(id, desc, bytes);
  }

  writeTensor(tensor: DeviceTensor, data: ArrayBufferView, byteOffset = 0): void {
    this.live();
    this.table.tensor(tensor, 'writeTensor target');
    if (!ArrayBuffer.isView(data)) throw new TypeError('cuda backend: writeTensor data must be an ArrayBufferView');
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset + data.byteLength > tensor.byteLength) {
      throw new RangeError(`cuda backend: writeTensor of ${data.byteLength} bytes at offset ${byteOffset} overruns ${describeTensor(tensor)} (${tensor.byteLength} bytes)`);
    }
    this.ctx.write(tensor.id, data, byteOffset);
  }

  async readTensor(tensor: DeviceTensor): Promise<HostArray> {
    this.live();
    this.table.tensor(tensor, 'readTensor source');
    return viewAs(tensor.dtype, await this.ctx.read(tensor.id));
  }

  async uploadWeight(source: WeightSource): Promise<DeviceWeight> {
    this.live();
    try {
      if (source.storage === 'raw') {
        const { rows, cols, data } = source;
        if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`bad shape ${rows} x ${cols}`);
        if (!(data instanceof Uint16Array)) throw new TypeError('raw weight data must be a Uint16Array of BF16 bits');
        if (data.length !== rows * cols) throw new RangeError(`raw weight holds ${data.length} values, shape ${rows} x ${cols} needs ${rows * cols}`);
        const { id, deviceBytes } = this.ctx.uploadWeight({ storage: 'raw', rows, cols, data });
        return this.table.addWeight(id, rows, cols, 'raw', deviceBytes);
      }
      if (source.storage === 'tca-tbe') {
        const m = source.matrix;
        validateTcaTbeMatrix(m);
        const { id, deviceBytes } = this.ctx.uploadWeight({
          storage: 'tca-tbe',
          rows: m.rows,
          cols: m.cols,
          expBase: m.expBase,
          bitmaps: m.bitmaps,
          signMantissa: m.signMantissa,
          outliers: m.outliers,
          outlierOffsets: m.outlierOffsets,
        });
        return this.table.addWeight(id, m.rows, m.cols, 'tca-tbe', deviceBytes);
      }
      throw new TypeError(`unknown weight storage '${(source as { storage: string }).storage}'`);
    } catch (err) {
      const e = err as Error;
      const wrapped = e instanceof RangeError ? new RangeError(`cuda backend: uploadWeight: ${e.message}`) : new Error(`cuda backend: uploadWeight: ${e.message}`);
      throw wrapped;
    }
  }

  compileGraph(graph: OpGraph): CudaCompiledGraph {
    this.live();
    validateGraph(graph, this.capabilities, NAME);
    const label = graph.label ?? 'graph';
    const handles = graph.nodes.map((node, i) => {
      const hs = nodeHandles(node);
      for (const h of hs) this.checkHandle(h, `an input of graph '${label}' node ${i} (${node.op})`);
      return hs;
    });
    const lowered = graph.nodes.map((node, i) => lowerNode(node, i));
    let compiled: { id: number; matmulPaths: string[] };
    try {
      compiled = this.ctx.compile(lowered, label);
    } catch (err) {
      throw new Error(`cuda backend: graph '${label}': ${(err as Error).message}`);
    }
    const ctx = this.ctx;
    let disposedGraph = false;
    const nativeId = (): number => {
      this.live();
      if (disposedGraph) throw new Error(`cuda backend: graph '${label}' was disposed`);
      handles.forEach((hs, i) => {
        for (const h of hs) this.checkHandle(h, `an input of graph '${label}' node ${i} (${graph.nodes[i]!.op})`);
      });
      return compiled.id;
    };
    const result: CudaCompiledGraph = {
      label,
      nodeCount: graph.nodes.length,
      matmulPaths: Object.freeze([...compiled.matmulPaths]),
      run: () => {
        try {
          return ctx.runGraph(nativeId());
        } catch (err) {
          return Promise.reject(err);
        }
      },
      dispose: () => {
        if (disposedGraph || this.disposed) return;
        disposedGraph = true;
        ctx.disposeGraph(compiled.id);
      },
    };
    this.graphs.set(result, nativeId);
    return result;
  }

  private checkHandle(h: DeviceTensor | DeviceWeight, role: string): void {
    if (h?.kind === 'weight') this.table.weight(h, role);
    else this.table.tensor(h as DeviceTensor, role);
  }

  free(handle: DeviceTensor | DeviceWeight): void {
    this.live();
    this.checkHandle(handle, 'free target');
    this.table.remove(handle);
    // A compiled graph still holding this memory keeps it alive until the graph is disposed.
    if (handle.kind === 'tensor') this.ctx.free(handle.id);
    else this.ctx.freeWeight(handle.id);
  }

  async synchronize(): Promise<void> {
    this.live();
    await this.ctx.synchronize();
  }

  async timeGraph(graph: CompiledGraph, options: { warmup: number; iterations: number }): Promise<GraphTiming> {
    this.live();
    const nativeId = this.graphs.get(graph);
    if (!nativeId) throw new Error('cuda backend: timeGraph needs a graph compiled by this backend');
    const warmup = Math.max(0, Math.floor(options.warmup));
    const iterations = Math.max(1, Math.floor(options.iterations));
    const samplesMs = await this.ctx.timeGraph(nativeId(), warmup, iterations);
    const sorted = [...samplesMs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const medianMs = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return { medianMs, samplesMs };
  }

  memoryInUse(): number {
    return this.disposed ? 0 : this.ctx.memoryInUse();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.table.clear();
    this.ctx.dispose();
  }
}

function loadOrThrow(addonPath?: string): NativeAddon {
  const loaded = loadAddon(addonPath);
  if ('error' in loaded) throw new Error(`cuda backend: ${loaded.error}`);
  return loaded.addon;
}

/** Creates the CUDA backend on one device; rejects with a one-line reason when it cannot run here. */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<ZipservBackendV1 & { compileGraph(graph: OpGraph): CudaCompiledGraph }> {
  const addon = loadOrThrow(options.addonPath);
  const probe = addon.probe();
  if (!probe.ok) throw new Error(`cuda backend: ${probe.reason}`);
  const device = options.device ?? Number(process.env.ZIPSERV_CUDA_DEVICE ?? 0);
  if (!Number.isInteger(device) || device < 0) throw new RangeError(`cuda backend: bad device ordinal ${String(options.device)}`);
  let ctx: NativeContext;
  try {
    ctx = new addon.Context(device);
  } catch (err) {
    throw new Error(`cuda backend: ${(err as Error).message}`);
  }
  return new CudaBackend(ctx, probe);
}

/** Why the CUDA backend cannot run here (addon not built, no device, driver too old), or null. */
export function cudaUnavailableReason(addonPath?: string): string | null {
  const loaded = loadAddon(addonPath);
  if ('error' in loaded) return loaded.error;
  const probe = loaded.addon.probe();
  return probe.ok ? null : (probe.reason ?? 'no CUDA device');
}

/** The addon's probe (driver/runtime versions, GEMM kernels built, cuBLAS found), or the load error. */
export function probeCuda(addonPath?: string): NativeProbe | { error: string } {
  const loaded = loadAddon(addonPath);
  return 'error' in loaded ? loaded : loaded.addon.probe();
}
