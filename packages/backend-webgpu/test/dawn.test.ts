// Node with Dawn (the `webgpu` package). On a CPU machine Dawn's only adapter is its OpenGL ES
// backend on Mesa llvmpipe (compatibility mode); on a GPU host set ZIPSERV_WEBGPU_OPTIONS (e.g.
// `backend=vulkan`). Kernel cases and the shared conformance suite; named skips without an adapter.

import { defineConformanceSuite } from '@zipserv/codec-ref';
import { afterAll, describe, expect, it } from 'vitest';
import { type WebGpuBackend, createWebGpuBackend } from '../src/backend.js';
import { findGpu, parseDawnOptions, WEBGPU_OPTIONS_ENV } from '../src/gpu.js';
import { kernelCases, splitCases } from './shared/cases.js';

const dawnOptions = parseDawnOptions(process.env[WEBGPU_OPTIONS_ENV]);
const options = dawnOptions.length > 0 ? dawnOptions : ['backend=opengles'];

// One Dawn instance per process: every backend here takes its adapter from it.
let gpu: GPU | null = null;
async function create(extra: { maxBindingBytes?: number } = {}): Promise<WebGpuBackend> {
  gpu ??= await findGpu({ dawnOptions: options });
  return createWebGpuBackend({ gpu, ...extra });
}

let backend: WebGpuBackend | null = null;
let small: WebGpuBackend | null = null;
let unavailable: string | null = null;
try {
  backend = await create();
  small = await create({ maxBindingBytes: 64 * 1024 });
} catch (err) {
  unavailable = (err as Error).message;
}

afterAll(() => {
  backend?.dispose();
  small?.dispose();
});

describe(`Dawn [${options.join(' ')}] kernels (${backend?.capabilities.device ?? 'unavailable'})`, () => {
  for (const c of [...kernelCases, ...splitCases]) {
    if (!backend || !small) {
      it.skip(`${c.name} — skipped: no Dawn adapter: ${unavailable}`, () => {});
      continue;
    }
    const on = splitCases.includes(c) ? small : backend;
    it(c.name, () => c.run(on));
  }
  if (backend) {
    it('caches pipelines by shader key and reports memory in use', async () => {
      const b = backend!;
      const count = b.pipelineCount;
      const x = b.createTensor({ dtype: 'f32', shape: [2, 8] });
      const out = b.createTensor({ dtype: 'f32', shape: [2, 8] });
      const before = b.memoryInUse();
      const g1 = b.compileGraph({ nodes: [{ op: 'add', a: x, b: x, out }] });
      const g2 = b.compileGraph({ nodes: [{ op: 'add', a: x, b: x, out }] });
      expect(b.pipelineCount - count).toBeLessThanOrEqual(1);
      expect(b.memoryInUse()).toBeGreaterThan(before);
      g1.dispose();
      g2.dispose();
      expect(b.memoryInUse()).toBe(before);
      b.free(x);
      b.free(out);
    });
  }
});

await defineConformanceSuite(
  { describe, it, expect, afterAll },
  {
    name: `webgpu/dawn [${options.join(' ')}]`,
    createBackend: () => create(),
    unavailable,
  },
);
