// Kernel checks shared by the vitest (Node/Dawn) and Deno (lavapipe) entries: each case builds
// random inputs, runs one graph on the WebGPU backend and compares with a float64 reference (or
// bit for bit where the op is exact). A case throws on mismatch.

import {
  type DeviceTensor,
  type DeviceWeight,
  type OpNode,
  type WeightPath,
  bf16ToF32,
  f32ToBf16,
} from '@zipserv/format';
import type { WebGpuBackend } from '../../src/backend.js';
import { ropeInverseFrequencies } from '../../src/kernels/rope.js';
import { encodeForTest } from './encode.js';
import { adversarialBf16, matmulRef, maxAbsDiff, randomBf16, randomF32, relError, rng } from './reference.js';

export interface KernelCase {
  name: string;
  run(backend: WebGpuBackend): Promise<void>;
}

function assert(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

function assertBitsEqual(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert(a.length === b.length, `${what}: length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`${what}: differs at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

function assertF32BitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  assertBitsEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), what);
}

const poison = (n: number) => new Float32Array(n).fill(Number.NaN);

async function run(backend: WebGpuBackend, nodes: OpNode[]): Promise<void> {
  const g = backend.compileGraph({ nodes, label: nodes.map((n) => n.op).join('+') });
  try {
    await g.run();
  } finally {
    g.dispose();
  }
}

async function readF32(backend: WebGpuBackend, t: DeviceTensor): Promise<Float32Array> {
  return (await backend.readTensor(t)) as Float32Array;
}

interface MatmulSetup {
  x: Float32Array;
  w: Uint16Array;
  zip: DeviceWeight;
  raw: DeviceWeight;
}

async function matmulSetup(backend: WebGpuBackend, seed: number, n: number, k: number, m: number, adversarial = false): Promise<MatmulSetup> {
  const r = rng(seed);
  const x = randomF32(r, n * k);
  // adversarial: exponents over most of the range, below ~1e19 so that products stay finite
  const w = adversarial ? adversarialBf16(r, m * k, 0x5f7f) : randomBf16(r, m * k);
  const zip = await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeForTest(w, m, k) });
  const raw = await backend.uploadWeight({ storage: 'raw', rows: m, cols: k, data: w });
  return { x, w, zip, raw };
}

async function matmulOut(
  backend: WebGpuBackend,
  s: MatmulSetup,
  n: number,
  k: number,
  m: number,
  path: WeightPath,
  extra: { width?: number; offset?: number; bias?: Float32Array; accumulate?: Float32Array } = {},
): Promise<Float32Array> {
  const width = extra.width ?? m;
  const x = backend.createTensor({ dtype: 'f32', shape: [n, k] }, s.x);
  const out = backend.createTensor({ dtype: 'f32', shape: [n, width] }, extra.accumulate ?? poison(n * width));
  const bias = extra.bias ? backend.createTensor({ dtype: 'f32', shape: [m] }, extra.bias) : undefined;
  const weight = path === 'zipgemm' || path === 'decompress+vendor' ? s.zip : s.raw;
  await run(backend, [
    { op: 'matmul', x, weight, out, path, outOffset: extra.offset, ...(bias ? { bias } : {}), accumulate: !!extra.accumulate },
  ]);
  const y = await readF32(backend, out);
  backend.free(x);
  backend.free(out);
  if (bias) backend.free(bias);
  return y;
}

function matmulCase(n: number, k: number, m: number, seed: number, adversarial = false): KernelCase {
  return {
    name: `matmul ${m}x${k} N=${n}${adversarial ? ' adversarial weights' : ''}: zipgemm == dense == decompress+vendor, f32-exact vs float64`,
    async run(backend) {
      const s = await matmulSetup(backend, seed, n, k, m, adversarial);
      const ref = matmulRef(s.x, s.w, n, k, m);
      const zip = await matmulOut(backend, s, n, k, m, 'zipgemm');
      const dense = await matmulOut(backend, s, n, k, m, 'dense');
      const dv = await matmulOut(backend, s, n, k, m, 'decompress+vendor');
      const err = relError(zip, ref);
      assert(err < 1e-5, `zipgemm rel err ${err}`);
      assertF32BitsEqual(zip, dense, 'zipgemm vs dense');
      assertF32BitsEqual(dv, dense, 'decompress+vendor vs dense');
      backend.free(s.zip);
      backend.free(s.raw);
    },
  };
}

