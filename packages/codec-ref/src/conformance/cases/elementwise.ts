// siluMul, add, gatherRows and argmax.

import { randomF32, randomInts } from '../../reference/random-data.js';
import { checkBits, checkClose } from '../assertions.js';
import type { ConformanceCase } from '../case.js';

export const elementwiseCases: ConformanceCase[] = [
  {
    id: 'siluMul',
    title: 'silu(gate) * up on [7, 2 x 172], with saturating gates (+-90)',
    ops: ['siluMul'],
    async run(ctx) {
      const [n, inter] = [7, 172];
      const x = randomF32(ctx.rng, n * 2 * inter, 2);
      for (let i = 0; i < inter; i += 17) {
        x[i] = 90; // e^-90 underflows to 0: silu = 90
        x[2 * inter + i] = -90; // e^90 overflows f32: silu -> -0, never NaN
      }
      const [got, want] = await ctx.both(async (s) => {
        const out = s.poisoned('f32', [n, inter]);
        await s.run([{ op: 'siluMul', x: s.f32([n, 2 * inter], x), out }], 'siluMul');
        return s.readF32(out);
      });
      checkClose('siluMul [7, 172]', got, want, ctx.tolerance.siluMul);
    },
  },
  {
    id: 'add',
    title: 'out = a + b on [5, 64] and rank 3, out of place and in place (out aliases a)',
    ops: ['add'],
    async run(ctx) {
      for (const shape of [[5, 64], [2, 3, 7]]) {
        const count = shape.reduce((p, d) => p * d, 1);
        const a = randomF32(ctx.rng, count);
        const b = randomF32(ctx.rng, count);
        const [got, want] = await ctx.both(async (s) => {
          const at = s.f32(shape, a);
          const bt = s.f32(shape, b);
          const out = s.poisoned('f32', shape);
          await s.run(
            [
              { op: 'add', a: at, b: bt, out },
              { op: 'add', a: at, b: bt, out: at }, // in place: a += b
            ],
            'add',
          );
          return [await s.readF32(out), await s.readF32(at)];
        });
        checkClose(`add [${shape.join(', ')}] out of place`, got[0]!, want[0]!, ctx.tolerance.add);
        checkClose(`add [${shape.join(', ')}] in place`, got[1]!, want[1]!, ctx.tolerance.add);
      }
    },
  },
  {
    id: 'gatherRows',
    title: 'rows picked in any order with repeats, bit for bit',
    ops: ['gatherRows'],
    async run(ctx) {
      const [n, d] = [9, 72];
      const x = randomF32(ctx.rng, n * d);
      const rows = Int32Array.of(8, 0, 8, ...randomInts(ctx.rng, 3, 0, n - 1));
      const [got, want] = await ctx.both(async (s) => {
        const out = s.poisoned('f32', [rows.length, d]);
        await s.run([{ op: 'gatherRows', x: s.f32([n, d], x), rows: s.i32([rows.length], rows), out }], 'gatherRows');
        return s.readF32(out);
      });
      checkBits(`gatherRows [${n}, ${d}] rows ${Array.from(rows).join(',')}`, got, want);
    },
  },
  {
    id: 'argmax',
    title: 'first index on ties, NaN never wins, -Infinity rows, V in {1, 512, 1000}',
    ops: ['argmax'],
    async run(ctx) {
      for (const v of [512, 1000, 1]) {
        const r = 6;
        const x = randomF32(ctx.rng, r * v);
        if (v > 1) {
          // Row 1: the maximum appears twice; the first must win.
          x[v + Math.floor(v / 3)] = 50;
          x[v + v - 2] = 50;
          // Row 2: NaNs everywhere around a clear maximum, including at index 0.
          for (let i = 0; i < v; i += 7) x[2 * v + i] = Number.NaN;
          x[2 * v + v - 1] = 40;
          // Row 3: all -Infinity but one -Infinity tie.
          x.fill(Number.NEGATIVE_INFINITY, 3 * v, 4 * v);
          // Row 4: +Infinity ties.
          x[4 * v + 5] = Number.POSITIVE_INFINITY;
          x[4 * v + v - 1] = Number.POSITIVE_INFINITY;
        }
        const [got, want] = await ctx.both(async (s) => {
          const out = s.poisoned('i32', [r]);
          await s.run([{ op: 'argmax', x: s.f32([r, v], x), out }], 'argmax');
          return s.read(out);
        });
        checkBits(`argmax [${r}, ${v}]`, got, want);
      }
    },
  },
];
