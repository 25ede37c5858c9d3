// The WebGPU implementation of ZipservBackendV1.

import {
  type BackendCapabilities,
  type CompiledGraph,
  type DeviceTensor,
  type DeviceWeight,
  type GraphTiming,
  OP_NAMES,
  type OpGraph,
  type TensorDesc,
  type WeightSource,
  type ZipservBackendV1,
  tensorByteLength,
  validateGraph,
  validateTensorDesc,
} from '@zipserv/format';
import { DeviceWatch, type GpuContext, type WebGpuBackendOptions, acquireGpu } from './device.js';
import { type GraphHost, type TensorRecord, WebGpuCompiledGraph } from './graph.js';
import { PATCH_PARAMS, PATCH_SHADER } from './kernels/patch.js';
import { grid2d, packParams } from './kernels/plan.js';
import { SUBGROUP_PROBE_SHADER } from './kernels/probe.js';
import { BufferUsage, MapMode } from './webgpu-constants.js';
import { type WeightRecord, destroyWeight, uploadWeightParts } from './weights.js';

const roundUp4 = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);

export class WebGpuBackend implements ZipservBackendV1, GraphHost {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'webgpu';
  readonly capabilities: BackendCapabilities;
  readonly watch: DeviceWatch;
  readonly zipgemmTargetWorkgroups: number;
  private readonly tensors = new Map<number, TensorRecord>();
  private readonly weights = new Map<number, WeightRecord>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly graphs = new Set<WebGpuCompiledGraph>();
  private nextId = 1;
  private bytesInUse = 0;

  private constructor(
    readonly gpu: GpuContext,
    options: WebGpuBackendOptions,
  ) {
    this.watch = new DeviceWatch(gpu.device);
    this.zipgemmTargetWorkgroups = options.zipgemmTargetWorkgroups ?? 528;
    this.capabilities = {
      device: gpu.description,
      ops: OP_NAMES,
      weightPaths: ['zipgemm', 'dense', 'vendor', 'decompress+vendor'],
      dtypes: ['f32', 'bf16', 'i32', 'u8'],
      maxBufferBytes: Math.min(gpu.limits.maxBufferSize, gpu.limits.maxStorageBufferBindingSize),
      matmulInputPrecision: 'f32',
      timers: gpu.features.timestamps,
    };
  }