export const kernelCases: KernelCase[] = [
  {
    name: 'decompress: bit-exact for ragged shapes, odd K, adversarial exponents and expBase 0',
    async run(backend) {
      const r = rng(11);
      const shapes: [number, number, (n: number) => Uint16Array][] = [
        [172, 64, (n) => randomBf16(r, n)],
        [32, 64, (n) => randomBf16(r, n)],
        [70, 131, (n) => adversarialBf16(r, n)],
        [5, 3, (n) => adversarialBf16(r, n)],
        // expBase 0: zeros and subnormals dominate
        [64, 64, (n) => Uint16Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0x3f80 : i % 7))],
      ];
      for (const [rows, cols, gen] of shapes) {
        const bits = gen(rows * cols);
        const m = encodeForTest(bits, rows, cols);
        for (const source of [
          { storage: 'tca-tbe' as const, matrix: m },
          { storage: 'raw' as const, rows, cols, data: bits },
        ]) {
          const w = await backend.uploadWeight(source);
          const out = backend.createTensor({ dtype: 'bf16', shape: [rows, cols] }, new Uint16Array(rows * cols).fill(0x7fc1));
          await run(backend, [{ op: 'decompress', weight: w, out }]);
          const got = (await backend.readTensor(out)) as Uint16Array;
          assertBitsEqual(got, bits, `decompress ${source.storage} ${rows}x${cols} (expBase ${m.expBase})`);
          backend.free(out);
          backend.free(w);
        }
      }
    },
  },
  matmulCase(1, 64, 172, 1),
  matmulCase(3, 172, 64, 2),
  matmulCase(17, 64, 32, 3),
  matmulCase(5, 131, 70, 4, true),
  matmulCase(2, 1024, 96, 5), // 16 K tiles: split-K with the default target
  {
    name: 'matmul: bias, outOffset into a packed buffer, accumulate',
    async run(backend) {
      const [n, k, m, width, offset] = [3, 64, 32, 100, 40];
      const s = await matmulSetup(backend, 21, n, k, m);
      const bias = randomF32(rng(22), m);
      const prior = randomF32(rng(23), n * width);
      const ref = matmulRef(s.x, s.w, n, k, m);
      for (const path of ['zipgemm', 'dense'] as const) {
        const y = await matmulOut(backend, s, n, k, m, path, { width, offset, bias, accumulate: prior });
        const want = Float64Array.from(prior);
        for (let a = 0; a < n; a++) for (let b = 0; b < m; b++) want[a * width + offset + b] = prior[a * width + offset + b]! + ref[a * m + b]! + bias[b]!;
        const err = relError(y, want);
        assert(err < 1e-5, `${path}: rel err ${err}`);
        for (let a = 0; a < n; a++) {
          for (let c = 0; c < width; c++) {
            if (c < offset || c >= offset + m) assert(y[a * width + c] === prior[a * width + c], `${path}: column ${c} outside the product changed`);
          }
        }
      }
      backend.free(s.zip);
      backend.free(s.raw);
    },
  },
  {
    name: 'embedding: rows gathered from compressed and raw tables are exact; bad ids give zeros',
    async run(backend) {
      const [v, d] = [200, 72];
      const bits = adversarialBf16(rng(31), v * d);
      const ids = Int32Array.from([0, 199, 63, 64, 5, 5, -1, 200, 131]);
      for (const source of [
        { storage: 'tca-tbe' as const, matrix: encodeForTest(bits, v, d) },
        { storage: 'raw' as const, rows: v, cols: d, data: bits },
      ]) {
        const table = await backend.uploadWeight(source);
        const idT = backend.createTensor({ dtype: 'i32', shape: [ids.length] }, ids);
        const out = backend.createTensor({ dtype: 'f32', shape: [ids.length, d] }, poison(ids.length * d));
        await run(backend, [{ op: 'embedding', ids: idT, table, out }]);
        const got = await readF32(backend, out);
        const want = new Float32Array(ids.length * d);
        ids.forEach((id, n) => {
          if (id >= 0 && id < v) for (let c = 0; c < d; c++) want[n * d + c] = bf16ToF32(bits[id * d + c]!);
        });
        assertF32BitsEqual(got, want, `embedding ${source.storage}`);
        backend.free(table);
        backend.free(idT);
        backend.free(out);
      }
    },
  },
  {
    name: 'rmsnorm: whole rows, per-head groups with offset/width, in place',
    async run(backend) {
      const [n, c] = [5, 96];
      const x = randomF32(rng(41), n * c, 3);
      const wRow = randomF32(rng(42), c);
      const wHead = randomF32(rng(43), 8);
      const eps = 1e-5;
      const ref = (w: Float32Array, offset: number, width: number) => {
        const y = Float64Array.from(x);
        for (let a = 0; a < n; a++) {
          for (let g = 0; g < width / w.length; g++) {
            const base = a * c + offset + g * w.length;
            let ss = 0;
            for (let i = 0; i < w.length; i++) ss += x[base + i]! ** 2;
            const r = 1 / Math.sqrt(ss / w.length + eps);
            for (let i = 0; i < w.length; i++) y[base + i] = x[base + i]! * r * w[i]!;
          }
        }
        return y;
      };
      const wRowT = backend.createTensor({ dtype: 'f32', shape: [c] }, wRow);
      const wHeadT = backend.createTensor({ dtype: 'f32', shape: [8] }, wHead);
      // out-of-place, whole row
      const xT = backend.createTensor({ dtype: 'f32', shape: [n, c] }, x);
      const outT = backend.createTensor({ dtype: 'f32', shape: [n, c] }, x);
      await run(backend, [{ op: 'rmsnorm', x: xT, weight: wRowT, out: outT, eps }]);
      let err = relError(await readF32(backend, outT), ref(wRow, 0, c));
      assert(err < 1e-6, `rmsnorm row: rel err ${err}`);
      // in place, heads of 8 on columns 16..80
      await run(backend, [{ op: 'rmsnorm', x: xT, weight: wHeadT, out: xT, eps, offset: 16, width: 64 }]);
      const got = await readF32(backend, xT);
      err = relError(got, ref(wHead, 16, 64));
      assert(err < 1e-6, `rmsnorm heads: rel err ${err}`);
      for (const t of [wRowT, wHeadT, xT, outT]) backend.free(t);
    },
  },
  {
    name: 'rope: rotate_half on a head range, plain, linear and llama3 scaling',
    async run(backend) {
      const [n, hd, heads, first, numHeads] = [6, 16, 6, 2, 3];
      const c = heads * hd;
      const positions = Int32Array.from([0, 1, 7, 100, 4095, 20000]);
      const scalings = [
        undefined,
        { type: 'linear' as const, factor: 4 },
        { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
      ];
      for (const scaling of scalings) {
        const x = randomF32(rng(51), n * c);
        const xT = backend.createTensor({ dtype: 'f32', shape: [n, c] }, x);
        const pT = backend.createTensor({ dtype: 'i32', shape: [n] }, positions);
        await run(backend, [{ op: 'rope', x: xT, positions: pT, firstHead: first, numHeads, headDim: hd, theta: 10000, scaling }]);
        const got = await readF32(backend, xT);
        const inv = ropeInverseFrequencies(hd, 10000, scaling);
        const want = Float64Array.from(x);
        for (let a = 0; a < n; a++) {
          for (let h = first; h < first + numHeads; h++) {
            for (let i = 0; i < hd / 2; i++) {
              const ang = Math.fround(positions[a]! * inv[i]!);
              const base = a * c + h * hd;
              const x1 = x[base + i]!;
              const x2 = x[base + i + hd / 2]!;
              want[base + i] = x1 * Math.cos(ang) - x2 * Math.sin(ang);
              want[base + i + hd / 2] = x2 * Math.cos(ang) + x1 * Math.sin(ang);
            }
          }
        }
        const diff = maxAbsDiff(got, want);
        assert(diff < 2e-5, `rope ${scaling?.type ?? 'plain'}: max abs diff ${diff}`);
        backend.free(xT);
        backend.free(pT);
      }
    },
  },
  {
    name: 'kvAppend: paged slots for f32 (exact) and bf16 (round to nearest even) caches, negative slot skipped',
    async run(backend) {
      const [n, hkv, hd, blocks, bs] = [4, 2, 8, 3, 4];
      const c = 3 * hkv * hd + 5;
      const qkv = randomF32(rng(61), n * c);
      const slots = Int32Array.from([5, -1, 0, 11]);
      const [kOffset, vOffset] = [hkv * hd + 3, 2 * hkv * hd + 5];
      for (const dtype of ['f32', 'bf16'] as const) {
        const count = blocks * bs * hkv * hd;
        const init = dtype === 'f32' ? new Float32Array(count).fill(7) : new Uint16Array(count).fill(0x40e0);
        const kc = backend.createTensor({ dtype, shape: [blocks, bs, hkv, hd] }, init);
        const vc = backend.createTensor({ dtype, shape: [blocks, bs, hkv, hd] }, init);
        const qT = backend.createTensor({ dtype: 'f32', shape: [n, c] }, qkv);
        const sT = backend.createTensor({ dtype: 'i32', shape: [n] }, slots);
        await run(backend, [{ op: 'kvAppend', qkv: qT, kOffset, vOffset, kCache: kc, vCache: vc, slots: sT }]);
        for (const [t, off] of [
          [kc, kOffset],
          [vc, vOffset],
        ] as const) {
          const got = await backend.readTensor(t);
          const want = dtype === 'f32' ? new Float32Array(count).fill(7) : new Uint16Array(count).fill(0x40e0);
          slots.forEach((slot, a) => {
            if (slot < 0) return;
            for (let e = 0; e < hkv * hd; e++) {
              const v = qkv[a * c + off + e]!;
              want[slot * hkv * hd + e] = dtype === 'f32' ? v : f32ToBf16(v);
            }
          });
          assertBitsEqual(got as ArrayLike<number>, want, `kvAppend ${dtype}`);
        }
        for (const t of [kc, vc, qT, sT]) backend.free(t);
      }
    },
  },
  {
    name: 'attention: paged GQA decode and causal prefill, f32 and bf16 caches, unowned rows untouched',
    async run(backend) {
      const [h, hkv, hd, blocks, bs, maxBlocks] = [4, 2, 16, 12, 4, 5];
      const r = rng(71);
      // Sequence 0: 3 query rows (prefill), 9 tokens cached; sequence 1: 1 query row (decode), 14
      // tokens; row 4 is padding owned by no sequence.
      const queryStarts = Int32Array.from([0, 3, 4]);
      const contextLens = Int32Array.from([9, 14]);
      const blockTables = Int32Array.from([7, 2, 9, 0, 0, 1, 4, 11, 3, 0]);
      const n = 5;
      const c = (h + 2 * hkv) * hd;
      const qkv = randomF32(r, n * c);
      const kcF = randomF32(r, blocks * bs * hkv * hd);
      const vcF = randomF32(r, blocks * bs * hkv * hd);
      const scale = 1 / Math.sqrt(hd);
      for (const dtype of ['f32', 'bf16'] as const) {
        const toCache = (a: Float32Array) => (dtype === 'f32' ? a : Uint16Array.from(a, (v) => f32ToBf16(v)));
        const cacheVal = (a: Float32Array, i: number) => (dtype === 'f32' ? a[i]! : bf16ToF32(f32ToBf16(a[i]!)));
        const kc = backend.createTensor({ dtype, shape: [blocks, bs, hkv, hd] }, toCache(kcF));
        const vc = backend.createTensor({ dtype, shape: [blocks, bs, hkv, hd] }, toCache(vcF));
        const qT = backend.createTensor({ dtype: 'f32', shape: [n, c] }, qkv);
        const bt = backend.createTensor({ dtype: 'i32', shape: [2, maxBlocks] }, blockTables);
        const cl = backend.createTensor({ dtype: 'i32', shape: [2] }, contextLens);
        const qs = backend.createTensor({ dtype: 'i32', shape: [3] }, queryStarts);
        const out = backend.createTensor({ dtype: 'f32', shape: [n, h * hd] }, new Float32Array(n * h * hd).fill(42));
        await run(backend, [
          { op: 'attention', qkv: qT, qOffset: 0, kCache: kc, vCache: vc, blockTables: bt, contextLens: cl, queryStarts: qs, out, numHeads: h, numKvHeads: hkv, headDim: hd, scale },
        ]);
        const got = await readF32(backend, out);
        const want = new Float64Array(n * h * hd).fill(42);
        for (let s = 0; s < 2; s++) {
          const nq = queryStarts[s + 1]! - queryStarts[s]!;
          for (let i = 0; i < nq; i++) {
            const row = queryStarts[s]! + i;
            const pos = contextLens[s]! - nq + i;
            for (let head = 0; head < h; head++) {
              const kvh = Math.floor(head / (h / hkv));
              const scores: number[] = [];
              const bases: number[] = [];
              for (let j = 0; j <= pos; j++) {
                const base = ((blockTables[s * maxBlocks + Math.floor(j / bs)]! * bs + (j % bs)) * hkv + kvh) * hd;
                let dot = 0;
                for (let d = 0; d < hd; d++) dot += qkv[row * c + head * hd + d]! * cacheVal(kcF, base + d);
                scores.push(dot * scale);
                bases.push(base);
              }
              const mx = Math.max(...scores);
              const p = scores.map((v) => Math.exp(v - mx));
              const sum = p.reduce((a, b) => a + b, 0);
              for (let d = 0; d < hd; d++) {
                let acc = 0;
                for (let j = 0; j <= pos; j++) acc += p[j]! * cacheVal(vcF, bases[j]! + d);
                want[row * h * hd + head * hd + d] = acc / sum;
              }
            }
          }
        }
        const err = relError(got, want);
        assert(err < 1e-5, `attention ${dtype}: rel err ${err}`);
        for (let i = 4 * h * hd; i < n * h * hd; i++) assert(got[i] === 42, `attention ${dtype}: unowned row 4 was written`);
        for (const t of [kc, vc, qT, bt, cl, qs, out]) backend.free(t);
      }
    },
  },
  {
    name: 'attention: long context (several key chunks), head_dim 128',
    async run(backend) {
      const [h, hkv, hd, bs] = [2, 1, 128, 16];
      const ctxLen = 150;
      const blocks = Math.ceil(ctxLen / bs);
      const r = rng(72);
      const c = (h + 2 * hkv) * hd;
      const qkv = randomF32(r, c);
      const kcF = randomF32(r, blocks * bs * hkv * hd);
      const vcF = randomF32(r, blocks * bs * hkv * hd);
      const table = Int32Array.from({ length: blocks }, (_, i) => blocks - 1 - i);
      const kc = backend.createTensor({ dtype: 'f32', shape: [blocks, bs, hkv, hd] }, kcF);
      const vc = backend.createTensor({ dtype: 'f32', shape: [blocks, bs, hkv, hd] }, vcF);
      const qT = backend.createTensor({ dtype: 'f32', shape: [1, c] }, qkv);
      const bt = backend.createTensor({ dtype: 'i32', shape: [1, blocks] }, table);
      const cl = backend.createTensor({ dtype: 'i32', shape: [1] }, Int32Array.from([ctxLen]));
      const qs = backend.createTensor({ dtype: 'i32', shape: [2] }, Int32Array.from([0, 1]));
      const out = backend.createTensor({ dtype: 'f32', shape: [1, h * hd] }, poison(h * hd));
      const scale = 1 / Math.sqrt(hd);
      await run(backend, [
        { op: 'attention', qkv: qT, qOffset: 0, kCache: kc, vCache: vc, blockTables: bt, contextLens: cl, queryStarts: qs, out, numHeads: h, numKvHeads: hkv, headDim: hd, scale },
      ]);
      const got = await readF32(backend, out);
      const want = new Float64Array(h * hd);
      for (let head = 0; head < h; head++) {
        const scores: number[] = [];
        const bases: number[] = [];
        for (let j = 0; j < ctxLen; j++) {
          const base = (table[Math.floor(j / bs)]! * bs + (j % bs)) * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qkv[head * hd + d]! * kcF[base + d]!;
          scores.push(dot * scale);
          bases.push(base);
        }
        const mx = Math.max(...scores);
        const p = scores.map((v) => Math.exp(v - mx));
        const sum = p.reduce((a, b) => a + b, 0);
        for (let d = 0; d < hd; d++) want[head * hd + d] = p.reduce((a, pj, j) => a + pj * vcF[bases[j]! + d]!, 0) / sum;
      }
      const err = relError(got, want);
      assert(err < 1e-5, `attention long: rel err ${err}`);
      for (const t of [kc, vc, qT, bt, cl, qs, out]) backend.free(t);
    },
  },
  {
    name: 'siluMul, add (fresh and in place), gatherRows',
    async run(backend) {
      const [n, inner] = [3, 172];
      const x = randomF32(rng(81), n * 2 * inner, 2);
      const xT = backend.createTensor({ dtype: 'f32', shape: [n, 2 * inner] }, x);
      const outT = backend.createTensor({ dtype: 'f32', shape: [n, inner] }, poison(n * inner));
      await run(backend, [{ op: 'siluMul', x: xT, out: outT }]);
      const silu = await readF32(backend, outT);
      const want = new Float64Array(n * inner);
      for (let a = 0; a < n; a++) {
        for (let i = 0; i < inner; i++) {
          const g = x[a * 2 * inner + i]!;
          want[a * inner + i] = (g / (1 + Math.exp(-g))) * x[a * 2 * inner + inner + i]!;
        }
      }
      assert(relError(silu, want) < 1e-6, `siluMul rel err ${relError(silu, want)}`);

      const a = randomF32(rng(82), n * inner);
      const b = randomF32(rng(83), n * inner);
      const aT = backend.createTensor({ dtype: 'f32', shape: [n, inner] }, a);
      const bT = backend.createTensor({ dtype: 'f32', shape: [n, inner] }, b);
      const sumT = backend.createTensor({ dtype: 'f32', shape: [n, inner] }, poison(n * inner));
      await run(backend, [{ op: 'add', a: aT, b: bT, out: sumT }]);
      const sum = Float32Array.from(a, (v, i) => v + b[i]!);
      assertF32BitsEqual(await readF32(backend, sumT), sum, 'add');
      await run(backend, [
        { op: 'add', a: aT, b: bT, out: aT },
        { op: 'add', a: bT, b: aT, out: aT },
        { op: 'add', a: bT, b: bT, out: bT },
      ]);
      const twice = Float32Array.from(sum, (v, i) => b[i]! + v);
      assertF32BitsEqual(await readF32(backend, aT), twice, 'add in place (a = out, then b = out)');
      assertF32BitsEqual(await readF32(backend, bT), Float32Array.from(b, (v) => v + v), 'add with a = b = out');

      const rows = Int32Array.from([2, 0, 2]);
      const rT = backend.createTensor({ dtype: 'i32', shape: [3] }, rows);
      const gT = backend.createTensor({ dtype: 'f32', shape: [3, inner] }, poison(3 * inner));
      await run(backend, [{ op: 'gatherRows', x: outT, rows: rT, out: gT }]);
      const gathered = await readF32(backend, gT);
      const wantG = new Float32Array(3 * inner);
      rows.forEach((row, i) => {
        wantG.set(silu.subarray(row * inner, row * inner + inner), i * inner);
      });
      assertF32BitsEqual(gathered, wantG, 'gatherRows');
      for (const t of [xT, outT, aT, bT, sumT, rT, gT]) backend.free(t);
    },
  },
  {
    name: 'argmax: first maximum on ties, NaN never wins, rows of NaN give 0',
    async run(backend) {
      const v = 1000;
      const rows = 4;
      const x = randomF32(rng(91), rows * v);
      x[0 * v + 10] = 50;
      x[0 * v + 900] = 50; // tie: 10 wins
      x[1 * v + 3] = Number.NaN;
      x[1 * v + 999] = 60;
      x.fill(Number.NaN, 2 * v, 3 * v);
      x.fill(Number.NEGATIVE_INFINITY, 3 * v, 4 * v);
      const xT = backend.createTensor({ dtype: 'f32', shape: [rows, v] }, x);
      const outT = backend.createTensor({ dtype: 'i32', shape: [rows] }, Int32Array.from([-7, -7, -7, -7]));
      await run(backend, [{ op: 'argmax', x: xT, out: outT }]);
      assertBitsEqual((await backend.readTensor(outT)) as Int32Array, [10, 999, 0, 0], 'argmax');
      backend.free(xT);
      backend.free(outT);
    },
  },
  {
    name: 'writeTensor at unaligned byte offsets of u8 and bf16 tensors; compiled graph re-run sees new inputs',
    async run(backend) {
      const u8 = backend.createTensor({ dtype: 'u8', shape: [11] }, Uint8Array.from({ length: 11 }, (_, i) => i));
      backend.writeTensor(u8, Uint8Array.from([200, 201, 202]), 3);
      backend.writeTensor(u8, Uint8Array.from([250]), 10);
      assertBitsEqual((await backend.readTensor(u8)) as Uint8Array, [0, 1, 2, 200, 201, 202, 6, 7, 8, 9, 250], 'u8 patch');
      const b16 = backend.createTensor({ dtype: 'bf16', shape: [5] });
      backend.writeTensor(b16, Uint16Array.from([0x3f80]), 2);
      assertBitsEqual((await backend.readTensor(b16)) as Uint16Array, [0, 0x3f80, 0, 0, 0].map((_, i) => (i === 1 ? 0x3f80 : 0)), 'bf16 patch');
      backend.free(u8);
      backend.free(b16);

      const a = backend.createTensor({ dtype: 'f32', shape: [4] }, Float32Array.from([1, 2, 3, 4]));
      const b = backend.createTensor({ dtype: 'f32', shape: [4] }, Float32Array.from([10, 20, 30, 40]));
      const out = backend.createTensor({ dtype: 'f32', shape: [4] });
      const g = backend.compileGraph({ nodes: [{ op: 'add', a, b, out }] });
      await g.run();
      assertBitsEqual(await readF32(backend, out), [11, 22, 33, 44], 'first run');
      backend.writeTensor(a, Float32Array.from([5, 5]), 8);
      await g.run();
      assertBitsEqual(await readF32(backend, out), [11, 22, 35, 45], 'second run after writeTensor');
      g.dispose();
      for (const t of [a, b, out]) backend.free(t);
    },
  },
  {
    name: 'errors: freed handles, foreign handles and bad graphs are refused with clear messages',
    async run(backend) {
      const expectThrow = async (f: () => unknown, pattern: RegExp) => {
        try {
          await f();
        } catch (err) {
          assert(pattern.test((err as Error).message), `message '${(err as Error).message}' does not match ${pattern}`);
          return;
        }
        throw new Error(`expected an error matching ${pattern}`);
      };
      const x = backend.createTensor({ dtype: 'f32', shape: [2, 64] });
      const out = backend.createTensor({ dtype: 'f32', shape: [2, 8] });
      const w = await backend.uploadWeight({ storage: 'raw', rows: 8, cols: 64, data: new Uint16Array(512) });
      const g = backend.compileGraph({ nodes: [{ op: 'matmul', x, weight: w, out }] });
      await expectThrow(() => backend.compileGraph({ nodes: [{ op: 'matmul', x, weight: w, out, path: 'zipgemm' }] }), /graph node 0 \(matmul\).*tca-tbe/);
      await expectThrow(() => backend.compileGraph({ nodes: [{ op: 'siluMul', x, out }] }), /graph node 0 \(siluMul\)/);
      const foreign = { kind: 'tensor', id: x.id, dtype: 'f32', shape: [2, 64], byteLength: 512 } as const;
      await expectThrow(() => backend.readTensor(foreign), /not a tensor of this WebGPU backend/);
      backend.free(x);
      await expectThrow(() => backend.readTensor(x), /not a tensor of this WebGPU backend|freed/);
      await expectThrow(() => g.run(), /freed/);
      await expectThrow(
        () => backend.uploadWeight({ storage: 'raw', rows: 8, cols: 64, data: new Uint16Array(10) }),
        /raw weight 8x64 needs 512 BF16 values/,
      );
      g.dispose();
      backend.free(out);
      backend.free(w);
    },
  },
];

