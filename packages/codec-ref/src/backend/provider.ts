// Discovery entry for the runtime's backend registry: the reference backend is always available.

import type { BackendProviderV1 } from '@zipserv/format';
import { type RefBackendOptions, createRefBackend } from './ref-backend.js';

export const refBackendProvider: BackendProviderV1 = Object.freeze({
  specificationVersion: 'v1' as const,
  name: 'ref',
  async unavailableReason(): Promise<string | null> {
    return null;
  },
  async create(options?: Record<string, unknown>) {
    return createRefBackend((options ?? {}) as RefBackendOptions);
  },
});
