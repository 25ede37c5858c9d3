// decompress: the weight's BF16 bits, bit for bit, for ragged shapes, every bit pattern, and
// windows at the edges of the exponent range.

import { allBf16Patterns, randomBf16Bits, randomBf16Exponents, randomBf16WithOutliers } from '../../reference/random-data.js';
import { checkBits } from '../assertions.js';
import { type CaseContext, type ConformanceCase, weightSource } from '../case.js';

async function decompressCheck(ctx: CaseContext, what: string, bits: Uint16Array, rows: number, cols: number): Promise<void> {
  const source = weightSource(bits, rows, cols, 'tca-tbe');
  const [got] = await ctx.both(async (s) => {
    const weight = await s.weight(source);
    const out = s.poisoned('bf16', [rows, cols]);
    await s.run([{ op: 'decompress', weight, out }], 'decompress');
    return s.read(out);
  });
  checkBits(`${what} [${rows}, ${cols}]`, got, bits);
}

export const decompressCases: ConformanceCase[] = [
  {
    id: 'decompress.ragged',
    title: 'bit-exact on ragged shapes (172x64, 64x172, 32x64, 1x1, 65x130, 512x64)',
    ops: ['decompress'],
    async run(ctx) {
      for (const [rows, cols] of [
        [172, 64],
        [64, 172],
        [32, 64],
        [1, 1],
        [65, 130],
        [512, 64],
      ] as const) {
        await decompressCheck(ctx, 'N(0, 0.02) with 3% outliers', randomBf16WithOutliers(ctx.rng, rows * cols, 0.02, 0.03), rows, cols);
      }
    },
  },
  {
    id: 'decompress.all-bit-patterns',
    title: 'bit-exact on all 65,536 BF16 patterns (NaN payloads, infinities, subnormals, -0)',
    ops: ['decompress'],
    async run(ctx) {
      await decompressCheck(ctx, 'every bit pattern once', allBf16Patterns(ctx.rng), 256, 256);
    },
  },
  {
    id: 'decompress.window-edges',
    title: 'bit-exact with expBase 0, a window at the top of the exponent range, and 40% outliers',
    ops: ['decompress'],
    async run(ctx) {
      await decompressCheck(ctx, 'expBase 0 (exponents 1..6, 30% zeros)', randomBf16Exponents(ctx.rng, 100 * 70, 1, 6, 0.3), 100, 70);
      await decompressCheck(ctx, 'top window (exponents 246..255)', randomBf16Exponents(ctx.rng, 64 * 96, 246, 255), 64, 96);
      await decompressCheck(ctx, '40% outliers', randomBf16WithOutliers(ctx.rng, 130 * 64, 0.02, 0.4), 130, 64);
      await decompressCheck(ctx, 'uniform random bits', randomBf16Bits(ctx.rng, 70 * 200), 70, 200);
    },
  },
];
