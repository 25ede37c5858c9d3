// Opaque handles for device tensors and weights. The id is the native buffer/weight id; the table
// checks identity so a freed handle or another backend's handle gives a clear error.

import type { DeviceTensor, DeviceWeight, TensorDesc, WeightStorage } from '@zipserv/format';

export const describeTensor = (t: DeviceTensor): string => `tensor #${t.id} ${t.dtype}[${t.shape.join(', ')}]`;
export const describeWeight = (w: DeviceWeight): string => `weight #${w.id} ${w.storage} [${w.rows}, ${w.cols}]`;

export class HandleTable {
  private readonly tensors = new Map<number, DeviceTensor>();
  private readonly weights = new Map<number, DeviceWeight>();

  constructor(private readonly owner: string) {}

  addTensor(id: number, desc: TensorDesc, byteLength: number): DeviceTensor {
    const handle: DeviceTensor = Object.freeze({ kind: 'tensor', id, dtype: desc.dtype, shape: Object.freeze([...desc.shape]), byteLength });
    this.tensors.set(id, handle);
    return handle;
  }

  addWeight(id: number, rows: number, cols: number, storage: WeightStorage, deviceBytes: number): DeviceWeight {
    const handle: DeviceWeight = Object.freeze({ kind: 'weight', id, rows, cols, storage, deviceBytes });
    this.weights.set(id, handle);
    return handle;
  }

  isLive(h: DeviceTensor | DeviceWeight): boolean {
    return h.kind === 'tensor' ? this.tensors.get(h.id) === h : this.weights.get(h.id) === h;
  }

  /** The tensor, checked to be live and ours; `role` names it in the error. */
  tensor(t: DeviceTensor, role: string): DeviceTensor {
    if (t?.kind !== 'tensor') throw new TypeError(`${this.owner}: ${role} is not a device tensor`);
    if (this.tensors.get(t.id) !== t) throw new Error(`${this.owner}: ${role} (${describeTensor(t)}) was freed or belongs to another backend`);
    return t;
  }

  weight(w: DeviceWeight, role: string): DeviceWeight {
    if (w?.kind !== 'weight') throw new TypeError(`${this.owner}: ${role} is not a device weight`);
    if (this.weights.get(w.id) !== w) throw new Error(`${this.owner}: ${role} (${describeWeight(w)}) was freed or belongs to another backend`);
    return w;
  }

  remove(h: DeviceTensor | DeviceWeight): void {
    if (h.kind === 'tensor') this.tensors.delete(h.id);
    else this.weights.delete(h.id);
  }

  clear(): void {
    this.tensors.clear();
    this.weights.clear();
  }
}
