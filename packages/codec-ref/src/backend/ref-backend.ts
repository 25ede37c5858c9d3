// The reference backend: ZipservBackendV1 in plain TypeScript on the CPU. It is the oracle every
// other backend is compared with, so it favours exactness over speed:
// - activations are f32; every matmul path accumulates in float64 (k ascending) and rounds once,
//   so zipgemm, dense, vendor and decompress+vendor give bit-identical results;
// - rmsnorm, rope, attention and siluMul run the float64 reference math and round once to f32;
// - a graph is interpreted node by node; `run()` finishes the work before it resolves.

import {
  type BackendCapabilities,
  type CompiledGraph,
  type DeviceTensor,
  type DeviceWeight,
  type OpGraph,
  OP_NAMES,
  type OpName,
  type TensorDesc,
  type WeightPath,
  type WeightSource,
  type ZipservBackendV1,
  tensorByteLength,
  validateGraph,
  validateTensorDesc,
} from '@zipserv/format';
import { type CompiledNode, compileNode } from './compile-node.js';
import { HandleTable, describeTensor } from './handles.js';
import { createRefWeight, refWeightBytes } from './weights.js';

export type RefWeightPath = Exclude<WeightPath, 'auto'>;

export interface RefBackendOptions {
  /**
   * Round matmul activations to BF16 before the product, like a backend that declares
   * `matmulInputPrecision: 'bf16'` (default 'f32': the exact oracle).
   */
  matmulInputPrecision?: 'f32' | 'bf16';
  /** Advertise only these ops (default: all of OP_NAMES). For testing callers against partial backends. */
  ops?: readonly OpName[];
  /** Advertise only these weight paths (default: all four). For testing callers against partial backends. */
  weightPaths?: readonly RefWeightPath[];
}

const ALL_WEIGHT_PATHS: readonly RefWeightPath[] = ['zipgemm', 'dense', 'decompress+vendor', 'vendor'];
const NAME = 'ref';

class RefBackend implements ZipservBackendV1 {
  readonly specificationVersion = 'v1' as const;
  readonly name = NAME;
  readonly capabilities: BackendCapabilities;
  private readonly table = new HandleTable('ref backend');
  private disposed = false;

  constructor(private readonly options: Required<Pick<RefBackendOptions, 'matmulInputPrecision'>> & RefBackendOptions) {
    this.capabilities = Object.freeze({
      device: `CPU (reference, float64 accumulation, ${options.matmulInputPrecision} matmul inputs)`,
      ops: Object.freeze([...(options.ops ?? OP_NAMES)]),
      weightPaths: Object.freeze([...(options.weightPaths ?? ALL_WEIGHT_PATHS)]),
      dtypes: Object.freeze(['f32', 'bf16', 'i32', 'u8'] as const),
      // Typed arrays in Node 20 go well past this; 4 GiB keeps buffers within Buffer's cap.
      maxBufferBytes: 2 ** 32,
      matmulInputPrecision: options.matmulInputPrecision,
      timers: false,
    });
  }

  private live(): void {
    if (this.disposed) throw new Error('ref backend: used after dispose()');
  }

  createTensor(desc: TensorDesc, init?: ArrayBufferView): DeviceTensor {
    this.live();
    let entry: ReturnType<HandleTable['addTensor']>;
    try {
      validateTensorDesc(desc);
      if (tensorByteLength(desc) > this.capabilities.maxBufferBytes) throw new RangeError(`${tensorByteLength(desc)} bytes exceed maxBufferBytes ${this.capabilities.maxBufferBytes}`);
      entry = this.table.addTensor(desc);
    } catch (err) {
      throw new RangeError(`ref backend: createTensor ${JSON.stringify(desc)}: ${(err as Error).message}`);
    }
    if (init !== undefined) {
      if (!ArrayBuffer.isView(init) || init.byteLength !== entry.handle.byteLength) {
        this.table.free(entry.handle);
        throw new RangeError(`ref backend: createTensor init holds ${init?.byteLength ?? 'no'} bytes, ${describeTensor(entry.handle)} needs ${entry.handle.byteLength}`);
      }
      bytesOf(entry.data).set(bytesOf(init));
    }
    return entry.handle;
  }

