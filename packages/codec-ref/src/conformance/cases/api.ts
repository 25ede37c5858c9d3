// Tensor transfers and error behaviour of the contract.

import { GraphValidationError } from '@zipserv/format';
import { randomBf16Bits, randomF32 } from '../../reference/random-data.js';
import { check, checkBits } from '../assertions.js';
import type { ConformanceCase } from '../case.js';
import { Session } from '../session.js';

async function rejects(what: string, action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (err) {
    check(err instanceof Error, `${what}: threw a non-Error (${String(err)})`);
    check(err.message.length > 0 && !err.message.includes('\n'), `${what}: the error message should be one non-empty line, got ${JSON.stringify(err.message)}`);
    return err;
  }
  throw new Error(`${what}: expected an error, none was thrown`);
}

export const apiCases: ConformanceCase[] = [
  {
    id: 'tensors.write-read',
    title: 'createTensor (zero-filled or from init), writeTensor at byte offsets and readTensor round-trip every dtype bit for bit',
    ops: [],
    async run(ctx) {
      const s = new Session(ctx.backend);
      try {
        const f32 = randomF32(ctx.rng, 3 * 5 * 7);
        const f32Bits = new Uint32Array(f32.buffer);
        f32Bits[0] = 0x80000000; // -0
        f32Bits[1] = 0x7fc0dead; // NaN with a payload
        f32Bits[2] = 0x00000001; // smallest subnormal
        const samples = [
          { dtype: 'f32' as const, data: f32 },
          { dtype: 'bf16' as const, data: randomBf16Bits(ctx.rng, 3 * 5 * 7) },
          { dtype: 'i32' as const, data: Int32Array.from(randomBf16Bits(ctx.rng, 105), (v, i) => (v << 16) ^ (i * 2654435761)) },
          { dtype: 'u8' as const, data: Uint8Array.from(randomBf16Bits(ctx.rng, 105), (v) => v & 0xff) },
        ];
        for (const { dtype, data } of samples) {
          if (!ctx.backend.capabilities.dtypes.includes(dtype)) continue;
          const t = s.tensor(dtype, [3, 5, 7], data);
          checkBits(`${dtype} [3, 5, 7] created from init`, await s.read(t), data);
          const zeros = s.tensor(dtype, [3, 5, 7]);
          checkBits(`${dtype} [3, 5, 7] created without init`, await s.read(zeros), new (data.constructor as Uint8ArrayConstructor)(data.length));
          // Overwrite elements 12..31 through a byte offset (4-byte aligned for every dtype, as GPU copies want).
          const patch = data.slice(50, 70);
          const width = data.BYTES_PER_ELEMENT;
          ctx.backend.writeTensor(zeros, patch, 12 * width);
          const expected = new (data.constructor as Uint8ArrayConstructor)(data.length);
          expected.set(patch as unknown as Uint8Array, 12);
          checkBits(`${dtype} after writeTensor of 20 elements at byte offset ${12 * width}`, await s.read(zeros), expected);
        }
      } finally {
        s.close();
      }
    },
  },
  {
    id: 'errors.bad-graph',
    title: 'compileGraph refuses a mis-shaped graph with GraphValidationError (one-line message)',
    ops: ['add'],
    async run(ctx) {
      const s = new Session(ctx.backend);
      try {
        const a = s.poisoned('f32', [4, 8]);
        const b = s.poisoned('f32', [4, 9]);
        const err = await rejects('add of [4, 8] and [4, 9]', async () => s.backend.compileGraph({ nodes: [{ op: 'add', a, b, out: a }] }));
        check(err instanceof GraphValidationError || err.name === 'GraphValidationError', `expected a GraphValidationError, got ${err.name}: ${err.message}`);
      } finally {
        s.close();
      }
    },
  },
  {
    id: 'errors.freed-handle',
    title: 'a freed tensor is refused: by compileGraph, and by run() of a graph compiled before the free',
    ops: ['add'],
    async run(ctx) {
      const s = new Session(ctx.backend);
      try {
        const a = s.f32([16], randomF32(ctx.rng, 16));
        const out = s.poisoned('f32', [16]);
        const freed = s.f32([16], randomF32(ctx.rng, 16));
        ctx.backend.free(freed);
        await rejects('compileGraph with a freed tensor', async () => {
          const g = ctx.backend.compileGraph({ nodes: [{ op: 'add', a, b: freed, out }] });
          try {
            await g.run();
          } finally {
            g.dispose();
          }
        });
        const b = s.f32([16], randomF32(ctx.rng, 16));
        const graph = ctx.backend.compileGraph({ nodes: [{ op: 'add', a, b, out }] });
        try {
          await graph.run();
          ctx.backend.free(b);
          await rejects('run() of a compiled graph whose input was freed', () => graph.run());
        } finally {
          graph.dispose();
        }
      } finally {
        s.close();
      }
    },
  },
];
