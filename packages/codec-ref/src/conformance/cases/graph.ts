// Multi-op graphs: one Llama decoder layer plus LM head over a mixed prefill/decode batch, and a
// graph compiled once and run twice with inputs rewritten in between.

import type { DeviceTensor, DeviceWeight, OpNode } from '@zipserv/format';
import { referenceArgmax } from '../../reference/argmax.js';
import { randomBf16Normal, randomF32, randomInts } from '../../reference/random-data.js';
import { check, checkBits, checkClose } from '../assertions.js';
import { type CaseContext, type ConformanceCase, weightSource } from '../case.js';
import type { Session } from '../session.js';

// The fixture's shapes: dim 64, 8 heads / 4 kv heads of 8, FFN 172, vocab 512.
const [D, H, HKV, HD, I, V] = [64, 8, 4, 8, 172, 512];
const QKV = (H + 2 * HKV) * HD;

/** Checks that each row's index is the argmax of the backend's own logits (near-ties may differ from the reference). */
function checkArgmaxOfOwnLogits(what: string, ids: Int32Array, logits: Float32Array, rows: number, cols: number): void {
  const expected = new Int32Array(rows);
  referenceArgmax(logits, rows, cols, expected);
  checkBits(`${what}: argmax of the backend's own logits`, ids, expected);
}

interface LayerWeights {
  table: Uint16Array; // [V, D] tied embedding / LM head
  q: Uint16Array; // [H*hd, D]
  k: Uint16Array; // [Hkv*hd, D]
  v: Uint16Array;
  o: Uint16Array; // [D, H*hd]
  gate: Uint16Array; // [I, D]
  up: Uint16Array;
  down: Uint16Array; // [D, I]
  norms: Float32Array[]; // attention, mlp, final: [D] each
}

function layerWeights(ctx: CaseContext): LayerWeights {
  const w = (rows: number, cols: number, sigma: number) => randomBf16Normal(ctx.rng, rows * cols, sigma);
  return {
    table: w(V, D, 0.5),
    q: w(H * HD, D, 0.15),
    k: w(HKV * HD, D, 0.15),
    v: w(HKV * HD, D, 0.15),
    o: w(D, H * HD, 0.1),
    gate: w(I, D, 0.15),
    up: w(I, D, 0.15),
    down: w(D, I, 0.1),
    norms: [0, 1, 2].map(() => randomF32(ctx.rng, D, 0.1, 1)),
  };
}

