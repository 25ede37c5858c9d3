// Discovery entry for the runtime's backend registry (name 'cuda').

import type { BackendProviderV1 } from '@zipserv/format';
import { type CudaBackendOptions, createCudaBackend, cudaUnavailableReason } from './cuda-backend.js';

export const cudaBackendProvider: BackendProviderV1 = Object.freeze({
  specificationVersion: 'v1' as const,
  name: 'cuda',
  async unavailableReason(): Promise<string | null> {
    return cudaUnavailableReason();
  },
  async create(options?: Record<string, unknown>) {
    return createCudaBackend((options ?? {}) as CudaBackendOptions);
  },
});
