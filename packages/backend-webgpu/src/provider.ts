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
