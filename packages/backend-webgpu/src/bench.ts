// ZipGEMM vs its dense twin in WGSL: `pnpm run bench` (node dist/bench.js).
//
//   node dist/bench.js [--shapes llama3-8b|small|MxK,...] [--n 1,4,16,64] [--iterations 20]
//                      [--warmup 3] [--out FILE.json]
//
// Both kernels run the same schedule; the ratio dense/zipgemm is what compression buys. Weights are
// N(0, 0.02) BF16. Each timed graph multiplies by several copies of the weight whose total exceeds
// 256 MiB (4x an H100's L2), so the weights come from memory, not cache. Device time comes from
// timestamp queries when the adapter has them (else wall clock, said in the output). Software
// adapters (lavapipe, llvmpipe, SwiftShader) get small shapes unless --shapes is given.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMatrix } from '@zipserv/codec-ref';
import { type DeviceWeight, type OpNode, f32ArrayToBf16, tcaTbeStoredBytes } from '@zipserv/format';
import { createWebGpuBackend } from './backend.js';

const LLAMA3_8B: [number, number][] = [
  [6144, 4096],
  [4096, 4096],
  [28672, 4096],
  [4096, 14336],
];
const SMALL: [number, number][] = [
  [512, 512],
  [1024, 512],
  [512, 1024],
];
const COLD_BYTES = 256 << 20;

