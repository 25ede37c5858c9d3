// Runs the kernel cases and the shared conformance suite on fresh WebGPU backends, outside any
// test framework. Used by the Deno entry and by the bundled GPU-host runner.

import { defineConformanceSuite } from '@zipserv/codec-ref';
import { type WebGpuBackend, createWebGpuBackend } from '../../src/backend.js';
import type { WebGpuBackendOptions } from '../../src/device.js';
import { type KernelCase, kernelCases, splitCases } from './cases.js';
import { type TestResult, createMiniHarness } from './mini-harness.js';

export interface RunAllReport {
  adapter: string | null;
  features: WebGpuBackend['features'] | null;
  reason?: string;
  results: TestResult[];
}

export async function runAll(options: WebGpuBackendOptions & { filter?: RegExp; seed?: number; label?: string }): Promise<RunAllReport> {
  let backend: WebGpuBackend;
  try {
    backend = await createWebGpuBackend(options);
  } catch (err) {
    return { adapter: null, features: null, reason: (err as Error).message, results: [] };
  }
  const label = options.label ?? 'webgpu';
  const results: TestResult[] = [];
  const runCases = async (cases: KernelCase[], on: WebGpuBackend) => {
    for (const c of cases) {
      if (options.filter && !options.filter.test(c.name)) continue;
      const t0 = performance.now();
      try {
        await c.run(on);
        results.push({ suite: `kernels (${label})`, name: c.name, status: 'pass', ms: performance.now() - t0 });
      } catch (err) {
        results.push({ suite: `kernels (${label})`, name: c.name, status: 'fail', ms: performance.now() - t0, error: (err as Error).message });
      }
    }
  };
  await runCases(kernelCases, backend);
  const small = await createWebGpuBackend({ ...options, maxBindingBytes: 64 * 1024 });
  await runCases(splitCases, small);
  small.dispose();
  const report: RunAllReport = { adapter: backend.capabilities.device, features: { ...backend.features }, results };
  backend.dispose();

  const mini = createMiniHarness(`conformance (${label})`);
  await defineConformanceSuite(mini.harness, {
    name: label,
    createBackend: () => createWebGpuBackend(options),
    seed: options.seed,
  });
  const conformance = await mini.run();
  results.push(...conformance.filter((r) => !options.filter || options.filter.test(r.name)));
  return report;
}
