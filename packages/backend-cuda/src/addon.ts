// The native addon's surface, typed once (native/addon/module.cpp is its other half), and its loader.
// The addon is built by `pnpm build:native` into build/Release/zipserv_cuda.node; ZIPSERV_CUDA_ADDON
// overrides the path (bundles, the GPU host). Loading never touches the GPU.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { TcaTbeMatrix } from '@zipserv/format';

/** What the driver, runtime and build offer on this machine. */
export interface NativeProbe {
  ok: boolean;
  /** Why no device can be used (null when ok). */
  reason: string | null;
  deviceCount: number;
  /** CUDA version the driver supports, e.g. 13000 (0: no driver). */
  driverVersion: number;
  /** CUDA runtime version linked into the addon. */
  runtimeVersion: number;
  /** Whether the ZipGEMM kernels (native/gemm) are compiled in. */
  gemmBuilt: boolean;
  gemmNotBuiltReason: string | null;
  /** Whether libcublas.so.13 could be loaded (the vendor paths). */
  cublasAvailable: boolean;
  cublasReason: string | null;
}

export interface NativeDeviceInfo {
  name: string;
  major: number;
  minor: number;
  totalMemory: number;
  multiProcessorCount: number;
  l2CacheBytes: number;
  device: number;
}

/** A tca-tbe or raw weight as the addon takes it (arrays are copied to the device). */
export type NativeWeightSource =
  | { storage: 'raw'; rows: number; cols: number; data: Uint16Array }
  | ({ storage: 'tca-tbe' } & TcaTbeMatrix);

/** One lowered graph node (see lowering.ts): op name, buffer/weight ids and plain numbers. */
export type NativeNode = { op: string } & Record<string, number | boolean | string | object | null>;

export interface NativeCompiled {
  id: number;
  /** The path each matmul resolved to, in node order ('auto' resolved). */
  matmulPaths: string[];
}

/** One backend instance on one device: buffers, weights and graphs by numeric id. */
export interface NativeContext {
  info(): NativeDeviceInfo;
  /** Allocates `bytes` of device memory (zero-filled unless `zero` is false); returns its id. */
  alloc(bytes: number, zero?: boolean): number;
  free(id: number): void;
  /** Copies `data` into buffer `id` at `byteOffset`, ordered before later work on the stream. */
  write(id: number, data: ArrayBufferView, byteOffset: number): void;
  /** The buffer's bytes after all queued work. */
  read(id: number): Promise<ArrayBuffer>;
  uploadWeight(source: NativeWeightSource): { id: number; deviceBytes: number };
  freeWeight(id: number): void;
  /** Lowers and captures a graph into a CUDA graph. */
  compile(nodes: NativeNode[], label: string): NativeCompiled;
  /** One replay; resolves when it has finished (waits on a worker thread). */
  runGraph(id: number): Promise<void>;
  /** Device milliseconds of each of `iterations` replays (CUDA events), after `warmup` replays. */
  timeGraph(id: number, warmup: number, iterations: number): Promise<number[]>;
  disposeGraph(id: number): void;
  synchronize(): Promise<void>;
  memoryInUse(): number;
  dispose(): void;
}

export interface NativeAddon {
  probe(): NativeProbe;
  /** The GEMM kernels' benchmark: options as a flat JSON object, returns the JSON report. */
  gemmBench(optionsJson: string): string;
  /** The RoPE inverse-frequency table the rope op uploads ([headDim/2] f32, HF's float32 math). */
  ropeInvFreq(theta: number, headDim: number, scaling?: object): Float32Array;
  Context: new (device: number) => NativeContext;
  cudaRuntimeVersion: number;
}

/** Where the addon is looked for: ZIPSERV_CUDA_ADDON, else the package's build/Release. */
export function addonPath(explicit?: string): string {
  if (explicit) return explicit;
  const fromEnv = process.env.ZIPSERV_CUDA_ADDON;
  if (fromEnv) return fromEnv;
  return fileURLToPath(new URL('../build/Release/zipserv_cuda.node', import.meta.url));
}

const cache = new Map<string, { addon: NativeAddon } | { error: string }>();

/** Loads the addon once per path; never throws: `error` says why it could not be loaded. */
export function loadAddon(explicitPath?: string): { addon: NativeAddon } | { error: string } {
  const path = addonPath(explicitPath);
  const hit = cache.get(path);
  if (hit) return hit;
  let result: { addon: NativeAddon } | { error: string };
  if (!existsSync(path)) {
    result = { error: `CUDA addon not built: ${path} is missing (run \`pnpm --filter @zipserv/backend-cuda build:native\`, or set ZIPSERV_CUDA_ADDON)` };
  } else {
    try {
      const require = createRequire(import.meta.url);
      result = { addon: require(path) as NativeAddon };
    } catch (err) {
      result = { error: `CUDA addon ${path} failed to load: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  cache.set(path, result);
  return result;
}
