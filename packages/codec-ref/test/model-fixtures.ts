// Test models written on the fly: adversarial BF16 distributions and a sharded copy of the fixture.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, type SafetensorsWriteEntry, writeSafetensors } from '@zipserv/format';
import { createRng } from '../src/reference/prng.js';
import { randomBf16Normal } from '../src/reference/random-data.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));

/** N(0, sigma) as BF16 bits from the reference generator, seeded. */
const gaussianBf16 = (n: number, sigma: number, seed: number): Uint16Array => randomBf16Normal(createRng(seed), n, sigma);

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const bf16 = (name: string, shape: number[], bits: Uint16Array): SafetensorsWriteEntry => ({ name, dtype: 'BF16', shape, data: bytesOf(bits) });

/** Tensors every storage path must survive; `expect` says how compress must store each. */
export function adversarialTensors(): { entries: SafetensorsWriteEntry[]; expect: Record<string, 'tca-tbe' | 'raw'> } {
  const rng = createRng(7);
  const r = () => rng.next();
  const allBits = Uint16Array.from({ length: 65536 }, (_, i) => i); // [256, 256] every pattern
  const zeros30 = gaussianBf16(512 * 256, 0.02, 1).map((v) => (r() < 0.3 ? 0 : v));
  const tinyExp = Uint16Array.from({ length: 64 * 100 }, () => ((r() < 0.5 ? 0x8000 : 0) | (Math.floor(r() * 7) << 7) | Math.floor(r() * 128)));
  const nan = Uint16Array.from({ length: 64 * 64 }, (_, i) => (i & 1 ? 0xff80 : 0x7f80) | (1 + (i % 127))); // every NaN payload
  const randomBits = Uint16Array.from({ length: 256 * 256 }, () => Math.floor(r() * 65536));
  const f32 = Float32Array.from({ length: 16 * 8 }, (_, i) => Math.sin(i) * 3);
  const i64 = new BigInt64Array([1n, -2n, 1n << 62n]);
  return {
    entries: [
      bf16('all_bits', [256, 256], allBits),
      bf16('zeros30', [512, 256], zeros30),
      bf16('all_zeros', [128, 128], new Uint16Array(128 * 128)),
      bf16('tiny_exponents', [64, 100], tinyExp),
      bf16('nan_payloads', [64, 64], nan),
      bf16('ragged', [191, 300], gaussianBf16(191 * 300, 0.02, 2)),
      bf16('ragged_small', [65, 129], gaussianBf16(65 * 129, 0.02, 3)),
      bf16('one_row', [1, 4096], gaussianBf16(4096, 0.02, 4)),
      bf16('one_col', [4096, 1], gaussianBf16(4096, 0.02, 5)),
      bf16('one_by_one', [1, 1], new Uint16Array([0x3f80])),
      bf16('random_bits', [256, 256], randomBits),
      bf16('norm', [64], gaussianBf16(64, 1, 6)),
      bf16('empty', [0, 64], new Uint16Array(0)),
      { name: 'f32', dtype: 'F32', shape: [16, 8], data: bytesOf(f32) },
      { name: 'scalar', dtype: 'F32', shape: [], data: bytesOf(new Float32Array([Math.PI])) },
      { name: 'i64', dtype: 'I64', shape: [3], data: bytesOf(i64) },
    ],
    expect: {
      all_bits: 'raw', // exponents uniform: most would be outliers
      zeros30: 'tca-tbe', // best-covering window, not the zeros'
      all_zeros: 'tca-tbe',
      tiny_exponents: 'tca-tbe', // window at expBase 0
      nan_payloads: 'tca-tbe', // window 249..255
      ragged: 'tca-tbe',
      ragged_small: 'raw', // padding to 128 x 192 outweighs the gain
      one_row: 'raw',
      one_col: 'raw',
      one_by_one: 'raw',
      random_bits: 'raw',
      norm: 'raw',
      empty: 'raw',
      f32: 'raw',
      scalar: 'raw',
      i64: 'raw',
    },
  };
}

/** Writes the adversarial model (one file plus a config.json) into `dir`. */
export async function writeAdversarialModel(dir: string): Promise<Record<string, 'tca-tbe' | 'raw'>> {
  await mkdir(dir, { recursive: true });
  const { entries, expect } = adversarialTensors();
  await writeSafetensors(join(dir, 'model.safetensors'), entries, { format: 'pt', note: 'adversarial' });
  await writeFile(join(dir, 'config.json'), '{"model_type": "test"}\n');
  return expect;
}

/** Splits the fixture into two shards with a model.safetensors.index.json, plus its other files. */
export async function writeShardedFixture(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const src = await SafetensorsFile.open(join(FIXTURE_DIR, 'model.safetensors'));
  try {
    const names = src.tensors.map((t) => t.name);
    const shards = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const entries: SafetensorsWriteEntry[] = [];
      for (const name of shard) {
        const t = src.tensor(name);
        entries.push({ name, dtype: t.dtype, shape: t.shape, data: await src.read(name) });
        weightMap[name] = file;
      }
      await writeSafetensors(join(dir, file), entries, { format: 'pt' });
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 520064 }, weight_map: weightMap }, null, 2));
    await writeFile(join(dir, 'config.json'), '{"model_type": "llama"}\n');
  } finally {
    await src.close();
  }
}
