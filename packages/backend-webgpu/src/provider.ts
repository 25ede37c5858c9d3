// Discovery by name: the runtime finds this backend as `webgpu`.

import type { BackendProviderV1 } from '@zipserv/format';
import { createWebGpuBackend } from './backend.js';
import { type WebGpuBackendOptions, adapterInfo, describeAdapter, requestAnyAdapter } from './device.js';

export const webgpuBackendProvider: BackendProviderV1 = {
  specificationVersion: 'v1',
  name: 'webgpu',
  async unavailableReason(): Promise<string | null> {
    try {
      const adapter = await requestAnyAdapter({});
      return adapter ? null : 'WebGPU offers no adapter here (no GPU or software driver found)';
    } catch (err) {
      return (err as Error).message;
    }
  },
  async emulated(): Promise<boolean> {
    // Node on Linux with no GPU device node can only reach a software rasteriser: say so without
    // loading Dawn, whose probe of a software driver prints native warnings to stderr.
    if (await linuxNodeWithoutGpuDevice()) return true;
    try {
      const adapter = await requestAnyAdapter({});
      return adapter ? describeAdapter(await adapterInfo(adapter)).software : false;
    } catch {
      return false;
    }
  },
  create(options?: Record<string, unknown>) {
    return createWebGpuBackend((options ?? {}) as WebGpuBackendOptions);
  },
};

/** True in Node on Linux when /dev holds no GPU device node (no /dev/dri/renderD*, no /dev/nvidia*). */
async function linuxNodeWithoutGpuDevice(): Promise<boolean> {
  const proc = (globalThis as { process?: { platform?: string; versions?: { node?: string } } }).process;
  if (proc?.platform !== 'linux' || !proc.versions?.node || (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return false;
  try {
    const { readdir } = await import('node:fs/promises');
    const dev = await readdir('/dev');
    const dri = dev.includes('dri') ? await readdir('/dev/dri') : [];
    return !dev.some((n) => n.startsWith('nvidia')) && !dri.some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}
