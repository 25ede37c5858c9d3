// embedding: rows of a raw or compressed table, widened to f32 bit for bit.

import { allBf16Patterns, randomBf16Normal, randomInts } from '../../reference/random-data.js';
import { checkBits } from '../assertions.js';
import { type CaseContext, type ConformanceCase, weightSource } from '../case.js';

async function embeddingCheck(ctx: CaseContext, storage: 'raw' | 'tca-tbe', bits: Uint16Array, vocab: number, dim: number, ids: Int32Array): Promise<void> {
  const source = weightSource(bits, vocab, dim, storage);
  const [got] = await ctx.both(async (s) => {
    const table = await s.weight(source);
    const out = s.poisoned('f32', [ids.length, dim]);
    await s.run([{ op: 'embedding', ids: s.i32([ids.length], ids), table, out }], 'embedding');
    return s.read(out);
  });
  const want = new Float32Array(ids.length * dim);
  const wantBits = new Uint32Array(want.buffer);
  ids.forEach((id, n) => {
    for (let i = 0; i < dim; i++) wantBits[n * dim + i] = bits[id * dim + i]! << 16;
  });
  checkBits(`embedding from a ${storage} [${vocab}, ${dim}] table, ${ids.length} ids`, got, want);
}

function idsFor(ctx: CaseContext, vocab: number, count: number): Int32Array {
  const ids = randomInts(ctx.rng, count, 0, vocab - 1);
  ids[0] = 0;
  ids[1] = vocab - 1;
  if (count > 3) ids[3] = ids[2]!; // a repeated id
  return ids;
}

function embeddingCase(storage: 'raw' | 'tca-tbe'): ConformanceCase {
  return {
    id: storage === 'raw' ? 'embedding.raw' : 'embedding.tca-tbe',
    title: `rows of a ${storage} table, bit for bit (vocab 512 x 64, ragged 100 x 72, every bit pattern)`,
    ops: ['embedding'],
    async run(ctx) {
      await embeddingCheck(ctx, storage, randomBf16Normal(ctx.rng, 512 * 64, 0.5), 512, 64, idsFor(ctx, 512, 17));
      await embeddingCheck(ctx, storage, randomBf16Normal(ctx.rng, 100 * 72, 0.5), 100, 72, idsFor(ctx, 100, 3));
      await embeddingCheck(ctx, storage, allBf16Patterns(ctx.rng), 256, 256, idsFor(ctx, 256, 9));
    },
  };
}

export const embeddingCases: ConformanceCase[] = [embeddingCase('raw'), embeddingCase('tca-tbe')];