  writeTensor(tensor: DeviceTensor, data: ArrayBufferView, byteOffset = 0): void {
    this.live();
    const entry = this.table.tensor(tensor, 'writeTensor target');
    if (!ArrayBuffer.isView(data)) throw new TypeError('ref backend: writeTensor data must be an ArrayBufferView');
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset + data.byteLength > tensor.byteLength) {
      throw new RangeError(`ref backend: writeTensor of ${data.byteLength} bytes at offset ${byteOffset} overruns ${describeTensor(tensor)} (${tensor.byteLength} bytes)`);
    }
    bytesOf(entry.data).set(bytesOf(data), byteOffset);
  }

  async readTensor(tensor: DeviceTensor): Promise<Float32Array | Uint16Array | Int32Array | Uint8Array> {
    this.live();
    return this.table.tensor(tensor, 'readTensor source').data.slice();
  }

  async uploadWeight(source: WeightSource): Promise<DeviceWeight> {
    this.live();
    let weight: ReturnType<typeof createRefWeight>;
    try {
      weight = createRefWeight(source);
    } catch (err) {
      throw new RangeError(`ref backend: uploadWeight: ${(err as Error).message}`);
    }
    return this.table.addWeight(weight, refWeightBytes(weight)).handle;
  }

  compileGraph(graph: OpGraph): CompiledGraph {
    this.live();
    validateGraph(graph, this.capabilities, NAME);
    const label = graph.label ?? 'graph';
    const nodes: CompiledNode[] = graph.nodes.map((node, i) => compileNode(node, i, this.table, { matmulInputPrecision: this.options.matmulInputPrecision }));
    let disposedGraph = false;
    const table = this.table;
    const backend = this;
    return {
      label,
      nodeCount: nodes.length,
      async run() {
        backend.live();
        if (disposedGraph) throw new Error(`ref backend: graph '${label}' was disposed`);
        nodes.forEach((node, i) => {
          for (const handle of node.handles) {
            if (!table.isLive(handle)) {
              // Rethrows with the freed/foreign wording of the handle table.
              const role = `an input of graph '${label}' node ${i} (${graph.nodes[i]!.op})`;
              if (handle.kind === 'tensor') table.tensor(handle, role);
              else table.weight(handle, role);
            }
          }
        });
        for (let i = 0; i < nodes.length; i++) {
          try {
            nodes[i]!.run();
          } catch (err) {
            throw new Error(`ref backend: graph '${label}' node ${i} (${graph.nodes[i]!.op}): ${(err as Error).message}`);
          }
        }
      },
      dispose() {
        disposedGraph = true;
      },
    };
  }

  free(handle: DeviceTensor | DeviceWeight): void {
    this.live();
    this.table.free(handle);
  }

  async synchronize(): Promise<void> {
    this.live();
  }

  dispose(): void {
    this.table.clear();
    this.disposed = true;
  }

  memoryInUse(): number {
    return this.table.bytesInUse();
  }
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A fresh reference backend. Synchronous: nothing to probe on the CPU. */
export function createRefBackend(options: RefBackendOptions = {}): ZipservBackendV1 {
  const precision = options.matmulInputPrecision ?? 'f32';
  if (precision !== 'f32' && precision !== 'bf16') throw new RangeError(`ref backend: matmulInputPrecision must be 'f32' or 'bf16', got '${String(precision)}'`);
  for (const op of options.ops ?? []) if (!OP_NAMES.includes(op)) throw new RangeError(`ref backend: unknown op '${op}'`);
  for (const path of options.weightPaths ?? []) if (!ALL_WEIGHT_PATHS.includes(path)) throw new RangeError(`ref backend: unknown weight path '${path}'`);
  return new RefBackend({ ...options, matmulInputPrecision: precision });
}
