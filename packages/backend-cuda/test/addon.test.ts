// The addon loads on any machine (no GPU needed) and says clearly why it cannot run; the lowering of
// contract nodes to native records is checked on the CPU.
import type { DeviceTensor, DeviceWeight } from '@zipserv/format';
import { ropeInvFreq } from '@zipserv/codec-ref';
import type { RopeScaling } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../src/addon.js';
import { cudaBackendProvider, createCudaBackend, probeCuda, supportedWeightPaths } from '../src/index.js';
import { lowerNode } from '../src/lowering.js';
import { addonBuilt, hasGpu, unavailable } from './gpu-env.js';

const requireAddon = process.env.ZIPSERV_REQUIRE_CUDA_ADDON === '1';

describe('cuda addon', () => {
  it.runIf(addonBuilt || requireAddon)('loads and probes the driver without a crash', () => {
    const probe = probeCuda();
    expect('error' in probe ? probe.error : null).toBeNull();
    if ('error' in probe) return;
    expect(probe.runtimeVersion).toBeGreaterThanOrEqual(13000);
    expect(typeof probe.gemmBuilt).toBe('boolean');
    if (probe.ok) {
      expect(probe.deviceCount).toBeGreaterThan(0);
      expect(probe.reason).toBeNull();
    } else {
      expect(probe.reason).toMatch(/CUDA device/);
    }
    if (!probe.cublasAvailable) expect(probe.cublasReason).toMatch(/libcublas\.so\.13/);
  });

  it.runIf(addonBuilt || requireAddon)('computes RoPE frequencies bit for bit like the reference (default, linear, llama3)', () => {
    const loaded = loadAddon();
    if ('error' in loaded) throw new Error(loaded.error);
    const cases: [number, number, RopeScaling | undefined][] = [
      [10000, 8, undefined],
      [10000, 128, undefined],
      [500000, 128, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 }],
      [500000, 64, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 }],
      [1000000, 128, { type: 'llama3', factor: 16, lowFreqFactor: 0.5, highFreqFactor: 3.7, originalMaxPositionEmbeddings: 4096 }],
      [10000, 16, { type: 'linear', factor: 4 }],
      [123456.7, 96, { type: 'linear', factor: 2.5 }],
    ];
    for (const [theta, hd, scaling] of cases) {
      const got = loaded.addon.ropeInvFreq(theta, hd, scaling);
      const want = ropeInvFreq(hd, theta, scaling);
      expect(new Uint32Array(got.buffer), `theta ${theta} hd ${hd} ${scaling?.type ?? 'default'}`).toEqual(new Uint32Array(want.buffer));
    }
  });

  if (!addonBuilt && !requireAddon) it.skip('loads and probes the driver [skipped: addon not built; run `pnpm build:native`]', () => {});

  it('provider says why it cannot run, and create() rejects with that one-line reason', async () => {
    const reason = await cudaBackendProvider.unavailableReason();
    expect(cudaBackendProvider.name).toBe('cuda');
    if (hasGpu) {
      expect(reason).toBeNull();
      return;
    }
    expect(reason).toBe(unavailable);
    expect(reason).toMatch(addonBuilt ? /CUDA device|driver/ : /addon not built/);
    const err = await createCudaBackend().then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(reason!);
    expect(err!.message).not.toContain('\n');
  });

  it('advertises only the weight paths this build can run', () => {
    expect(supportedWeightPaths({ gemmBuilt: true, cublasAvailable: true })).toEqual(['zipgemm', 'dense', 'vendor', 'decompress+vendor']);
    expect(supportedWeightPaths({ gemmBuilt: true, cublasAvailable: false })).toEqual(['zipgemm', 'dense']);
    expect(supportedWeightPaths({ gemmBuilt: false, cublasAvailable: true })).toEqual(['vendor']);
  });
});

describe('lowering', () => {
  const t = (id: number, dtype: DeviceTensor['dtype'], shape: number[]): DeviceTensor => ({ kind: 'tensor', id, dtype, shape, byteLength: 0 });
  const w: DeviceWeight = { kind: 'weight', id: 9, rows: 172, cols: 64, storage: 'tca-tbe', deviceBytes: 0 };

  it('matmul carries N, K, M, the row stride and the epilogue', () => {
    const node = lowerNode({ op: 'matmul', x: t(1, 'f32', [3, 64]), weight: w, out: t(2, 'f32', [3, 344]), outOffset: 172, bias: t(3, 'f32', [172]), accumulate: true, path: 'zipgemm' }, 0);
    expect(node).toEqual({ op: 'matmul', x: 1, weight: 9, out: 2, bias: 3, N: 3, K: 64, M: 172, ldy: 344, outOffset: 172, accumulate: true, path: 'zipgemm' });
    expect(lowerNode({ op: 'matmul', x: t(1, 'f32', [1, 64]), weight: w, out: t(2, 'f32', [1, 172]) }, 0)).toMatchObject({ bias: -1, outOffset: 0, accumulate: false, path: 'auto' });
  });

  it('rmsnorm over rank-3 rows with groups and a column range', () => {
    const node = lowerNode({ op: 'rmsnorm', x: t(1, 'f32', [2, 3, 96]), weight: t(2, 'f32', [8]), out: t(1, 'f32', [2, 3, 96]), eps: 1e-6, offset: 32, width: 64 }, 0);
    expect(node).toMatchObject({ rows: 6, rowWidth: 96, offset: 32, width: 64, groupSize: 8 });
  });

  it('paged attention and kv append read the cache geometry', () => {
    const kc = t(4, 'bf16', [10, 16, 2, 8]);
    const vc = t(5, 'bf16', [10, 16, 2, 8]);
    const kv = lowerNode({ op: 'kvAppend', qkv: t(1, 'f32', [3, 96]), kOffset: 64, vOffset: 80, kCache: kc, vCache: vc, slots: t(6, 'i32', [3]) }, 0);
    expect(kv).toMatchObject({ N: 3, rowWidth: 96, numSlots: 160, kvWidth: 16, bf16: true });
    const att = lowerNode(
      { op: 'attention', qkv: t(1, 'f32', [3, 96]), qOffset: 0, kCache: kc, vCache: vc, blockTables: t(7, 'i32', [2, 5]), contextLens: t(8, 'i32', [2]), queryStarts: t(9, 'i32', [3]), out: t(10, 'f32', [3, 64]), numHeads: 8, numKvHeads: 2, headDim: 8, scale: 0.35 },
      0,
    );
    expect(att).toMatchObject({ numBlocks: 10, blockSize: 16, maxBlocksPerSeq: 5, S: 2, H: 8, Hkv: 2, hd: 8, bf16: true });
    expect(() => lowerNode({ op: 'kvAppend', qkv: t(1, 'f32', [3, 96]), kOffset: 64, vOffset: 80, kCache: kc, vCache: t(5, 'f32', [10, 16, 2, 8]), slots: t(6, 'i32', [3]) }, 4)).toThrow(/graph node 4 \(kvAppend\): kCache is bf16 but vCache is f32/);
  });
});
