// Every WGSL variant compiles under Tint with the optional features on: Dawn's `null` backend
// offers subgroups and shader-f16 but runs nothing, so this checks the subgroup variants (rmsnorm,
// attention, the probe) that the CPU adapters here (lavapipe, llvmpipe) cannot run. Their results
// are checked on the GPU host (scripts/gpu-host.sh runs the suite with and without subgroups).

import type { DeviceTensor, OpNode } from '@zipserv/format';
import { afterAll, describe, expect, it } from 'vitest';
import { type WebGpuBackend, createWebGpuBackend } from '../src/backend.js';
import { findGpu } from '../src/gpu.js';
import { SUBGROUP_PROBE_SHADER } from '../src/kernels/probe.js';
import { gemmShader } from '../src/kernels/zipgemm.js';
import { encodeForTest } from './shared/encode.js';
import { randomBf16, rng } from './shared/reference.js';

let backend: WebGpuBackend | null = null;
let unavailable = '';
try {
  const gpu = await findGpu({ dawnOptions: ['backend=null'] });
  const adapter = await gpu.requestAdapter();
  if (!adapter?.features.has('subgroups')) unavailable = "Dawn's null backend offers no subgroups here";
  else backend = await createWebGpuBackend({ adapter, subgroupProbe: false, disableFeatures: [] }); // ignores ZIPSERV_WEBGPU_DISABLE
} catch (err) {
  unavailable = `Dawn's null backend is unavailable: ${(err as Error).message}`;
}
afterAll(() => backend?.dispose());

describe("WGSL variants compile under Tint (Dawn null backend, subgroups on)", () => {
  if (!backend) {
    it.skip(`all variants — skipped: ${unavailable}`, () => {});
    return;
  }
  const b = backend;

  it('the device has the subgroup path enabled', () => {
    expect(b.features.subgroups).toBe(true);
  });

  it('a broken shader is reported (so the checks below are not vacuous)', async () => {
    b.watch.scoped('broken shader', () => b.pipeline('test:broken', () => '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }'));
    await expect(b.synchronize()).rejects.toThrow(/broken shader/);
  });

  it('the subgroup probe shader', async () => {
    b.pipeline('test:probe', () => SUBGROUP_PROBE_SHADER);
    await b.synchronize();
  });

  it('every ZipGEMM / dense-twin variant', async () => {
    for (const mode of ['zip', 'dense'] as const) {
      for (const nb of [1, 2, 4, 8, 16]) {
        for (const bias of [false, true]) {
          for (const direct of [false, true]) {
            for (const kEven of [false, true]) {
              b.pipeline(`test:gemm:${mode}:${nb}:${bias}:${direct}:${kEven}`, () => gemmShader({ mode, nb, bias, direct, kEven }));
            }
          }
        }
      }
    }
    await b.synchronize();
  });

  it('a graph using every op, f32 and bf16 caches, in place and not', async () => {
    const t = (dtype: 'f32' | 'i32' | 'bf16', shape: number[]): DeviceTensor => b.createTensor({ dtype, shape });
    const w = await b.uploadWeight({ storage: 'tca-tbe', matrix: encodeForTest(randomBf16(rng(1), 128 * 64), 128, 64) });
    const raw = await b.uploadWeight({ storage: 'raw', rows: 128, cols: 64, data: randomBf16(rng(2), 128 * 64) });
    const x = t('f32', [4, 64]);
    const qkv = t('f32', [4, 128]);
    const ids = t('i32', [4]);
    const pos = t('i32', [4]);
    const nodes: OpNode[] = [
      { op: 'embedding', ids, table: w, out: x },
      { op: 'rmsnorm', x, weight: t('f32', [64]), out: x, eps: 1e-5 },
      { op: 'rmsnorm', x, weight: t('f32', [8]), out: t('f32', [4, 64]), eps: 1e-5 },
      { op: 'matmul', x, weight: w, out: qkv, path: 'zipgemm' },
      { op: 'matmul', x, weight: raw, out: qkv, path: 'dense', bias: t('f32', [128]), accumulate: true },
      { op: 'matmul', x, weight: w, out: qkv, path: 'decompress+vendor' },
      { op: 'rope', x: qkv, positions: pos, firstHead: 0, numHeads: 12, headDim: 8, theta: 1e4 },
      { op: 'decompress', weight: w, out: t('bf16', [128, 64]) },
      { op: 'siluMul', x: qkv, out: x },
      { op: 'add', a: x, b: x, out: x },
      { op: 'add', a: x, b: t('f32', [4, 64]), out: t('f32', [4, 64]) },
      { op: 'gatherRows', x, rows: ids, out: t('f32', [4, 64]) },
      { op: 'argmax', x, out: ids },
    ];
    for (const dtype of ['f32', 'bf16'] as const) {
      for (const hd of [8, 128]) {
        const kc = t(dtype, [4, 16, 1, hd]);
        const vc = t(dtype, [4, 16, 1, hd]);
        const q = t('f32', [4, 3 * hd]);
        nodes.push(
          { op: 'kvAppend', qkv: q, kOffset: hd, vOffset: 2 * hd, kCache: kc, vCache: vc, slots: ids },
          {
            op: 'attention',
            qkv: q,
            qOffset: 0,
            kCache: kc,
            vCache: vc,
            blockTables: t('i32', [2, 4]),
            contextLens: t('i32', [2]),
            queryStarts: t('i32', [3]),
            out: t('f32', [4, hd]),
            numHeads: 1,
            numKvHeads: 1,
            headDim: hd,
            scale: 0.1,
          },
        );
      }
    }
    const g = b.compileGraph({ nodes });
    await g.run();
    expect(b.pipelineCount).toBeGreaterThan(20);
    g.dispose();
  });
});
