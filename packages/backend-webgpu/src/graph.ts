// Graph compilation: every node becomes dispatches whose pipelines, parameter blocks and bind
// groups are all made here, once. A run records one command encoder with one compute pass (WebGPU
// orders the dispatches of a pass: each sees the writes of the ones before) and submits it.

import {
  type CompiledGraph,
  type DeviceTensor,
  type DeviceWeight,
  GraphValidationError,
  type OpGraph,
  type OpNode,
} from '@zipserv/format';
import type { DeviceWatch, GpuContext } from './device.js';
import { planArgmax } from './kernels/argmax.js';
import { planAttention } from './kernels/attention.js';
import { planDecompress } from './kernels/decompress.js';
import { planAdd, planGatherRows, planSiluMul } from './kernels/elementwise.js';
import { planEmbedding } from './kernels/embedding.js';
import { planKvAppend } from './kernels/kvcache.js';
import { type DispatchPlan, type ParamSpec, type ParamsRef, type PlanContext, packParams } from './kernels/plan.js';
import { planRmsNorm } from './kernels/rmsnorm.js';
import { planRope } from './kernels/rope.js';
import { planMatmul } from './kernels/zipgemm.js';
import { BufferUsage } from './webgpu-constants.js';
import type { WeightRecord } from './weights.js';

export interface TensorRecord {
  handle: DeviceTensor;
  buffer: GPUBuffer;
  freed: boolean;
}

/** What the compiler needs from the backend. */
export interface GraphHost {
  readonly gpu: GpuContext;
  readonly watch: DeviceWatch;
  readonly zipgemmTargetWorkgroups: number;
  pipeline(key: string, code: () => string): GPUComputePipeline;
  tensorRecord(t: DeviceTensor, what: string): TensorRecord;
  weightRecord(w: DeviceWeight, what: string): WeightRecord;
  /** Counts bytes the graph allocates (scratch, parameters) in the backend's memory figure. */
  track(bytes: number): void;
}

const UNIFORM_SLOT = 256; // >= every device's minUniformBufferOffsetAlignment

function planNode(ctx: PlanContext, node: OpNode): DispatchPlan[] {
  switch (node.op) {
    case 'matmul':
      return planMatmul(ctx, node);
    case 'decompress':
      return planDecompress(ctx, node);
    case 'embedding':
      return planEmbedding(ctx, node);
    case 'rmsnorm':
      return planRmsNorm(ctx, node);
    case 'rope':
      return planRope(ctx, node);
    case 'kvAppend':
      return planKvAppend(ctx, node);
    case 'attention':
      return planAttention(ctx, node);
    case 'siluMul':
      return planSiluMul(ctx, node);
    case 'add':
      return planAdd(ctx, node);
    case 'gatherRows':
      return planGatherRows(ctx, node);
    case 'argmax':
      return planArgmax(ctx, node);
  }
}

interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

export class WebGpuCompiledGraph implements CompiledGraph {
  readonly nodeCount: number;
  readonly dispatchCount: number;
  private readonly dispatches: Dispatch[];
  private readonly owned: GPUBuffer[];
  private readonly tensors: TensorRecord[];
  private readonly weights: WeightRecord[];
  private readonly ownedBytes: number;
  private disposed = false;

