// kvAppend and attention over a paged KV cache: scattered slots and padding rows, f32 and BF16
// caches, decode (one query row per sequence) and prefill (causal, chunked, mixed with decode),
// GQA/MQA, blocks handed out in shuffled order from a shared pool.

import type { Rng } from '../../reference/prng.js';
import { randomBf16Normal, randomF32 } from '../../reference/random-data.js';
import { checkBits, checkRegion } from '../assertions.js';
import type { CaseContext, ConformanceCase } from '../case.js';

function shuffled(rng: Rng, count: number): number[] {
  const a = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function kvAppendCheck(ctx: CaseContext, dtype: 'f32' | 'bf16'): Promise<void> {
  const [n, heads, kvHeads, hd, blocks, blockSize] = [7, 8, 4, 8, 6, 4];
  const width = (heads + 2 * kvHeads) * hd;
  const qkv = randomF32(ctx.rng, n * width);
  // Distinct scattered slots; row 4 and the last row are padding (-1).
  const slots = Int32Array.from(shuffled(ctx.rng, blocks * blockSize).slice(0, n));
  slots[4] = -1;
  slots[n - 1] = -1;
  const cacheShape = [blocks, blockSize, kvHeads, hd];
  const [got, want] = await ctx.both(async (s) => {
    const kCache = s.poisoned(dtype, cacheShape);
    const vCache = s.poisoned(dtype, cacheShape);
    await s.run([{ op: 'kvAppend', qkv: s.f32([n, width], qkv), kOffset: heads * hd, vOffset: (heads + kvHeads) * hd, kCache, vCache, slots: s.i32([n], slots) }], 'kvAppend');
    return [await s.read(kCache), await s.read(vCache)];
  });
  checkBits(`kvAppend into a ${dtype} k cache (written slots ${dtype === 'bf16' ? 'round to nearest even' : 'exact'}, others untouched)`, got[0]!, want[0]!);
  checkBits(`kvAppend into a ${dtype} v cache`, got[1]!, want[1]!);
}

interface AttentionSetup {
  label: string;
  heads: number;
  kvHeads: number;
  headDim: number;
  blockSize: number;
  /** Query rows and context length of each sequence. */
  sequences: { queries: number; context: number }[];
  cache: 'f32' | 'bf16';
}

async function attentionCheck(ctx: CaseContext, a: AttentionSetup): Promise<void> {
  const { heads, kvHeads, headDim: hd, blockSize } = a;
  const width = (heads + 2 * kvHeads) * hd;
  const maxBlocks = Math.max(...a.sequences.map((q) => Math.ceil(q.context / blockSize)));
  const blocks = a.sequences.reduce((sum, q) => sum + Math.ceil(q.context / blockSize), 0) + 2; // two spare blocks
  const pool = shuffled(ctx.rng, blocks);
  const blockTables = new Int32Array(a.sequences.length * maxBlocks); // unused entries 0
  const queryStarts = new Int32Array(a.sequences.length + 1);
  queryStarts[0] = 1; // row 0 belongs to no sequence
  a.sequences.forEach((q, s) => {
    for (let b = 0; b < Math.ceil(q.context / blockSize); b++) blockTables[s * maxBlocks + b] = pool.pop()!;
    queryStarts[s + 1] = queryStarts[s]! + q.queries;
  });
  const n = queryStarts[a.sequences.length]! + 1; // and the last row belongs to none
  const contextLens = Int32Array.from(a.sequences, (q) => q.context);
  const qkv = randomF32(ctx.rng, n * width);
  const cacheCount = blocks * blockSize * kvHeads * hd;
  const cacheData = () => (a.cache === 'f32' ? randomF32(ctx.rng, cacheCount) : randomBf16Normal(ctx.rng, cacheCount, 1));
  const kData = cacheData();
  const vData = cacheData();
  const cacheShape = [blocks, blockSize, kvHeads, hd];
  const [got, want] = await ctx.both(async (s) => {
    const out = s.poisoned('f32', [n, heads * hd]);
    await s.run(
      [
        {
          op: 'attention',
          qkv: s.f32([n, width], qkv),
          qOffset: 0,
          kCache: s.tensor(a.cache, cacheShape, kData),
          vCache: s.tensor(a.cache, cacheShape, vData),
          blockTables: s.i32([a.sequences.length, maxBlocks], blockTables),
          contextLens: s.i32([a.sequences.length], contextLens),
          queryStarts: s.i32([a.sequences.length + 1], queryStarts),
          out,
          numHeads: heads,
          numKvHeads: kvHeads,
          headDim: hd,
          scale: 1 / Math.sqrt(hd),
        },
      ],
      'attention',
    );
    return s.readF32(out);
  });
  const owned = (i: number) => {
    const row = Math.floor(i / (heads * hd));
    return row >= queryStarts[0]! && row < queryStarts[a.sequences.length]!;
  };
  const shape = a.sequences.map((q) => `${q.queries}/${q.context}`).join(', ');
  checkRegion(`${a.label} (${a.cache} cache, queries/context per sequence: ${shape}; unowned rows untouched)`, got, want, owned, ctx.tolerance.attention);
}

const decode = (contexts: number[]) => contexts.map((context) => ({ queries: 1, context }));
const mixed = [
  { queries: 5, context: 5 }, // fresh prefill
  { queries: 3, context: 20 }, // chunked prefill continuing a cached prefix
  { queries: 1, context: 9 }, // a decode step in the same batch
  { queries: 16, context: 16 }, // prefill ending on a block boundary
];

export const kvAttentionCases: ConformanceCase[] = [
  { id: 'kvAppend.f32', title: 'scattered slots with padding rows (-1) into an f32 cache, bit-exact', ops: ['kvAppend'], run: (ctx) => kvAppendCheck(ctx, 'f32') },
  { id: 'kvAppend.bf16', title: 'scattered slots into a BF16 cache: round to nearest even, bit-exact', ops: ['kvAppend'], dtypes: ['bf16'], run: (ctx) => kvAppendCheck(ctx, 'bf16') },
  {
    id: 'attention.decode',
    title: 'decode, one query per sequence, contexts 1..70 over a shared shuffled block pool; GQA, MQA, MHA',
    ops: ['attention'],
    async run(ctx) {
      await attentionCheck(ctx, { label: 'GQA 8/4 hd 8', heads: 8, kvHeads: 4, headDim: 8, blockSize: 16, sequences: decode([1, 7, 33, 64, 70]), cache: 'f32' });
      await attentionCheck(ctx, { label: 'MQA 4/1 hd 64', heads: 4, kvHeads: 1, headDim: 64, blockSize: 16, sequences: decode([17, 2, 48]), cache: 'f32' });
      await attentionCheck(ctx, { label: 'MHA 2/2 hd 128', heads: 2, kvHeads: 2, headDim: 128, blockSize: 8, sequences: decode([9, 1]), cache: 'f32' });
    },
  },
  {
    id: 'attention.prefill',
    title: 'causal prefill: fresh, chunked and mixed with decode in one batch; GQA 8/4 hd 8 and 4/2 hd 64',
    ops: ['attention'],
    async run(ctx) {
      await attentionCheck(ctx, { label: 'GQA 8/4 hd 8', heads: 8, kvHeads: 4, headDim: 8, blockSize: 8, sequences: mixed, cache: 'f32' });
      await attentionCheck(ctx, { label: 'GQA 4/2 hd 64', heads: 4, kvHeads: 2, headDim: 64, blockSize: 16, sequences: mixed, cache: 'f32' });
    },
  },
  {
    id: 'attention.long-context',
    title: 'decode over contexts up to 2000 (enough for backends that split a context across blocks and merge: flash decoding), short and long rows in one batch',
    ops: ['attention'],
    async run(ctx) {
      await attentionCheck(ctx, { label: 'GQA 8/2 hd 64', heads: 8, kvHeads: 2, headDim: 64, blockSize: 16, sequences: decode([1, 40, 300, 1000, 777]), cache: 'f32' });
      await attentionCheck(ctx, { label: 'GQA 4/1 hd 128', heads: 4, kvHeads: 1, headDim: 128, blockSize: 32, sequences: decode([2000, 33]), cache: 'f32' });
    },
  },
  {
    id: 'attention.bf16-cache',
    title: 'decode and prefill reading a BF16 cache',
    ops: ['attention'],
    dtypes: ['bf16'],
    async run(ctx) {
      await attentionCheck(ctx, { label: 'GQA 8/4 hd 8', heads: 8, kvHeads: 4, headDim: 8, blockSize: 8, sequences: mixed, cache: 'bf16' });
      await attentionCheck(ctx, { label: 'MQA 4/1 hd 64', heads: 4, kvHeads: 1, headDim: 64, blockSize: 16, sequences: decode([5, 40]), cache: 'bf16' });
    },
  },
];