function arg(name: string): string | undefined {
  const i = process.argv.lastIndexOf(`--${name}`); // the last one wins (BENCH_ARGS overrides)
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** [count] BF16 bits ~ N(0, 0.02), mulberry32 + Box-Muller. */
function gaussianBf16(count: number, seed: number): Uint16Array {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const values = new Float32Array(count); // [count] f32
  for (let i = 0; i < count; i += 2) {
    const radius = 0.02 * Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(angle);
  }
  return f32ArrayToBf16(values);
}

interface Row {
  M: number;
  K: number;
  N: number;
  zipgemmUs: number;
  denseUs: number;
  speedup: number;
  zipgemmGBs: number;
  denseGBs: number;
  bitIdentical: boolean;
}

async function main(): Promise<void> {
  const backend = await createWebGpuBackend();
  const device = backend.capabilities.device;
  const software = backend.gpu.software;
  const shapesArg = arg('shapes');
  const shapes =
    shapesArg === 'llama3-8b' ? LLAMA3_8B : shapesArg === 'small' || (!shapesArg && software) ? SMALL : shapesArg ? shapesArg.split(',').map((s) => s.split('x').map(Number) as [number, number]) : LLAMA3_8B;
  const ns = (arg('n') ?? '1,4,16,64').split(',').map(Number);
  const iterations = Number(arg('iterations') ?? (software ? 5 : 20));
  const warmup = Number(arg('warmup') ?? (software ? 1 : 3));
  const clock = backend.capabilities.timers ? 'GPU timestamp queries' : 'wall clock (no timestamp-query on this adapter)';
  console.log(`WebGPU ZipGEMM vs dense twin on ${device}${software ? ' [software adapter: small shapes, not a GPU figure]' : ''}`);
  console.log(`timing: ${clock}; median of ${iterations} runs after ${warmup} warm-up; features ${JSON.stringify(backend.features)}`);

  const rows: Row[] = [];
  for (const [M, K] of shapes) {
    const t0 = performance.now();
    const bits = gaussianBf16(M * K, M * 31 + K);
    const matrix = encodeMatrix(bits, M, K);
    const zipBytes = tcaTbeStoredBytes(matrix);
    const rawBytes = M * K * 2;
    const copies = software ? 1 : Math.max(1, Math.ceil(COLD_BYTES / zipBytes));
    const denseCopies = software ? 1 : Math.max(1, Math.ceil(COLD_BYTES / rawBytes));
    const zip: DeviceWeight[] = [];
    const raw: DeviceWeight[] = [];
    for (let c = 0; c < copies; c++) zip.push(await backend.uploadWeight({ storage: 'tca-tbe', matrix }));
    for (let c = 0; c < denseCopies; c++) raw.push(await backend.uploadWeight({ storage: 'raw', rows: M, cols: K, data: bits }));
    console.log(`${M}x${K}: ratio ${(zipBytes / rawBytes).toFixed(3)}, ${copies}+${denseCopies} copies, prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const N of ns) {
      const xData = new Float32Array(N * K).map((_, i) => Math.sin(i * 0.37)); // [N, K] f32
      const x = backend.createTensor({ dtype: 'f32', shape: [N, K] }, xData);
      const outZip = backend.createTensor({ dtype: 'f32', shape: [N, M] });
      const outDense = backend.createTensor({ dtype: 'f32', shape: [N, M] });
      const nodes = (ws: DeviceWeight[], out: typeof outZip, path: 'zipgemm' | 'dense'): OpNode[] => ws.map((weight) => ({ op: 'matmul', x, weight, out, path }));
      const gZip = backend.compileGraph({ nodes: nodes(zip, outZip, 'zipgemm'), label: `zipgemm ${M}x${K} N=${N}` });
      const gDense = backend.compileGraph({ nodes: nodes(raw, outDense, 'dense'), label: `dense ${M}x${K} N=${N}` });
      const tz = await backend.timeGraph!(gZip, { warmup, iterations });
      const td = await backend.timeGraph!(gDense, { warmup, iterations });
      const a = new Uint32Array(((await backend.readTensor(outZip)) as Float32Array).buffer);
      const b = new Uint32Array(((await backend.readTensor(outDense)) as Float32Array).buffer);
      const bitIdentical = a.length === b.length && a.every((v, i) => v === b[i]);
      const zipgemmUs = (tz.medianMs * 1000) / copies;
      const denseUs = (td.medianMs * 1000) / denseCopies;
      rows.push({
        M,
        K,
        N,
        zipgemmUs,
        denseUs,
        speedup: denseUs / zipgemmUs,
        zipgemmGBs: zipBytes / (zipgemmUs * 1e3),
        denseGBs: rawBytes / (denseUs * 1e3),
        bitIdentical,
      });
      const r = rows[rows.length - 1]!;
      console.log(
        `  N=${String(N).padStart(3)}  zipgemm ${r.zipgemmUs.toFixed(1).padStart(9)} us (${r.zipgemmGBs.toPrecision(3)} GB/s)  dense ${r.denseUs.toFixed(1).padStart(9)} us (${r.denseGBs.toPrecision(3)} GB/s)  x${r.speedup.toFixed(2)}${bitIdentical ? '' : '  OUTPUTS DIFFER'}`,
      );
      gZip.dispose();
      gDense.dispose();
      for (const t of [x, outZip, outDense]) backend.free(t);
    }
    for (const w of [...zip, ...raw]) backend.free(w);
  }

  console.log('\n| M x K | N | zipgemm us | dense us | dense/zipgemm | zipgemm GB/s | dense GB/s | bit-identical |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.M}x${r.K} | ${r.N} | ${r.zipgemmUs.toFixed(1)} | ${r.denseUs.toFixed(1)} | ${r.speedup.toFixed(2)} | ${r.zipgemmGBs.toPrecision(3)} | ${r.denseGBs.toPrecision(3)} | ${r.bitIdentical ? 'yes' : 'NO'} |`);
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const out = resolve(arg('out') ?? resolve(here, '../../../bench/results', `webgpu-${backend.gpu.adapterSlug}.json`));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'webgpu zipgemm vs dense twin',
        command: `node dist/bench.js ${process.argv.slice(2).join(' ')}`.trim(),
        date: new Date().toISOString(),
        adapter: device,
        software,
        timing: clock,
        features: backend.features,
        iterations,
        warmup,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${out}`);
  await backend.dispose();
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
