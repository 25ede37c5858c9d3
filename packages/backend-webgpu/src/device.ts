// Adapter and device acquisition: features, limits, and turning device loss and GPU errors into
// clear JS errors instead of hangs or console noise.

import { findGpu, parseDawnOptions, WEBGPU_OPTIONS_ENV } from './gpu.js';

export interface WebGpuBackendOptions {
  /** A GPU object (navigator.gpu, or Dawn's `create([...])` in Node). Default: findGpu(). */
  gpu?: GPU;
  /** An adapter to use instead of requesting one. */
  adapter?: GPUAdapter;
  /** A device to use as is (its limits and features decide what the backend does). */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Optional features to leave unused even when the adapter has them, e.g. ['subgroups'] to test
   *  the fallbacks. Default from env ZIPSERV_WEBGPU_DISABLE (comma-separated). */
  disableFeatures?: readonly string[];
  /** Caps the storage binding size the backend plans with (bytes), below the device's own limit:
   *  weights are then cut into more parts. For tests of the multi-part paths and for tuning. */
  maxBindingBytes?: number;
  /** Check at creation that subgroups are laid out as the subgroup reductions assume (default
   *  true); false trusts the adapter (Dawn's null backend, which runs nothing, needs this). */
  subgroupProbe?: boolean;
  /** Workgroups ZipGEMM aims for when it chooses its split-K factor (default 528 = 4 x 132 SMs). */
  zipgemmTargetWorkgroups?: number;
}

/** The limits the backend asks for (the adapter's own values: defaults are far lower). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
}

export interface GpuContext {
  device: GPUDevice;
  /** Human-readable adapter description. */
  description: string;
  /** Short adapter name for file names, e.g. "llvmpipe" or "nvidia-h100-80gb-hbm3". */
  adapterSlug: string;
  /** A CPU implementation (lavapipe, llvmpipe, SwiftShader): timings are not GPU figures. */
  software: boolean;
  features: { shaderF16: boolean; subgroups: boolean; timestamps: boolean };
  limits: DeviceLimits;
  /** Whether the backend created the device (and so destroys it on dispose). */
  ownsDevice: boolean;
}

function envList(name: string): string[] {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  let value = proc?.env?.[name];
  if (value === undefined) {
    const deno = (globalThis as { Deno?: { env: { get(k: string): string | undefined } } }).Deno;
    try {
      value = deno?.env.get(name);
    } catch {
      value = undefined; // no --allow-env: treat as unset
    }
  }
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export async function adapterInfo(adapter: GPUAdapter): Promise<GPUAdapterInfo | undefined> {
  if (adapter.info) return adapter.info;
  const legacy = (adapter as { requestAdapterInfo?: () => Promise<GPUAdapterInfo> }).requestAdapterInfo;
  return legacy ? legacy.call(adapter) : undefined;
}

export function describeAdapter(info: GPUAdapterInfo | undefined): { description: string; slug: string; software: boolean } {
  const description = info?.description || '';
  const deviceName = info?.device && /[a-z]/i.test(info.device) ? info.device : '';
  const name = description || deviceName || info?.vendor || 'unknown adapter';
  const extra = [deviceName, info?.vendor, info?.architecture].filter((s) => s && !name.includes(s)).join(' ');
  const slugSource = deviceName || description || 'adapter';
  const slug = slugSource.toLowerCase().replace(/\(.*?\)/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'adapter';
  const software =
    !!(info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|softpipe/i.test(`${description} ${deviceName}`);
  return { description: extra ? `${name} [${extra}] (WebGPU)` : `${name} (WebGPU)`, slug, software };
}

/**
 * An adapter from `options.gpu` (default findGpu()): a core one, else a compatibility-mode one
 * (Dawn's OpenGL ES backend offers only those). In Node with no Dawn options given, when Dawn's
 * default backend has no adapter (no Vulkan driver), Dawn's OpenGL ES backend is tried as well.
 */
export async function requestAnyAdapter(options: Pick<WebGpuBackendOptions, 'gpu' | 'powerPreference'>): Promise<GPUAdapter | undefined> {
  const powerPreference = options.powerPreference ?? 'high-performance';
  const tryGpu = async (gpu: GPU) =>
    (await gpu.requestAdapter({ powerPreference })) ??
    (await gpu.requestAdapter({ powerPreference, featureLevel: 'compatibility' } as GPURequestAdapterOptions)) ??
    undefined;
  const gpu = options.gpu ?? (await findGpu());
  const adapter = await tryGpu(gpu);
  if (adapter || options.gpu) return adapter;
  const proc = (globalThis as { process?: { versions?: { node?: string }; env: Record<string, string | undefined> } }).process;
  const isNodeDawn = !!proc?.versions?.node && !(globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!isNodeDawn || parseDawnOptions(proc!.env[WEBGPU_OPTIONS_ENV]).length > 0) return undefined;
  return tryGpu(await findGpu({ dawnOptions: ['backend=opengles'] }));
}

/** Requests an adapter (high-performance by default, falling back to a compatibility-mode one, which
 *  Dawn's OpenGL ES backend needs) and a device with the adapter's real limits. */
export async function acquireGpu(options: WebGpuBackendOptions): Promise<GpuContext> {
  const disabled = new Set(options.disableFeatures ?? envList('ZIPSERV_WEBGPU_DISABLE'));
  let device = options.device;
  let adapter = options.adapter;
  let ownsDevice = false;
  if (!device) {
    if (!adapter) {
      adapter = await requestAnyAdapter(options);
      if (!adapter) throw new Error('WebGPU is present but offers no adapter (no GPU or software driver found)');
    }
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f) && !disabled.has(f)) as GPUFeatureName[];
    const requiredLimits: Record<string, number> = {};
    for (const key of WANTED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number | undefined>)[key];
      if (typeof v === 'number') requiredLimits[key] = v;
    }
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'zipserv' });
    ownsDevice = true;
  }
  const info = adapter ? await adapterInfo(adapter) : (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const { description, slug, software } = describeAdapter(info);
  const l = device.limits;
  return {
    device,
    description,
    adapterSlug: slug,
    software,
    features: {
      shaderF16: device.features.has('shader-f16') && !disabled.has('shader-f16'),
      subgroups: device.features.has('subgroups') && !disabled.has('subgroups'),
      timestamps: device.features.has('timestamp-query') && !disabled.has('timestamp-query'),
    },
    limits: {
      maxStorageBufferBindingSize: Math.min(l.maxStorageBufferBindingSize, options.maxBindingBytes ?? Number.POSITIVE_INFINITY),
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    },
    ownsDevice,
  };
}