export const graphCases: ConformanceCase[] = [
  {
    id: 'graph.sequence',
    title: 'a Llama layer + LM head as one graph (every op, tca-tbe weights, auto path) over a prefill + decode + padding batch',
    ops: ['embedding', 'rmsnorm', 'matmul', 'rope', 'kvAppend', 'attention', 'add', 'siluMul', 'gatherRows', 'argmax'],
    async run(ctx) {
      const lw = layerWeights(ctx);
      const sources = Object.fromEntries(
        (
          [
            ['table', V, D],
            ['q', H * HD, D],
            ['k', HKV * HD, D],
            ['v', HKV * HD, D],
            ['o', D, H * HD],
            ['gate', I, D],
            ['up', I, D],
            ['down', D, I],
          ] as const
        ).map(([name, rows, cols]) => [name, weightSource(lw[name], rows, cols, 'tca-tbe')]),
      );
      // Sequence 0: prefill of 5 tokens; sequence 1: decode of its 4th token (3 already cached); then a padding row.
      const n = 7;
      const ids = randomInts(ctx.rng, n, 0, V - 1);
      const positions = Int32Array.of(0, 1, 2, 3, 4, 3, 0);
      const [blocks, blockSize] = [4, 4];
      const blockTables = Int32Array.of(2, 0, 3, 1); // [2 sequences, 2 blocks]
      const slots = Int32Array.of(8, 9, 10, 11, 0, 3 * blockSize + 3, -1);
      const contextLens = Int32Array.of(5, 4);
      const queryStarts = Int32Array.of(0, 5, 6);
      const lastRows = Int32Array.of(4, 5);
      const cacheInit = randomF32(ctx.rng, blocks * blockSize * HKV * HD); // sequence 1's earlier tokens (and junk elsewhere)
      const [got, want] = await ctx.both(async (s) => {
        const weights: Record<string, DeviceWeight> = {};
        for (const [name, source] of Object.entries(sources)) weights[name] = await s.weight(source);
        const f = (shape: number[]) => s.poisoned('f32', shape);
        const h = f([n, D]);
        const xn = f([n, D]);
        const qkv = f([n, QKV]);
        const att = f([n, H * HD]);
        const o = f([n, D]);
        const gu = f([n, 2 * I]);
        const act = f([n, I]);
        const fin = f([n, D]);
        const last = f([2, D]);
        const logits = f([2, V]);
        const next = s.poisoned('i32', [2]);
        const kCache = s.f32([blocks, blockSize, HKV, HD], cacheInit);
        const vCache = s.f32([blocks, blockSize, HKV, HD], cacheInit.map((x) => -x));
        const norm = (i: number) => s.f32([D], lw.norms[i]!);
        const pos = s.i32([n], positions);
        const rope = (firstHead: number, numHeads: number): OpNode => ({ op: 'rope', x: qkv, positions: pos, firstHead, numHeads, headDim: HD, theta: 10000 });
        const nodes: OpNode[] = [
          { op: 'embedding', ids: s.i32([n], ids), table: weights.table!, out: h },
          { op: 'rmsnorm', x: h, weight: norm(0), out: xn, eps: 1e-5 },
          { op: 'matmul', x: xn, weight: weights.q!, out: qkv, outOffset: 0 },
          { op: 'matmul', x: xn, weight: weights.k!, out: qkv, outOffset: H * HD },
          { op: 'matmul', x: xn, weight: weights.v!, out: qkv, outOffset: (H + HKV) * HD },
          rope(0, H),
          rope(H, HKV),
          { op: 'kvAppend', qkv, kOffset: H * HD, vOffset: (H + HKV) * HD, kCache, vCache, slots: s.i32([n], slots) },
          { op: 'attention', qkv, qOffset: 0, kCache, vCache, blockTables: s.i32([2, 2], blockTables), contextLens: s.i32([2], contextLens), queryStarts: s.i32([3], queryStarts), out: att, numHeads: H, numKvHeads: HKV, headDim: HD, scale: 1 / Math.sqrt(HD) },
          { op: 'matmul', x: att, weight: weights.o!, out: o },
          { op: 'add', a: h, b: o, out: h },
          { op: 'rmsnorm', x: h, weight: norm(1), out: xn, eps: 1e-5 },
          { op: 'matmul', x: xn, weight: weights.gate!, out: gu, outOffset: 0 },
          { op: 'matmul', x: xn, weight: weights.up!, out: gu, outOffset: I },
          { op: 'siluMul', x: gu, out: act },
          { op: 'matmul', x: act, weight: weights.down!, out: h, accumulate: true },
          { op: 'rmsnorm', x: h, weight: norm(2), out: fin, eps: 1e-5 },
          { op: 'gatherRows', x: fin, rows: s.i32([2], lastRows), out: last },
          { op: 'matmul', x: last, weight: weights.table!, out: logits },
          { op: 'argmax', x: logits, out: next },
        ];
        await s.run(nodes, 'llama layer');
        return { logits: await s.readF32(logits), next: (await s.read(next)) as Int32Array, kCache: await s.readF32(kCache) };
      });
      checkClose('logits after one layer', got.logits, want.logits, ctx.tolerance.graph);
      checkClose('k cache after kvAppend of roped k', got.kCache, want.kCache, ctx.tolerance.graph);
      checkArgmaxOfOwnLogits('next ids', got.next, got.logits, 2, V);
    },
  },
  {
    id: 'graph.rerun',
    title: 'compileGraph once, run, rewrite ids and positions (whole and by byteOffset), run again: new results',
    ops: ['embedding', 'rmsnorm', 'matmul', 'rope', 'argmax'],
    async run(ctx) {
      const n = 6;
      const table = randomBf16Normal(ctx.rng, V * D, 0.5);
      const proj = randomBf16Normal(ctx.rng, 128 * D, 0.2);
      const norm = randomF32(ctx.rng, D, 0.1, 1);
      const inputs = [0, 1].map(() => ({ ids: randomInts(ctx.rng, n, 0, V - 1), positions: randomInts(ctx.rng, n, 0, 500) }));
      const [got, want] = await ctx.both(async (s: Session) => {
        const ids = s.i32([n], inputs[0]!.ids);
        const positions = s.i32([n], inputs[0]!.positions);
        const h = s.poisoned('f32', [n, D]);
        const y = s.poisoned('f32', [n, 128]);
        const best = s.poisoned('i32', [n]);
        const graph = s.backend.compileGraph({
          label: 'rerun',
          nodes: [
            { op: 'embedding', ids, table: await s.weight(weightSource(table, V, D, 'tca-tbe')), out: h },
            { op: 'rmsnorm', x: h, weight: s.f32([D], norm), out: h, eps: 1e-5 },
            { op: 'matmul', x: h, weight: await s.weight(weightSource(proj, 128, D, 'tca-tbe')), out: y },
            { op: 'rope', x: y, positions, firstHead: 0, numHeads: 128 / 8, headDim: 8, theta: 10000 },
            { op: 'argmax', x: y, out: best },
          ],
        });
        const results: { y: Float32Array; best: Int32Array }[] = [];
        const read = async (t: DeviceTensor[]) => ({ y: await s.readF32(t[0]!), best: (await s.read(t[1]!)) as Int32Array });
        try {
          await graph.run();
          results.push(await read([y, best]));
          s.backend.writeTensor(ids, inputs[1]!.ids);
          // Positions in two writes: the first half, then the second half at its byte offset.
          s.backend.writeTensor(positions, inputs[1]!.positions.subarray(0, 3));
          s.backend.writeTensor(positions, inputs[1]!.positions.subarray(3), 3 * 4);
          await graph.run();
          results.push(await read([y, best]));
        } finally {
          graph.dispose();
        }
        return results;
      });
      for (const run of [0, 1]) {
        checkClose(`run ${run + 1}: projected and roped rows`, got[run]!.y, want[run]!.y, ctx.tolerance.graph);
        checkArgmaxOfOwnLogits(`run ${run + 1}`, got[run]!.best, got[run]!.y, n, 128);
      }
      let changed = false;
      for (let i = 0; i < got[0]!.y.length; i++) if (got[0]!.y[i] !== got[1]!.y[i]) changed = true;
      check(changed, 'the second run returned the first run\'s results: writeTensor between runs was not seen');
    },
  },
];
