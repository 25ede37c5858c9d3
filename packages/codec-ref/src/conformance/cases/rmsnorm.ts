// rmsnorm: whole rows, per-head groups in place (Qwen3 q/k norm), and offset/width regions
// (columns outside the region are left as they are).

import { randomF32 } from '../../reference/random-data.js';
import { checkClose, checkRegion } from '../assertions.js';
import type { ConformanceCase } from '../case.js';

export const rmsnormCases: ConformanceCase[] = [
  {
    id: 'rmsnorm',
    title: 'whole rows out of place: [5, 64], [3, 172], rank 1 [64]; eps 1e-5 and 1e-6',
    ops: ['rmsnorm'],
    async run(ctx) {
      for (const [shape, eps] of [
        [[5, 64], 1e-5],
        [[3, 172], 1e-6],
        [[64], 1e-5],
      ] as const) {
        const width = shape[shape.length - 1]!;
        const count = shape.reduce((a: number, b: number) => a * b, 1);
        const x = randomF32(ctx.rng, count, 2);
        const weight = randomF32(ctx.rng, width, 0.1, 1);
        const [got, want] = await ctx.both(async (s) => {
          const out = s.poisoned('f32', shape);
          await s.run([{ op: 'rmsnorm', x: s.f32(shape, x), weight: s.f32([width], weight), out, eps }], 'rmsnorm');
          return s.readF32(out);
        });
        checkClose(`rmsnorm [${shape.join(', ')}] eps ${eps}`, got, want, ctx.tolerance.rmsnorm);
      }
    },
  },
  {
    id: 'rmsnorm.groups',
    title: 'per-head groups in place on q and k heads of a packed q|k|v row; out-of-place region leaves other columns',
    ops: ['rmsnorm'],
    async run(ctx) {
      const [n, heads, kvHeads, hd] = [4, 8, 4, 8];
      const width = (heads + 2 * kvHeads) * hd; // q | k | v
      const qkv = randomF32(ctx.rng, n * width, 3);
      const qNorm = randomF32(ctx.rng, hd, 0.1, 1);
      const kNorm = randomF32(ctx.rng, hd, 0.1, 1);
      const [got, want] = await ctx.both(async (s) => {
        const x = s.f32([n, width], qkv);
        await s.run(
          [
            { op: 'rmsnorm', x, weight: s.f32([hd], qNorm), out: x, eps: 1e-6, offset: 0, width: heads * hd },
            { op: 'rmsnorm', x, weight: s.f32([hd], kNorm), out: x, eps: 1e-6, offset: heads * hd, width: kvHeads * hd },
          ],
          'per-head rmsnorm',
        );
        return s.readF32(x);
      });
      checkRegion('q and k per-head norms in place (v columns untouched)', got, want, (i) => i % width < (heads + kvHeads) * hd, ctx.tolerance.rmsnorm);

      const x2 = randomF32(ctx.rng, 3 * 80);
      const w2 = randomF32(ctx.rng, 16, 0.1, 1);
      const [got2, want2] = await ctx.both(async (s) => {
        const out = s.poisoned('f32', [3, 80]);
        await s.run([{ op: 'rmsnorm', x: s.f32([3, 80], x2), weight: s.f32([16], w2), out, eps: 1e-5, offset: 16, width: 48 }], 'rmsnorm region');
        return s.readF32(out);
      });
      checkRegion('out of place, columns 16..63 in groups of 16', got2, want2, (i) => i % 80 >= 16 && i % 80 < 64, ctx.tolerance.rmsnorm);
    },
  },
];