  /** Acquires a device and checks that subgroup reductions can be used as the kernels use them. */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const gpu = await acquireGpu(options);
    const backend = new WebGpuBackend(gpu, options);
    if (gpu.features.subgroups && options.subgroupProbe !== false && !(await backend.subgroupsAreLinear())) gpu.features.subgroups = false;
    return backend;
  }

  /** Features the kernels use on this device. */
  get features(): Readonly<GpuContext['features']> {
    return this.gpu.features;
  }

  // ---- registry of handles -------------------------------------------------------------------

  tensorRecord(t: DeviceTensor, what: string): TensorRecord {
    const rec = t && t.kind === 'tensor' ? this.tensors.get(t.id) : undefined;
    if (!rec || rec.handle !== t) throw new Error(`${what}: not a tensor of this WebGPU backend`);
    if (rec.freed) throw new Error(`${what}: tensor #${t.id} was freed`);
    return rec;
  }

  weightRecord(w: DeviceWeight, what: string): WeightRecord {
    const rec = w && w.kind === 'weight' ? this.weights.get(w.id) : undefined;
    if (!rec || rec.handle !== w) throw new Error(`${what}: not a weight of this WebGPU backend`);
    if (rec.freed) throw new Error(`${what}: weight #${w.id} was freed`);
    return rec;
  }

  track(bytes: number): void {
    this.bytesInUse += bytes;
  }

  pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const { device } = this.gpu;
      const module = device.createShaderModule({ label: key, code: code() });
      p = device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Number of distinct pipelines compiled so far (for tests of the cache). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  // ---- tensors ---------------------------------------------------------------------------------

  createTensor(desc: TensorDesc, init?: ArrayBufferView): DeviceTensor {
    this.watch.checkAlive();
    validateTensorDesc(desc);
    const byteLength = tensorByteLength(desc);
    if (init && init.byteLength !== byteLength) {
      throw new RangeError(`createTensor: init holds ${init.byteLength} bytes, a ${desc.dtype} [${desc.shape.join(', ')}] tensor needs ${byteLength}`);
    }
    const size = roundUp4(byteLength);
    if (size > this.gpu.limits.maxBufferSize) {
      throw new RangeError(`createTensor: ${desc.dtype} [${desc.shape.join(', ')}] needs ${size} bytes, above this device's maxBufferSize ${this.gpu.limits.maxBufferSize}`);
    }
    const id = this.nextId++;
    const handle: DeviceTensor = Object.freeze({ kind: 'tensor', id, dtype: desc.dtype, shape: Object.freeze([...desc.shape]), byteLength });
    const buffer = this.watch.scoped(`creating tensor #${id} (${desc.dtype} [${desc.shape.join(', ')}])`, () => {
      const b = this.gpu.device.createBuffer({
        label: `tensor#${id}`,
        size,
        usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
        mappedAtCreation: !!init,
      });
      if (init) {
        new Uint8Array(b.getMappedRange()).set(new Uint8Array(init.buffer, init.byteOffset, init.byteLength));
        b.unmap();
      }
      return b;
    });
    this.tensors.set(id, { handle, buffer, freed: false });
    this.bytesInUse += size;
    return handle;
  }

  writeTensor(tensor: DeviceTensor, data: ArrayBufferView, byteOffset = 0): void {
    this.watch.checkAlive();
    const rec = this.tensorRecord(tensor, 'writeTensor');
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + data.byteLength > tensor.byteLength) {
      throw new RangeError(`writeTensor: ${data.byteLength} bytes at offset ${byteOffset} exceed tensor #${tensor.id} (${tensor.byteLength} bytes)`);
    }
    if (data.byteLength === 0) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const { device } = this.gpu;
    const end = byteOffset + data.byteLength;
    // Aligned start, and an end that is aligned or the tensor's own end (its padding is ours).
    if (byteOffset % 4 === 0 && (end % 4 === 0 || end === tensor.byteLength)) {
      const padded = end % 4 === 0 ? bytes : copyPadded(bytes);
      device.queue.writeBuffer(rec.buffer, byteOffset, padded, 0, padded.byteLength);
      return;
    }
    this.patchBytes(rec, bytes, byteOffset);
  }

  private patchBytes(rec: TensorRecord, bytes: Uint8Array, byteOffset: number): void {
    const { device } = this.gpu;
    this.watch.scoped(`writing tensor #${rec.handle.id}`, () => {
      const staged = device.createBuffer({ label: 'patch.src', size: roundUp4(bytes.byteLength), usage: BufferUsage.STORAGE, mappedAtCreation: true });
      new Uint8Array(staged.getMappedRange()).set(bytes);
      staged.unmap();
      const firstWord = Math.floor(byteOffset / 4);
      const wordCount = Math.ceil((byteOffset + bytes.byteLength) / 4) - firstWord;
      const params = device.createBuffer({ label: 'patch.params', size: 16, usage: BufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint8Array(params.getMappedRange()).set(new Uint8Array(packParams(PATCH_PARAMS, { byteOffset, byteLength: bytes.byteLength, firstWord, wordCount })));
      params.unmap();
      const pipeline = this.pipeline('patch', () => PATCH_SHADER);
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: params } },
          { binding: 1, resource: { buffer: rec.buffer } },
          { binding: 2, resource: { buffer: staged } },
        ],
      });
      const encoder = device.createCommandEncoder({ label: 'patch' });
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      const [x, y] = grid2d(Math.ceil(wordCount / 256), this.gpu.limits.maxComputeWorkgroupsPerDimension);
      pass.dispatchWorkgroups(x, y);
      pass.end();
      device.queue.submit([encoder.finish()]);
      staged.destroy(); // destruction waits for the submitted work
      params.destroy();
    });
  }

  async readTensor(tensor: DeviceTensor): Promise<Float32Array | Uint16Array | Int32Array | Uint8Array> {
    await this.watch.flush();
    const rec = this.tensorRecord(tensor, 'readTensor');
    const { device } = this.gpu;
    const size = rec.buffer.size;
    const staging = this.watch.scoped(`reading tensor #${tensor.id}`, () => {
      const s = device.createBuffer({ label: 'readback', size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder({ label: 'readback' });
      encoder.copyBufferToBuffer(rec.buffer, 0, s, 0, size);
      device.queue.submit([encoder.finish()]);
      return s;
    });
    try {
      await this.watch.guard(staging.mapAsync(MapMode.READ));
      const bytes = new Uint8Array(staging.getMappedRange().slice(0, tensor.byteLength));
      staging.unmap();
      const count = tensor.byteLength / { f32: 4, bf16: 2, i32: 4, u8: 1 }[tensor.dtype];
      switch (tensor.dtype) {
        case 'f32':
          return new Float32Array(bytes.buffer, 0, count);
        case 'bf16':
          return new Uint16Array(bytes.buffer, 0, count);
        case 'i32':
          return new Int32Array(bytes.buffer, 0, count);
        default:
          return bytes;
      }
    } finally {
      staging.destroy();
      await this.watch.flush();
    }
  }

  // ---- weights ---------------------------------------------------------------------------------

  async uploadWeight(source: WeightSource): Promise<DeviceWeight> {
    await this.watch.flush();
    if (!source || (source.storage !== 'raw' && source.storage !== 'tca-tbe')) {
      throw new TypeError(`uploadWeight: unknown weight storage '${(source as { storage?: string })?.storage}'`);
    }
    const id = this.nextId++;
    const label = `weight#${id}`;
    const up = this.watch.scoped(`uploading ${label}`, () => uploadWeightParts(this.gpu.device, source, this.gpu.limits, label));
    const handle: DeviceWeight = Object.freeze({ kind: 'weight', id, rows: up.rows, cols: up.cols, storage: up.storage, deviceBytes: up.deviceBytes });
    const rec: WeightRecord = { handle, storage: up.storage, rows: up.rows, cols: up.cols, expBase: up.expBase, tileCols: up.tileCols, parts: up.parts, freed: false };
    this.weights.set(id, rec);
    this.bytesInUse += up.deviceBytes;
    try {
      await this.watch.flush(); // surfaces out-of-memory now, naming the weight
    } catch (err) {
      this.free(handle);
      throw err;
    }
    return handle;
  }

  // ---- graphs ----------------------------------------------------------------------------------

  compileGraph(graph: OpGraph): CompiledGraph {
    this.watch.checkAlive();
    validateGraph(graph, this.capabilities, this.name);
    const compiled = new WebGpuCompiledGraph(this, graph, graph.label ?? `graph${this.graphs.size}`);
    this.graphs.add(compiled);
    const dispose = compiled.dispose.bind(compiled);
    compiled.dispose = () => {
      dispose();
      this.graphs.delete(compiled);
    };
    return compiled;
  }

  async timeGraph(graph: CompiledGraph, options: { warmup: number; iterations: number }): Promise<GraphTiming> {
    if (!(graph instanceof WebGpuCompiledGraph) || !this.graphs.has(graph)) throw new Error('timeGraph: not a live graph of this backend');
    for (let i = 0; i < options.warmup; i++) await graph.run();
    const samplesMs = this.gpu.features.timestamps ? await this.timeWithQueries(graph, options.iterations) : await this.timeWallClock(graph, options.iterations);
    const sorted = [...samplesMs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const medianMs = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return { medianMs, samplesMs };
  }

  private async timeWithQueries(graph: WebGpuCompiledGraph, iterations: number): Promise<number[]> {
    const { device } = this.gpu;
    const count = Math.max(1, iterations) * 2;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolve = device.createBuffer({ size: count * 8, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    const readback = device.createBuffer({ size: count * 8, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    try {
      for (let i = 0; i < count / 2; i++) {
        device.queue.submit([graph.encode({ querySet, begin: 2 * i, end: 2 * i + 1 })]);
      }
      const encoder = device.createCommandEncoder();
      encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
      device.queue.submit([encoder.finish()]);
      await this.watch.guard(readback.mapAsync(MapMode.READ));
      const ticks = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      const samples: number[] = [];
      for (let i = 0; i < count / 2; i++) samples.push(Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6);
      await this.watch.flush();
      return samples;
    } finally {
      querySet.destroy();
      resolve.destroy();
      readback.destroy();
    }
  }

  private async timeWallClock(graph: WebGpuCompiledGraph, iterations: number): Promise<number[]> {
    const samples: number[] = [];
    for (let i = 0; i < Math.max(1, iterations); i++) {
      const t0 = performance.now();
      await graph.run();
      samples.push(performance.now() - t0);
    }
    return samples;
  }

  // ---- lifetime --------------------------------------------------------------------------------

  free(handle: DeviceTensor | DeviceWeight): void {
    if (handle?.kind === 'tensor') {
      const rec = this.tensorRecord(handle, 'free');
      rec.freed = true;
      rec.buffer.destroy();
      this.tensors.delete(handle.id);
      this.bytesInUse -= rec.buffer.size;
    } else if (handle?.kind === 'weight') {
      const rec = this.weightRecord(handle, 'free');
      rec.freed = true;
      destroyWeight(rec);
      this.weights.delete(handle.id);
      this.bytesInUse -= handle.deviceBytes;
    } else {
      throw new TypeError('free: not a tensor or weight handle');
    }
  }

  async synchronize(): Promise<void> {
    this.watch.checkAlive();
    await this.watch.guard(this.gpu.device.queue.onSubmittedWorkDone());
    await this.watch.flush();
  }

  memoryInUse(): number {
    return this.bytesInUse;
  }

  dispose(): void {
    if (this.watch.disposed) return;
    for (const g of [...this.graphs]) g.dispose();
    for (const rec of this.tensors.values()) {
      rec.freed = true;
      rec.buffer.destroy();
    }
    for (const rec of this.weights.values()) {
      rec.freed = true;
      destroyWeight(rec);
    }
    this.tensors.clear();
    this.weights.clear();
    this.pipelines.clear();
    this.bytesInUse = 0;
    this.watch.disposed = true;
    if (this.gpu.ownsDevice) this.gpu.device.destroy();
  }

  /**
   * The subgroup reductions assume subgroups are consecutive runs of local_invocation_index whose
   * size divides 64 (true on the drivers seen, not promised by WebGPU). Checked once per device.
   */
  private async subgroupsAreLinear(): Promise<boolean> {
    const { device } = this.gpu;
    try {
      const out = device.createBuffer({ size: 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
      const readback = device.createBuffer({ size: 4, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
      const pipeline = this.watch.scoped('subgroup probe', () => this.pipeline('probe:subgroups', () => SUBGROUP_PROBE_SHADER));
      const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(1);
      pass.end();
      encoder.copyBufferToBuffer(out, 0, readback, 0, 4);
      device.queue.submit([encoder.finish()]);
      await this.watch.guard(readback.mapAsync(MapMode.READ));
      const bad = new Uint32Array(readback.getMappedRange())[0];
      readback.unmap();
      out.destroy();
      readback.destroy();
      await this.watch.flush();
      return bad === 0;
    } catch {
      return false;
    }
  }
}

function copyPadded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(roundUp4(bytes.byteLength));
  out.set(bytes);
  return out;
}

/** Creates the WebGPU backend: `createWebGpuBackend({ gpu?, adapter?, device?, powerPreference? })`. */
export function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  return WebGpuBackend.create(options);
}
