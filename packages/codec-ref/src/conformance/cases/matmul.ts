// matmul: every declared weight path against the float64 product, ragged shapes and token counts,
// windows at the edges of the exponent range, zipgemm == dense bit for bit, and the epilogue
// (packed outputs via outOffset, bias, accumulate).

import type { DeviceWeight, WeightPath } from '@zipserv/format';
import { encodeMatrix } from '../../codec/index.js';
import { referenceGemm } from '../../reference/gemm.js';
import { randomBf16Exponents, randomBf16Normal, randomBf16WithOutliers, randomF32 } from '../../reference/random-data.js';
import { check, checkBits, checkClose, checkRegion } from '../assertions.js';
import { type CaseContext, type ConformanceCase, type MatmulPath, storageOf, weightSource } from '../case.js';
import type { Session } from '../session.js';

const SHAPES: readonly [m: number, k: number][] = [
  [172, 64], // FFN gate/up of the fixture
  [64, 172], // its down projection
  [32, 64], // k/v projection
  [512, 64], // LM head / tied embedding
  [96, 200], // ragged in both directions
];
const TOKEN_COUNTS = [1, 3, 17, 64] as const;
/** Prefill-sized token counts, where a backend's 'auto' may switch to decompress+vendor. */
const LARGE_TOKEN_COUNTS = [300] as const;

interface Product {
  bits: Uint16Array; // [M, K] bf16
  m: number;
  k: number;
  x: Float32Array; // [N, K] f32
  n: number;
}

/** y = x W^T on the backend under test through `path`, into a poisoned [N, M] output. */
async function runMatmul(s: Session, path: WeightPath, weight: DeviceWeight, p: Product): Promise<Float32Array> {
  const out = s.poisoned('f32', [p.n, p.m]);
  await s.run([{ op: 'matmul', x: s.f32([p.n, p.k], p.x), weight, out, path }], `matmul ${path}`);
  return s.readF32(out);
}

/** Checks y against float64 with the backend's input precision, and against unrounded x. */
function checkProduct(ctx: CaseContext, what: string, got: Float32Array, p: Product): void {
  const bf16Input = ctx.backend.capabilities.matmulInputPrecision === 'bf16';
  checkClose(`${what}: vs float64 of the inputs the backend multiplies`, got, referenceGemm(p.x, p.bits, p.n, p.k, p.m, { roundInputToBf16: bf16Input }), ctx.tolerance.matmul);
  if (bf16Input) checkClose(`${what}: vs float64 of the unrounded f32 x`, got, referenceGemm(p.x, p.bits, p.n, p.k, p.m), ctx.tolerance.matmulExact);
}

async function checkPath(ctx: CaseContext, path: WeightPath, p: Product, storage: 'raw' | 'tca-tbe', label: string): Promise<void> {
  const source = weightSource(p.bits, p.m, p.k, storage);
  const got = await ctx.onBackend(async (s) => runMatmul(s, path, await s.weight(source), p));
  checkProduct(ctx, `${label} path ${path} (${storage}) M=${p.m} K=${p.k} N=${p.n}`, got, p);
}

function pathCase(path: WeightPath): ConformanceCase {
  return {
    id: `matmul.${path}`,
    title: `path '${path}' vs float64 on M x K in {172x64, 64x172, 32x64, 512x64, 96x200}, N in {1, 3, 17, 64${path === 'auto' ? ', 300' : ''}}`,
    ops: ['matmul'],
    paths: path === 'auto' ? [] : [path],
    async run(ctx) {
      for (const [m, k] of SHAPES) {
        for (const n of path === 'auto' ? [...TOKEN_COUNTS, ...LARGE_TOKEN_COUNTS] : TOKEN_COUNTS) {
          const p = { bits: randomBf16Normal(ctx.rng, m * k, 0.02), m, k, x: randomF32(ctx.rng, n * k), n };
          if (path === 'auto') {
            await checkPath(ctx, path, p, 'tca-tbe', 'N(0, 0.02)');
            await checkPath(ctx, path, p, 'raw', 'N(0, 0.02)');
          } else {
            await checkPath(ctx, path, p, storageOf(path), 'N(0, 0.02)');
          }
        }
      }
    },
  };
}

/** Weights whose window sits at exponent 0, at the top, or which are 40% outliers; x scaled to keep products normal. */
function edgeProducts(ctx: CaseContext): { label: string; p: Product; expBase?: number }[] {
  const n = 3;
  return [
    { label: 'expBase 0 (exponents 1..6, 30% zeros), x * 2^100', p: { bits: randomBf16Exponents(ctx.rng, 100 * 70, 1, 6, 0.3), m: 100, k: 70, x: randomF32(ctx.rng, n * 70, 2 ** 100), n }, expBase: 0 },
    { label: 'top window (exponents 240..248), x * 2^-100', p: { bits: randomBf16Exponents(ctx.rng, 64 * 96, 240, 248), m: 64, k: 96, x: randomF32(ctx.rng, n * 96, 2 ** -100), n } },
    { label: '40% outliers', p: { bits: randomBf16WithOutliers(ctx.rng, 130 * 64, 0.02, 0.4), m: 130, k: 64, x: randomF32(ctx.rng, n * 64), n } },
  ];
}

