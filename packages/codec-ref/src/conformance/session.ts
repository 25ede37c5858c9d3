// One case's resources on one backend: tensors and weights it creates are freed when it ends, so a
// GPU backend's memory does not grow over the suite. Outputs are poisoned (NaN, a sentinel for i32)
// so a kernel that skips elements cannot pass by leaving the previous case's values behind.

import type { DType, DeviceTensor, DeviceWeight, OpNode, WeightSource, ZipservBackendV1 } from '@zipserv/format';
import { elementCount } from '@zipserv/format';

/** Quiet NaN with a payload: recognisable in a dump, unlike a computed NaN. */
export const POISON_F32_BITS = 0x7fc0dead;
export const POISON_BF16_BITS = 0x7fd1;
export const POISON_I32 = -1234567891;

export type HostData = Float32Array | Uint16Array | Int32Array | Uint8Array;

export function poisonArray(dtype: DType, count: number): HostData {
  switch (dtype) {
    case 'f32': {
      const a = new Float32Array(count);
      new Uint32Array(a.buffer).fill(POISON_F32_BITS);
      return a;
    }
    case 'bf16':
      return new Uint16Array(count).fill(POISON_BF16_BITS);
    case 'i32':
      return new Int32Array(count).fill(POISON_I32);
    case 'u8':
      return new Uint8Array(count).fill(0xa5);
  }
}

export class Session {
  private readonly handles: (DeviceTensor | DeviceWeight)[] = [];

  constructor(readonly backend: ZipservBackendV1) {}

  tensor(dtype: DType, shape: readonly number[], init?: HostData): DeviceTensor {
    const t = this.backend.createTensor({ dtype, shape }, init);
    this.handles.push(t);
    return t;
  }

  f32(shape: readonly number[], init: Float32Array): DeviceTensor {
    return this.tensor('f32', shape, init);
  }

  i32(shape: readonly number[], init: Int32Array): DeviceTensor {
    return this.tensor('i32', shape, init);
  }

  /** An output tensor filled with poison. */
  poisoned(dtype: DType, shape: readonly number[]): DeviceTensor {
    return this.tensor(dtype, shape, poisonArray(dtype, elementCount(shape)));
  }

  async weight(source: WeightSource): Promise<DeviceWeight> {
    const w = await this.backend.uploadWeight(source);
    this.handles.push(w);
    return w;
  }

  /** Compiles, runs once and disposes a graph. */
  async run(nodes: OpNode[], label: string): Promise<void> {
    const graph = this.backend.compileGraph({ nodes, label });
    try {
      await graph.run();
    } finally {
      graph.dispose();
    }
  }

  async read(t: DeviceTensor): Promise<HostData> {
    return this.backend.readTensor(t);
  }

  async readF32(t: DeviceTensor): Promise<Float32Array> {
    const data = await this.backend.readTensor(t);
    if (!(data instanceof Float32Array)) throw new TypeError(`readTensor of an f32 tensor returned ${data.constructor.name}`);
    return data;
  }

  /** Frees everything this session made (a handle the case already freed is skipped). */
  close(): void {
    for (const h of this.handles.splice(0).reverse()) {
      try {
        this.backend.free(h);
      } catch {
        // freed by the case itself (errors.freed-handle)
      }
    }
  }
}

/** Runs `fn` on the backend under test and on the reference, each in its own session. */
export async function onBoth<T>(backend: ZipservBackendV1, ref: ZipservBackendV1, fn: (s: Session) => Promise<T>): Promise<[got: T, want: T]> {
  const results: T[] = [];
  for (const b of [backend, ref]) {
    const s = new Session(b);
    try {
      results.push(await fn(s));
    } finally {
      s.close();
    }
  }
  return [results[0]!, results[1]!];
}