  constructor(
    private readonly host: GraphHost,
    graph: OpGraph,
    readonly label: string,
  ) {
    this.nodeCount = graph.nodes.length;
    const device = host.gpu.device;
    const paramBlocks: ArrayBuffer[] = [];
    const scratch = new Map<string, GPUBuffer>();
    const owned: GPUBuffer[] = [];
    const tensors = new Set<TensorRecord>();
    const weights = new Set<WeightRecord>();
    const maxBinding = host.gpu.limits.maxStorageBufferBindingSize;
    let nodeIndex = 0;
    let currentOp = '';
    const fail = (message: string): never => {
      throw new GraphValidationError(nodeIndex, currentOp, message);
    };
    const ctx: PlanContext = {
      limits: host.gpu.limits,
      features: host.gpu.features,
      zipgemmTargetWorkgroups: host.zipgemmTargetWorkgroups,
      pipeline: (key, code) => host.pipeline(key, code),
      params: (spec: ParamSpec, values): ParamsRef => {
        const data = packParams(spec, values);
        paramBlocks.push(data);
        return { kind: 'params', index: paramBlocks.length - 1, byteLength: data.byteLength };
      },
      tensor: (t, role, ranged) => {
        const rec = host.tensorRecord(t, `graph node ${nodeIndex} (${currentOp}): ${role}`);
        if (!ranged && rec.buffer.size > maxBinding) {
          fail(`${role} holds ${rec.buffer.size} bytes, more than this device binds at once (${maxBinding})`);
        }
        tensors.add(rec);
        return rec.buffer;
      },
      weight: (w, role) => {
        const rec = host.weightRecord(w, `graph node ${nodeIndex} (${currentOp}): ${role}`);
        weights.add(rec);
        return rec;
      },
      scratch: (name, bytes) => {
        const size = Math.max(4, Math.ceil(bytes / 4) * 4);
        if (size > maxBinding) fail(`needs ${size} bytes of scratch (${name}), more than this device binds at once`);
        let buf = scratch.get(name);
        if (!buf || buf.size < size) {
          // Earlier nodes keep the smaller buffer in their bind groups; both live until dispose.
          buf = device.createBuffer({ label: `${label}.${name}`, size, usage: BufferUsage.STORAGE });
          owned.push(buf);
          scratch.set(name, buf);
        }
        return buf;
      },
      constant: (what, data) => {
        const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
        const buf = device.createBuffer({ label: `${label}.${what}`, size, usage: BufferUsage.STORAGE, mappedAtCreation: true });
        new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        buf.unmap();
        owned.push(buf);
        return buf;
      },
      fail,
    };

    const plans: DispatchPlan[] = [];
    host.watch.scoped(`compiling graph '${label}'`, () => {
      graph.nodes.forEach((node, i) => {
        nodeIndex = i;
        currentOp = node.op;
        plans.push(...planNode(ctx, node));
      });
    });

    const uniform =
      paramBlocks.length > 0
        ? device.createBuffer({
            label: `${label}.params`,
            size: paramBlocks.length * UNIFORM_SLOT,
            usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST,
            mappedAtCreation: true,
          })
        : undefined;
    if (uniform) {
      const bytes = new Uint8Array(uniform.getMappedRange());
      paramBlocks.forEach((block, i) => {
        bytes.set(new Uint8Array(block), i * UNIFORM_SLOT);
      });
      uniform.unmap();
      owned.push(uniform);
    }
    this.dispatches = host.watch.scoped(`binding graph '${label}'`, () =>
      plans.map((plan) => ({
        pipeline: plan.pipeline,
        workgroups: plan.workgroups,
        bindGroup: device.createBindGroup({
          label: plan.label,
          layout: plan.pipeline.getBindGroupLayout(0),
          entries: plan.bindings.map((b, binding) =>
            'kind' in b && b.kind === 'params'
              ? { binding, resource: { buffer: uniform!, offset: b.index * UNIFORM_SLOT, size: b.byteLength } }
              : 'kind' in b && b.kind === 'range'
                ? { binding, resource: { buffer: b.buffer, offset: b.offset, size: b.size } }
                : { binding, resource: { buffer: b as GPUBuffer } },
          ),
        }),
      })),
    );
    this.dispatchCount = this.dispatches.length;
    this.owned = owned;
    this.tensors = [...tensors];
    this.weights = [...weights];
    this.ownedBytes = owned.reduce((s, b) => s + b.size, 0);
    host.track(this.ownedBytes);
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error(`graph '${this.label}' was disposed`);
    this.host.watch.checkAlive();
    for (const t of this.tensors) {
      if (t.freed) throw new Error(`graph '${this.label}' uses tensor #${t.handle.id}, which was freed`);
    }
    for (const w of this.weights) {
      if (w.freed) throw new Error(`graph '${this.label}' uses weight #${w.handle.id}, which was freed`);
    }
  }

  /** Records the graph into one encoder; `timestamps` brackets its compute pass. */
  encode(timestamps?: { querySet: GPUQuerySet; begin: number; end: number }): GPUCommandBuffer {
    this.checkUsable();
    const encoder = this.host.gpu.device.createCommandEncoder({ label: this.label });
    const pass = encoder.beginComputePass({
      label: this.label,
      ...(timestamps
        ? {
            timestampWrites: {
              querySet: timestamps.querySet,
              beginningOfPassWriteIndex: timestamps.begin,
              endOfPassWriteIndex: timestamps.end,
            },
          }
        : {}),
    });
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
    pass.end();
    return encoder.finish();
  }

  async run(): Promise<void> {
    const { device } = this.host.gpu;
    const commands = this.encode();
    this.host.watch.scoped(`running graph '${this.label}'`, () => device.queue.submit([commands]));
    await this.host.watch.guard(device.queue.onSubmittedWorkDone());
    await this.host.watch.flush();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.owned) b.destroy();
    this.host.track(-this.ownedBytes);
  }
}