/** Run on a backend created with a small maxBindingBytes, so weights are cut into several parts. */
export const splitCases: KernelCase[] = [
  {
    name: 'weights cut into several parts (tile-row ranges): matmul, decompress and embedding agree with one part',
    async run(backend) {
      const [n, k, m] = [3, 200, 300];
      const limit = backend.gpu.limits.maxStorageBufferBindingSize;
      assert(limit <= 64 * 1024, `this case needs a backend created with maxBindingBytes <= 64 KiB, got ${limit}`);
      const s = await matmulSetup(backend, 101, n, k, m);
      assert(backend.weightRecord(s.zip, 'zip').parts.length >= 2, 'tca-tbe weight was not split');
      assert(backend.weightRecord(s.raw, 'raw').parts.length >= 2, 'raw weight was not split');
      const ref = matmulRef(s.x, s.w, n, k, m);
      const zip = await matmulOut(backend, s, n, k, m, 'zipgemm');
      const dense = await matmulOut(backend, s, n, k, m, 'dense');
      const dv = await matmulOut(backend, s, n, k, m, 'decompress+vendor');
      assert(relError(zip, ref) < 1e-5, `split zipgemm rel err ${relError(zip, ref)}`);
      assertF32BitsEqual(zip, dense, 'split zipgemm vs dense');
      assertF32BitsEqual(dv, dense, 'split decompress+vendor vs dense');
      for (const w of [s.zip, s.raw]) {
        const out = backend.createTensor({ dtype: 'bf16', shape: [m, k] });
        await run(backend, [{ op: 'decompress', weight: w, out }]);
        assertBitsEqual((await backend.readTensor(out)) as Uint16Array, s.w, `split decompress ${w.storage}`);
        const ids = Int32Array.from([299, 0, 128, 64, 255]);
        const idT = backend.createTensor({ dtype: 'i32', shape: [ids.length] }, ids);
        const emb = backend.createTensor({ dtype: 'f32', shape: [ids.length, k] }, poison(ids.length * k));
        await run(backend, [{ op: 'embedding', ids: idT, table: w, out: emb }]);
        const want = new Float32Array(ids.length * k);
        ids.forEach((id, i) => {
          for (let c = 0; c < k; c++) want[i * k + c] = bf16ToF32(s.w[id * k + c]!);
        });
        assertF32BitsEqual(await readF32(backend, emb), want, `split embedding ${w.storage}`);
        for (const t of [out, idT, emb]) backend.free(t);
      }
      backend.free(s.zip);
      backend.free(s.raw);
    },
  },
];

kernelCases.push({
  name: 'timeGraph: medians from timestamp queries (or wall clock) are positive and finite',
  async run(backend) {
    const x = backend.createTensor({ dtype: 'f32', shape: [4, 256] }, randomF32(rng(5), 1024));
    const w = await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeForTest(randomBf16(rng(6), 128 * 256), 128, 256) });
    const out = backend.createTensor({ dtype: 'f32', shape: [4, 128] });
    const g = backend.compileGraph({ nodes: [{ op: 'matmul', x, weight: w, out }] });
    const t = await backend.timeGraph(g, { warmup: 1, iterations: 3 });
    assert(t.samplesMs.length === 3, `got ${t.samplesMs.length} samples`);
    assert(t.samplesMs.every((s) => Number.isFinite(s) && s >= 0) && t.medianMs > 0, `bad samples ${t.samplesMs.join(', ')}`);
    g.dispose();
    backend.free(x);
    backend.free(out);
    backend.free(w);
  },
});
