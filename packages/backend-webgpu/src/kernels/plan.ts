// What a kernel module hands the graph compiler: dispatches over buffers, with their small uniform
// parameter blocks. The compiler owns allocation (uniform arena, scratch, pipeline cache).

import type { DeviceTensor, DeviceWeight } from '@zipserv/format';
import type { DeviceLimits } from '../device.js';
import type { WeightRecord } from '../weights.js';

export type ParamType = 'u32' | 'i32' | 'f32';
/** Ordered fields of a kernel's uniform block; all 4-byte scalars. */
export type ParamSpec = readonly (readonly [string, ParamType])[];

/** A reference to a parameter block the compiler places in the graph's uniform buffer. */
export interface ParamsRef {
  readonly kind: 'params';
  readonly index: number;
  readonly byteLength: number;
}

/** A byte range of a buffer (offset aligned to minStorageBufferOffsetAlignment). */
export interface BufferRange {
  readonly kind: 'range';
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
}

export type BindingRef = GPUBuffer | ParamsRef | BufferRange;

export interface DispatchPlan {
  label: string;
  pipeline: GPUComputePipeline;
  /** Resource for @binding(i), in order. */
  bindings: BindingRef[];
  workgroups: [number, number, number];
}

export interface PlanContext {
  readonly limits: DeviceLimits;
  readonly features: { shaderF16: boolean; subgroups: boolean; timestamps: boolean };
  readonly zipgemmTargetWorkgroups: number;
  /** Compiles (or returns the cached) pipeline for a shader key. */
  pipeline(key: string, code: () => string): GPUComputePipeline;
  params(spec: ParamSpec, values: Readonly<Record<string, number>>): ParamsRef;
  /** The buffer of a live tensor; `role` names it in errors. Unless `ranged`, the kernel binds it
   *  whole, so it must fit one binding. */
  tensor(t: DeviceTensor, role: string, ranged?: boolean): GPUBuffer;
  weight(w: DeviceWeight, role: string): WeightRecord;
  /** A scratch buffer of at least `bytes` private to this graph (reused by later nodes). */
  scratch(name: string, bytes: number): GPUBuffer;
  /** A small read-only buffer owned by this graph (e.g. RoPE inverse frequencies). */
  constant(label: string, data: ArrayBufferView): GPUBuffer;
  /** Throws a GraphValidationError-style error for the current node. */
  fail(message: string): never;
}

/** Builds the WGSL declaration of a parameter block (padded to a multiple of 16 bytes). */
export function paramStruct(spec: ParamSpec, name = 'Params'): string {
  const fields = spec.map(([n, t]) => `  ${n}: ${t},`);
  for (let i = spec.length; i % 4 !== 0; i++) fields.push(`  _pad${i}: u32,`);
  return `struct ${name} {\n${fields.join('\n')}\n}`;
}

export function paramBytes(spec: ParamSpec): number {
  return Math.ceil(spec.length / 4) * 16;
}

/** Packs parameter values in spec order. */
export function packParams(spec: ParamSpec, values: Readonly<Record<string, number>>): ArrayBuffer {
  const buf = new ArrayBuffer(paramBytes(spec));
  const view = new DataView(buf);
  spec.forEach(([name, type], i) => {
    const v = values[name];
    if (v === undefined || !Number.isFinite(v)) throw new Error(`kernel parameter '${name}' is missing or not finite (${v})`);
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`kernel parameter '${name}' = ${v} does not fit u32`);
      view.setUint32(i * 4, v, true);
    }
  });
  return buf;
}

/**
 * Spreads `count` workgroups over x and y so neither exceeds the per-dimension limit. Shaders
 * rebuild the linear index with `linearWorkgroup()` and ignore the overshoot.
 */
export function grid2d(count: number, maxPerDim: number): [number, number, number] {
  if (count <= 0) return [0, 1, 1];
  const x = Math.min(count, maxPerDim);
  const y = Math.ceil(count / x);
  if (y > maxPerDim) throw new Error(`dispatch of ${count} workgroups exceeds the device's ${maxPerDim}^2 grid`);
  return [x, y, 1];
}
