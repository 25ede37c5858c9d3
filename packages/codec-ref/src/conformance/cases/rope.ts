// rope: HF rotate_half on the q heads and the k heads of a packed q|k|v row (v untouched), default,
// llama3 and linear frequency scaling, positions up to 131071; and rope followed by kvAppend of the same
// rows, the pair a decode step runs (a backend may fuse it: the cache must hold the rotated k).

import type { RopeScaling } from '@zipserv/format';
import { randomF32, randomInts } from '../../reference/random-data.js';
import { checkBits, checkRegion } from '../assertions.js';
import type { CaseContext, ConformanceCase } from '../case.js';

interface RopeSetup {
  label: string;
  heads: number;
  kvHeads: number;
  headDim: number;
  theta: number;
  maxPosition: number;
  scaling?: RopeScaling;
}

async function ropeCheck(ctx: CaseContext, r: RopeSetup): Promise<void> {
  const n = 9;
  const width = (r.heads + 2 * r.kvHeads) * r.headDim;
  const x = randomF32(ctx.rng, n * width);
  const positions = randomInts(ctx.rng, n, 0, r.maxPosition);
  positions[0] = 0;
  positions[1] = r.maxPosition;
  const [got, want] = await ctx.both(async (s) => {
    const xt = s.f32([n, width], x);
    const pos = s.i32([n], positions);
    const common = { op: 'rope' as const, x: xt, positions: pos, headDim: r.headDim, theta: r.theta, ...(r.scaling ? { scaling: r.scaling } : {}) };
    await s.run(
      [
        { ...common, firstHead: 0, numHeads: r.heads },
        { ...common, firstHead: r.heads, numHeads: r.kvHeads },
      ],
      'rope',
    );
    return s.readF32(xt);
  });
  const rotated = (r.heads + r.kvHeads) * r.headDim;
  checkRegion(`${r.label}: q and k heads rotated, v untouched (positions 0..${r.maxPosition})`, got, want, (i) => i % width < rotated, ctx.tolerance.rope);
}

export const ropeCases: ConformanceCase[] = [
  {
    id: 'rope',
    title: 'theta 10000, head dims 8 and 64, positions up to 4095',
    ops: ['rope'],
    async run(ctx) {
      await ropeCheck(ctx, { label: 'hd 8, 8 q / 4 kv heads', heads: 8, kvHeads: 4, headDim: 8, theta: 10000, maxPosition: 4095 });
      await ropeCheck(ctx, { label: 'hd 64, 4 q / 2 kv heads', heads: 4, kvHeads: 2, headDim: 64, theta: 10000, maxPosition: 4095 });
    },
  },
  {
    id: 'rope.llama3',
    title: 'llama3 scaling (Llama 3.1: theta 5e5, factor 8, low 1, high 4, original 8192), hd 64 and 128, positions up to 131071',
    ops: ['rope'],
    async run(ctx) {
      const scaling: RopeScaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
      await ropeCheck(ctx, { label: 'llama3 hd 64', heads: 4, kvHeads: 2, headDim: 64, theta: 500000, maxPosition: 131071, scaling });
      await ropeCheck(ctx, { label: 'llama3 hd 128', heads: 2, kvHeads: 1, headDim: 128, theta: 500000, maxPosition: 131071, scaling });
    },
  },
  {
    id: 'rope.linear',
    title: 'linear scaling (factor 4), hd 16, positions up to 16383',
    ops: ['rope'],
    async run(ctx) {
      await ropeCheck(ctx, { label: 'linear x4 hd 16', heads: 6, kvHeads: 2, headDim: 16, theta: 10000, maxPosition: 16383, scaling: { type: 'linear', factor: 4 } });
    },
  },
  {
    id: 'rope.then-kvAppend',
    title: 'rope on the q and k heads, then kvAppend of the same rows (rotated k, plain v) with padding rows, llama3 scaling, hd 64 and 8',
    ops: ['rope', 'kvAppend'],
    async run(ctx) {
      await ropeThenAppendCheck(ctx, { heads: 4, kvHeads: 2, headDim: 64 });
      await ropeThenAppendCheck(ctx, { heads: 8, kvHeads: 4, headDim: 8 });
    },
  },
];

async function ropeThenAppendCheck(ctx: CaseContext, r: { heads: number; kvHeads: number; headDim: number }): Promise<void> {
  const [n, blocks, blockSize] = [6, 4, 4];
  const width = (r.heads + 2 * r.kvHeads) * r.headDim;
  const kvWidth = r.kvHeads * r.headDim;
  const x = randomF32(ctx.rng, n * width);
  const positions = randomInts(ctx.rng, n, 0, 9000);
  const slots = Int32Array.of(5, 0, -1, 13, 7, -1); // rows 2 and 5 are padding
  const scaling: RopeScaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  const cacheShape = [blocks, blockSize, r.kvHeads, r.headDim];
  const [got, want] = await ctx.both(async (s) => {
    const qkv = s.f32([n, width], x);
    const kCache = s.poisoned('f32', cacheShape);
    const vCache = s.poisoned('f32', cacheShape);
    const kOffset = r.heads * r.headDim;
    await s.run(
      [
        { op: 'rope', x: qkv, positions: s.i32([n], positions), firstHead: 0, numHeads: r.heads + r.kvHeads, headDim: r.headDim, theta: 500000, scaling },
        { op: 'kvAppend', qkv, kOffset, vOffset: kOffset + kvWidth, kCache, vCache, slots: s.i32([n], slots) },
      ],
      'rope then kvAppend',
    );
    return [await s.readF32(qkv), await s.readF32(kCache), await s.readF32(vCache)];
  });
  const written = new Set(Array.from(slots).filter((slot) => slot >= 0));
  const inSlot = (i: number) => written.has(Math.floor(i / kvWidth));
  const label = `hd ${r.headDim}, ${r.heads} q / ${r.kvHeads} kv heads`;
  checkRegion(`${label}: rows rotated in place`, got[0]!, want[0]!, () => true, ctx.tolerance.rope);
  checkRegion(`${label}: k cache holds the rotated k in the written slots, others untouched`, got[1]!, want[1]!, inSlot, ctx.tolerance.rope);
  checkBits(`${label}: v cache holds v unchanged in the written slots, others untouched`, got[2]!, want[2]!);
}
