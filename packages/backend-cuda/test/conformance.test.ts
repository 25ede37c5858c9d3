// The shared conformance suite (@zipserv/codec-ref) on the CUDA backend. Without a GPU every case is
// reported as skipped with the reason (no device, addon not built).
import { defineConformanceSuite } from '@zipserv/codec-ref';
import { afterAll, describe, expect, it } from 'vitest';
import { createCudaBackend } from '../src/index.js';
import { unavailable } from './gpu-env.js';

defineConformanceSuite(
  { describe, it, expect, afterAll },
  {
    name: 'cuda',
    createBackend: () => createCudaBackend(),
    unavailable,
    timeoutMs: 300_000,
  },
);
