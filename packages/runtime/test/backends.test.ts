import { createRefBackend } from '@zipserv/codec-ref';
import type { BackendProviderV1, OpGraph } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { findBackendProvider, listBackends, registerBackend, resolveBackend } from '../src/backends/registry.js';
import { createEngine } from '../src/engine/engine.js';

describe('backend registry', () => {
  it('ref is registered by default and available', async () => {
    const all = await listBackends();
    expect(all.find((b) => b.name === 'ref')).toEqual({ name: 'ref', available: true, reason: null });
    for (const b of all) if (!b.available) expect(b.reason).toMatch(/\S/);
  });

  it("'auto' takes the first available of cuda, webgpu, ref that is not a software emulation", async () => {
    const all = await listBackends();
    let expected: string | undefined;
    for (const n of ['cuda', 'webgpu', 'ref']) {
      if (!all.find((b) => b.name === n)?.available) continue;
      if (await (await findBackendProvider(n)).emulated?.()) continue;
      expected = n;
      break;
    }
    const { backend, owned } = await resolveBackend('auto');
    expect(backend.name).toBe(expected);
    expect(owned).toBe(true);
    await backend.dispose();
  });

  it("'auto' passes over an emulated backend, which still works by name", async () => {
    const emulatedProvider: BackendProviderV1 = {
      specificationVersion: 'v1',
      name: 'fake-emulated',
      unavailableReason: async () => null,
      emulated: async () => true,
      create: async () => createRefBackend(),
    };
    registerBackend(emulatedProvider);
    const byName = await resolveBackend('fake-emulated');
    expect(byName.backend.name).toBe('ref');
    await byName.backend.dispose();
    expect(await emulatedProvider.emulated!()).toBe(true);
  });

  it('a registered provider is used by name, and its unavailability reason is reported', async () => {
    const fake: BackendProviderV1 = {
      specificationVersion: 'v1',
      name: 'fake-accel',
      unavailableReason: async () => 'no fake-accel device',
      create: async () => createRefBackend(),
    };
    registerBackend(fake);
    expect(await findBackendProvider('fake-accel')).toBe(fake);
    await expect(resolveBackend('fake-accel')).rejects.toThrow("backend 'fake-accel' is unavailable: no fake-accel device");
    await expect(resolveBackend('nosuch')).rejects.toThrow(/backend 'nosuch': package @zipserv\/backend-nosuch is not installed/);
    expect(() => registerBackend({ name: 'x' } as unknown as BackendProviderV1)).toThrow(/BackendProviderV1/);
  });

  it('an engine on a caller-owned backend leaves it alive; unsupported weight paths are refused by name', async () => {
    const backend = createRefBackend({ weightPaths: ['zipgemm', 'dense'] });
    const engine = await createEngine({ model: 'synthetic:tiny', backend, weights: 'zipgemm', maxContext: 32, encoderThreads: 1 });
    const a = await engine.generate({ promptIds: [1, 2], maxTokens: 4, temperature: 0, ignoreEos: true }).result;
    await engine.dispose();
    expect(() => backend.createTensor({ dtype: 'f32', shape: [1] })).not.toThrow();
    await expect(createEngine({ model: 'synthetic:tiny', backend, weights: 'vendor' })).rejects.toThrow("backend 'ref' does not support weight path 'vendor' (it has: zipgemm, dense)");
    // zipgemmPath 'zipgemm' (fused kernels at every size) on the reference backend: every path is exact.
    const fused = await createEngine({ model: 'synthetic:tiny', backend, weights: 'zipgemm', zipgemmPath: 'zipgemm', maxContext: 32, encoderThreads: 1 });
    const b = await fused.generate({ promptIds: [1, 2], maxTokens: 4, temperature: 0, ignoreEos: true }).result;
    await fused.dispose();
    expect(b.tokens).toEqual(a.tokens);
    await backend.dispose();
  });

  it('prefill chunks over 64 rows put their matmuls on the vendor paths in zipgemm and dense mode alike; decode stays on the fused kernels', async () => {
    // Records the path of every matmul of every compiled step graph as "rows:path".
    const spy = (paths: string[]) => {
      const backend = createRefBackend();
      return new Proxy(backend, {
        get(target, key) {
          if (key === 'compileGraph') {
            return (graph: OpGraph) => {
              for (const n of graph.nodes) if (n.op === 'matmul') paths.push(`${n.x.shape[0]}:${n.path}`);
              return target.compileGraph(graph);
            };
          }
          const v = Reflect.get(target, key);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    };
    const prompt = Array.from({ length: 100 }, (_, i) => 1 + (i % 50));
    const run = async (weights: 'zipgemm' | 'dense', zipgemmPath?: 'zipgemm' | 'auto') => {
      const paths: string[] = [];
      const backend = spy(paths);
      const engine = await createEngine({ model: 'synthetic:tiny', backend, weights, maxContext: 160, maxStepTokens: 128, encoderThreads: 1, ...(zipgemmPath ? { zipgemmPath } : {}) });
      const r = await engine.generate({ promptIds: prompt, maxTokens: 3, temperature: 0, ignoreEos: true }).result;
      await engine.dispose();
      await backend.dispose();
      return { tokens: r.tokens, paths: new Set(paths) };
    };
    const zip = await run('zipgemm');
    const dense = await run('dense');
    const fused = await run('zipgemm', 'zipgemm');
    // The 128-row prefill bucket: vendor GEMMs (on decompressed weights in zipgemm mode); the 1-row decode bucket and
    // the LM head (one row per sequence) on the fused kernels.
    expect(zip.paths).toContain('128:decompress+vendor');
    expect(zip.paths).toContain('1:zipgemm');
    expect([...zip.paths].filter((p) => p.endsWith(':decompress+vendor')).every((p) => Number(p.split(':')[0]) > 64)).toBe(true);
    expect(dense.paths).toContain('128:vendor');
    expect(dense.paths).toContain('1:dense');
    expect([...fused.paths].every((p) => p.endsWith(':zipgemm') || p.endsWith(':dense'))).toBe(true);
    expect(zip.tokens).toEqual(dense.tokens);
    expect(fused.tokens).toEqual(zip.tokens);
  });
});