const declaredPaths = (ctx: CaseContext): MatmulPath[] => [...ctx.backend.capabilities.weightPaths];

export const matmulCases: ConformanceCase[] = [
  pathCase('zipgemm'),
  pathCase('dense'),
  pathCase('vendor'),
  pathCase('decompress+vendor'),
  pathCase('auto'),
  {
    id: 'matmul.window-edges',
    title: 'every declared path on weights with expBase 0, a top window, and 40% outliers',
    ops: ['matmul'],
    async run(ctx) {
      for (const { label, p, expBase } of edgeProducts(ctx)) {
        if (expBase !== undefined) check(encodeMatrix(p.bits, p.m, p.k).expBase === expBase, `test data for '${label}' did not give expBase ${expBase}`);
        for (const path of [...declaredPaths(ctx), 'auto' as const]) await checkPath(ctx, path, p, storageOf(path), label);
      }
    },
  },
  {
    id: 'matmul.zipgemm-equals-dense',
    title: 'zipgemm and dense give bit-identical outputs (ragged shapes, N in {1, 3, 17, 64}, edge windows)',
    ops: ['matmul'],
    paths: ['zipgemm', 'dense'],
    async run(ctx) {
      const products: { label: string; p: Product }[] = edgeProducts(ctx);
      for (const [m, k] of SHAPES) {
        for (const n of TOKEN_COUNTS) products.push({ label: 'N(0, 0.02)', p: { bits: randomBf16Normal(ctx.rng, m * k), m, k, x: randomF32(ctx.rng, n * k), n } });
      }
      for (const { label, p } of products) {
        const [zip, dense] = await ctx.onBackend(async (s) => [
          await runMatmul(s, 'zipgemm', await s.weight(weightSource(p.bits, p.m, p.k, 'tca-tbe')), p),
          await runMatmul(s, 'dense', await s.weight(weightSource(p.bits, p.m, p.k, 'raw')), p),
        ]);
        checkBits(`${label} M=${p.m} K=${p.k} N=${p.n}: zipgemm vs dense`, zip, dense);
      }
    },
  },
  {
    id: 'matmul.epilogue',
    title: 'packed q|k|v via outOffset, bias, and accumulate into a residual, on every declared path',
    ops: ['matmul'],
    async run(ctx) {
      const [n, k] = [5, 64];
      const parts = [
        { m: 64, offset: 0, bias: false }, // q
        { m: 32, offset: 64, bias: true }, // k (Qwen2-style bias)
        { m: 32, offset: 96, bias: true }, // v
      ];
      const width = 128;
      for (const path of [...declaredPaths(ctx), 'auto' as const]) {
        const storage = storageOf(path);
        const x = randomF32(ctx.rng, n * k);
        const weights = parts.map((part) => randomBf16Normal(ctx.rng, part.m * k));
        const biases = parts.map((part) => randomF32(ctx.rng, part.m));
        const oBits = randomBf16Normal(ctx.rng, 48 * k);
        const residual = randomF32(ctx.rng, n * 80); // [N, 80]; o_proj adds into columns 16..63
        const [packed, added] = await ctx.onBackend(async (s) => {
          const xt = s.f32([n, k], x);
          const out = s.poisoned('f32', [n, width]);
          const nodes = [];
          for (let i = 0; i < parts.length; i++) {
            const part = parts[i]!;
            const weight = await s.weight(weightSource(weights[i]!, part.m, k, storage));
            nodes.push({ op: 'matmul' as const, x: xt, weight, out, outOffset: part.offset, path, ...(part.bias ? { bias: s.f32([part.m], biases[i]!) } : {}) });
          }
          const res = s.f32([n, 80], residual);
          nodes.push({ op: 'matmul' as const, x: xt, weight: await s.weight(weightSource(oBits, 48, k, storage)), out: res, outOffset: 16, accumulate: true, path });
          await s.run(nodes, `epilogue ${path}`);
          return [await s.readF32(out), await s.readF32(res)];
        });
        const bf16Input = ctx.backend.capabilities.matmulInputPrecision === 'bf16';
        const wantPacked = new Float64Array(n * width);
        parts.forEach((part, i) => {
          const y = referenceGemm(x, weights[i]!, n, k, part.m, { roundInputToBf16: bf16Input });
          for (let r = 0; r < n; r++) for (let c = 0; c < part.m; c++) wantPacked[r * width + part.offset + c] = y[r * part.m + c]! + (part.bias ? biases[i]![c]! : 0);
        });
        checkClose(`path ${path}: q|k|v packed by outOffset with bias`, packed, wantPacked, ctx.tolerance.matmul);
        const y = referenceGemm(x, oBits, n, k, 48, { roundInputToBf16: bf16Input });
        const wantAdded = Float32Array.from(residual);
        const inside = (i: number) => i % 80 >= 16 && i % 80 < 64;
        const wantAdded64 = Array.from(wantAdded, (v, i) => (inside(i) ? v + y[Math.floor(i / 80) * 48 + (i % 80) - 16]! : v));
        checkRegion(`path ${path}: accumulate into columns 16..63 of a residual`, added, Float32Array.from(wantAdded64), inside, ctx.tolerance.matmul);
      }
    },
  },
];
