import { createRefBackend } from '@zipserv/codec-ref';
import type { BackendProviderV1 } from '@zipserv/format';
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
    // zipgemmPath 'auto' lets the backend choose per shape; on the reference backend every path is exact.
    const auto = await createEngine({ model: 'synthetic:tiny', backend, weights: 'zipgemm', zipgemmPath: 'auto', maxContext: 32, encoderThreads: 1 });
    const b = await auto.generate({ promptIds: [1, 2], maxTokens: 4, temperature: 0, ignoreEos: true }).result;
    await auto.dispose();
    expect(b.tokens).toEqual(a.tokens);
    await backend.dispose();
  });
});
