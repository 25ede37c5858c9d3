// Handle bookkeeping of the reference backend: device tensors and weights are typed arrays keyed
// by handle id. A handle is accepted only if it is the very object this backend returned and has
// not been freed, so a freed handle or another backend's handle (same id, different object) fails
// with a message saying which.

import { DTYPE_BYTES, type DType, type DeviceTensor, type DeviceWeight, type TensorDesc, tensorByteLength, validateTensorDesc } from '@zipserv/format';
import type { RefWeight } from './weights.js';

export type TensorData = Float32Array | Uint16Array | Int32Array | Uint8Array;

export interface TensorEntry {
  handle: DeviceTensor;
  data: TensorData;
}

export interface WeightEntry {
  handle: DeviceWeight;
  weight: RefWeight;
}

export function allocateTensorData(dtype: DType, count: number): TensorData {
  switch (dtype) {
    case 'f32':
      return new Float32Array(count);
    case 'bf16':
      return new Uint16Array(count);
    case 'i32':
      return new Int32Array(count);
    case 'u8':
      return new Uint8Array(count);
  }
}

export const describeTensor = (t: DeviceTensor): string => `tensor #${t.id} [${t.shape.join(', ')}] ${t.dtype}`;
export const describeWeight = (w: DeviceWeight): string => `weight #${w.id} [${w.rows}, ${w.cols}] ${w.storage}`;

export class HandleTable {
  private nextId = 1;
  private readonly tensors = new Map<number, TensorEntry>();
  private readonly weights = new Map<number, WeightEntry>();
  private readonly freed = new WeakSet<object>();

  constructor(private readonly owner: string) {}

  addTensor(desc: TensorDesc): TensorEntry {
    validateTensorDesc(desc);
    const byteLength = tensorByteLength(desc);
    const handle: DeviceTensor = Object.freeze({ kind: 'tensor', id: this.nextId++, dtype: desc.dtype, shape: Object.freeze([...desc.shape]), byteLength });
    const entry = { handle, data: allocateTensorData(desc.dtype, byteLength / DTYPE_BYTES[desc.dtype]) };
    this.tensors.set(handle.id, entry);
    return entry;
  }

  addWeight(weight: RefWeight, deviceBytes: number): WeightEntry {
    const handle: DeviceWeight = Object.freeze({ kind: 'weight', id: this.nextId++, rows: weight.rows, cols: weight.cols, storage: weight.storage, deviceBytes });
    const entry = { handle, weight };
    this.weights.set(handle.id, entry);
    return entry;
  }

  /** The live entry of a tensor handle; `role` names it in errors (e.g. "x of node 3"). */
  tensor(handle: DeviceTensor, role: string): TensorEntry {
    if (!handle || typeof handle !== 'object' || handle.kind !== 'tensor') throw new TypeError(`${this.owner}: ${role} is not a device tensor`);
    const entry = this.tensors.get(handle.id);
    if (entry?.handle === handle) return entry;
    if (this.freed.has(handle)) throw new Error(`${this.owner}: ${role} (${describeTensor(handle)}) was freed`);
    throw new Error(`${this.owner}: ${role} (${describeTensor(handle)}) was not created by this backend`);
  }

  weight(handle: DeviceWeight, role: string): WeightEntry {
    if (!handle || typeof handle !== 'object' || handle.kind !== 'weight') throw new TypeError(`${this.owner}: ${role} is not a device weight`);
    const entry = this.weights.get(handle.id);
    if (entry?.handle === handle) return entry;
    if (this.freed.has(handle)) throw new Error(`${this.owner}: ${role} (${describeWeight(handle)}) was freed`);
    throw new Error(`${this.owner}: ${role} (${describeWeight(handle)}) was not created by this backend`);
  }

  /** True while the handle is live in this table. */
  isLive(handle: DeviceTensor | DeviceWeight): boolean {
    const entry = handle.kind === 'tensor' ? this.tensors.get(handle.id) : this.weights.get(handle.id);
    return entry?.handle === handle;
  }

  free(handle: DeviceTensor | DeviceWeight): void {
    if (handle?.kind === 'tensor') this.tensor(handle, 'the tensor to free');
    else if (handle?.kind === 'weight') this.weight(handle, 'the weight to free');
    else throw new TypeError(`${this.owner}: free() needs a device tensor or weight`);
    if (handle.kind === 'tensor') this.tensors.delete(handle.id);
    else this.weights.delete(handle.id);
    this.freed.add(handle);
  }

  bytesInUse(): number {
    let bytes = 0;
    for (const t of this.tensors.values()) bytes += t.data.byteLength;
    for (const w of this.weights.values()) bytes += w.handle.deviceBytes;
    return bytes;
  }

  clear(): void {
    for (const t of this.tensors.values()) this.freed.add(t.handle);
    for (const w of this.weights.values()) this.freed.add(w.handle);
    this.tensors.clear();
    this.weights.clear();
  }
}