/**
 * Watches a device for loss and uncaptured errors, and checks error scopes. Every async backend
 * call goes through `guard`, so a lost device rejects instead of hanging.
 */
export class DeviceWatch {
  private lostError: Error | null = null;
  private readonly lostPromise: Promise<never>;
  private uncaptured: string | null = null;
  private readonly pending: Promise<string | null>[] = [];
  disposed = false;

  constructor(private readonly device: GPUDevice) {
    this.lostPromise = device.lost.then((info) => {
      this.lostError = new Error(
        this.disposed ? 'WebGPU backend was disposed' : `WebGPU device lost (${info.reason ?? 'unknown'}): ${info.message || 'no message'}`,
      );
      throw this.lostError;
    });
    this.lostPromise.catch(() => undefined); // observed through guard()
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.uncaptured ??= ev.error.message;
    };
  }

  /** Throws if the device is gone. */
  checkAlive(): void {
    if (this.lostError) throw this.lostError;
    if (this.disposed) throw new Error('WebGPU backend was disposed');
  }

  /** Runs `body` inside validation and out-of-memory error scopes; their outcome is checked by the
   *  next `flush()` (the scopes resolve asynchronously, `body` may be synchronous). */
  scoped<T>(what: string, body: () => T): T {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = body();
    } finally {
      const validation = this.device.popErrorScope();
      const oom = this.device.popErrorScope();
      this.pending.push(
        Promise.all([validation, oom]).then(([v, o]) =>
          o ? `${what}: out of GPU memory (${o.message})` : v ? `${what}: ${v.message}` : null,
        ),
      );
    }
    return result;
  }

  /** Awaits the outstanding error scopes; throws the first error they caught. */
  async flush(): Promise<void> {
    this.checkAlive();
    if (this.pending.length > 0) {
      const results = await this.guard(Promise.all(this.pending.splice(0)));
      const first = results.find((r) => r !== null);
      if (first) throw new Error(first);
    }
    if (this.uncaptured) {
      const msg = this.uncaptured;
      this.uncaptured = null;
      throw new Error(`WebGPU error: ${msg}`);
    }
  }

  /** Races a promise against device loss. */
  guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.lostPromise]);
  }
}
