import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatTcaTbeRows, tcaTbeGeometry, writeSafetensors } from '@zipserv/format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncoderPool, decodeMatrix, encodeMatrix } from '../src/codec/index.js';
import { ModelReader, compressModel, decompressModel, inspectModel, toFloat32, verifyModel } from '../src/model/index.js';
import { createRng } from '../src/reference/prng.js';
import { randomBf16Normal } from '../src/reference/random-data.js';
import { FIXTURE_DIR, adversarialTensors, writeAdversarialModel, writeShardedFixture } from './model-fixtures.js';

let dir: string;
let pool: EncoderPool;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zipserv-model-'));
  pool = new EncoderPool({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

async function sameFiles(a: string, b: string): Promise<void> {
  const names = (await readdir(a)).sort();
  expect((await readdir(b)).sort()).toEqual(names);
  for (const n of names) expect((await readFile(join(b, n))).equals(await readFile(join(a, n))), n).toBe(true);
}

/** Byte equality of two typed arrays (vitest's deep equality is slow on large arrays). */
function expectSameBytes(a: ArrayBufferView, b: ArrayBufferView, what?: string): void {
  const view = (x: ArrayBufferView) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  expect(view(a).equals(view(b)), what).toBe(true);
}

/** Nothing but `keep` in `parent` (no temp directories left behind). */
async function onlyEntries(parent: string, keep: string[]): Promise<void> {
  expect((await readdir(parent)).sort()).toEqual([...keep].sort());
}

describe('the fixture', () => {
  let compressed: string;
  beforeAll(async () => {
    compressed = join(dir, 'fixture.zs');
    await compressModel(FIXTURE_DIR, compressed, { pool });
  });

  it('compresses every 2-D BF16 tensor that shrinks and round-trips byte for byte', async () => {
    const report = await inspectModel(compressed);
    expect(report.compressed).toBe(true);
    expect(report.originalBytes).toBe((await stat(join(FIXTURE_DIR, 'model.safetensors'))).size);
    expect(report.ratio).toBeLessThan(0.85);
    const byName = new Map(report.tensors.map((t) => [t.name, t]));
    expect(byName.get('model.embed_tokens.weight')).toMatchObject({ storage: 'tca-tbe', dtype: 'BF16', shape: [512, 64] });
    expect(byName.get('model.embed_tokens.weight')!.bitsPerWeight).toBeLessThan(11.5);
    // 32 x 64 pads to 64 x 64: twice the elements, never smaller than raw.
    expect(byName.get('model.layers.0.self_attn.k_proj.weight')!.storage).toBe('raw');
    expect(byName.get('model.norm.weight')).toMatchObject({ storage: 'raw', window: null, outlierFraction: null, bitsPerWeight: 16 });
    const w = byName.get('model.layers.0.mlp.gate_proj.weight')!;
    expect(w.window!.exponents[1] - w.window!.exponents[0]).toBe(6);
    expect(w.outlierFraction).toBeGreaterThan(0);
    expect(w.outlierFraction).toBeLessThan(0.1);

    const restored = join(dir, 'fixture.restored');
    const summary = await decompressModel(compressed, restored, { pool });
    expect(summary.copied.sort()).toEqual(['LICENSE', 'README.md', 'config.json']);
    await sameFiles(FIXTURE_DIR, restored);
    const v = await verifyModel(compressed, { against: FIXTURE_DIR, pool });
    expect(v).toMatchObject({ ok: true, files: 1, tensors: 47, problems: [] });
  });

  it('ModelReader gives the same tensors from the original and the compressed directory', async () => {
    const original = await ModelReader.open(FIXTURE_DIR);
    const packed = await ModelReader.open(compressed);
    try {
      expect(original.compressed).toBe(false);
      expect(packed.compressed).toBe(true);
      expect(packed.config).toMatchObject({ hidden_size: 64, intermediate_size: 172 });
      expect(packed.tensors().map((t) => [t.name, t.dtype, t.shape])).toEqual(original.tensors().map((t) => [t.name, t.dtype, t.shape]));
      for (const t of original.tensors()) {
        expectSameBytes(await packed.readBytes(t.name), await original.readBytes(t.name), t.name);
        expectSameBytes(await packed.readTensorF32(t.name), await original.readTensorF32(t.name), t.name);
        if (t.shape.length !== 2) {
          await expect(packed.readMatrix(t.name)).rejects.toThrow(/not a 2-D BF16 matrix/);
          continue;
        }
        const a = await original.readMatrix(t.name);
        const b = await packed.readMatrix(t.name);
        expect(a.storage).toBe('raw');
        expect(b.storage).toBe(packed.tensor(t.name).storage);
        if (a.storage !== 'raw') throw new Error('an original model holds raw matrices only');
        expect(b.storage === 'raw' ? [b.rows, b.cols] : [b.matrix.rows, b.matrix.cols]).toEqual([a.rows, a.cols]);
        expectSameBytes(b.storage === 'tca-tbe' ? decodeMatrix(b.matrix) : b.data, a.data, t.name);
      }
      await expect(packed.readBytes('nope')).rejects.toThrow(/no tensor named "nope"/);
    } finally {
      await original.close();
      await packed.close();
    }
  });

  it('refuses an input that is already compressed, and outputs that overlap the input', async () => {
    const parentEntries = await readdir(dir);
    await expect(compressModel(compressed, join(dir, 'again'), { pool })).rejects.toThrow(/already a zipserv container/);
    await expect(compressModel(FIXTURE_DIR, FIXTURE_DIR, { pool })).rejects.toThrow(/is the input/);
    await expect(compressModel(FIXTURE_DIR, join(FIXTURE_DIR, 'out'), { pool })).rejects.toThrow(/inside the input directory/);
    await expect(compressModel(join(FIXTURE_DIR, 'model.safetensors'), FIXTURE_DIR, { pool })).rejects.toThrow(/inside the output/);
    await expect(compressModel(join(dir, 'missing'), join(dir, 'o'), { pool })).rejects.toThrow(/input not found/);
    await expect(compressModel(FIXTURE_DIR, compressed, { pool })).rejects.toThrow(/exists and is not empty/);
    await expect(decompressModel(FIXTURE_DIR, join(dir, 'o'), { pool })).rejects.toThrow(/not a zipserv-compressed model/);
    expect((await verifyModel(FIXTURE_DIR, { pool })).problems).toEqual([{ file: '.', problem: expect.stringMatching(/not a compressed model/) }]);
    await onlyEntries(dir, parentEntries);
  });

  it('a single .safetensors file compresses into a directory holding just that file', async () => {
    const out = join(dir, 'single.zs');
    const s = await compressModel(join(FIXTURE_DIR, 'model.safetensors'), out, { pool });
    expect(s.copied).toEqual([]);
    expect(await readdir(out)).toEqual(['model.safetensors']);
    expect(await verifyModel(join(out, 'model.safetensors'), { against: join(FIXTURE_DIR, 'model.safetensors'), pool })).toMatchObject({ ok: true });
  });

  it('detects bit flips, truncation and swapped metadata, and leaves no partial output', async () => {
    const src = await readFile(join(compressed, 'model.safetensors'));
    const headerEnd = 8 + Number(src.readBigUInt64LE(0));
    const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
      ['flip-data', (b) => flip(b, Math.floor((headerEnd + b.length) / 2)), /CRC-32 mismatch/],
      ['flip-last', (b) => flip(b, b.length - 1), /CRC-32 mismatch/],
      ['flip-header', (b) => flip(b, 100), /./],
      ['truncated', (b) => b.subarray(0, b.length - 1000), /run past the end|truncated/],
      ['garbage', (b) => Buffer.from(b.map((x, i) => (i < 8 ? x : (x * 31 + i) & 0xff))), /./],
      ['absurd', () => Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x10]), Buffer.from('{}')]), /exceeds/],
    ];
    for (const [name, damage, message] of cases) {
      const bad = join(dir, `bad-${name}`);
      await cp(compressed, bad, { recursive: true });
      await writeFile(join(bad, 'model.safetensors'), damage(Buffer.from(src)));
      const report = await verifyModel(bad, { pool });
      expect(report.ok, name).toBe(false);
      expect(report.problems[0]!.problem, name).toMatch(message);
      await expect(decompressModel(bad, join(dir, `out-${name}`), { pool }), name).rejects.toThrow(message);
      await expect(stat(join(dir, `out-${name}`)), name).rejects.toThrow(/ENOENT/);
    }
    expect((await readdir(dir)).filter((n) => n.includes('zipserv-tmp'))).toEqual([]);
  });

  it('verify --against reports restored files that differ from a changed original', async () => {
    const changed = join(dir, 'changed-original');
    await cp(FIXTURE_DIR, changed, { recursive: true });
    const bytes = await readFile(join(changed, 'model.safetensors'));
    await writeFile(join(changed, 'model.safetensors'), flip(bytes, bytes.length - 3));
    await writeFile(join(changed, 'config.json'), '{}');
    await writeFile(join(changed, 'extra.txt'), 'x');
    const report = await verifyModel(compressed, { against: changed, pool });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { file: 'config.json', problem: expect.stringMatching(/bytes, the original .* has 2/) },
      { file: 'model.safetensors', tensor: 'model.norm.weight', problem: expect.stringMatching(/differs from the original/) },
      { file: 'extra.txt', problem: expect.stringMatching(/missing/) },
    ]);
  });
});

describe('adversarial tensors', () => {
  it('are stored as expected and round-trip byte for byte', async () => {
    const original = join(dir, 'adv');
    const expected = await writeAdversarialModel(original);
    const compressed = join(dir, 'adv.zs');
    const summary = await compressModel(original, compressed, { pool });
    expect(Object.fromEntries(summary.tensors.map((t) => [t.name, t.storage]))).toEqual(expected);
    const inspected = await inspectModel(compressed);
    expect(inspected.tensors.map((t) => [t.name, t.storage, t.storedBytes])).toEqual(summary.tensors.map((t) => [t.name, t.storage, t.storedBytes]));
    const byName = new Map(inspected.tensors.map((t) => [t.name, t]));
    expect(byName.get('tiny_exponents')!.window).toEqual({ expBase: 0, exponents: [0, 6] });
    expect(byName.get('nan_payloads')!.window).toEqual({ expBase: 249, exponents: [249, 255] });
    expect(byName.get('zeros30')!.outlierFraction).toBeGreaterThan(0.29); // zeros are the outliers
    expect(byName.get('all_zeros')!.outlierFraction).toBe(0);
    expect(byName.get('ragged')!.storedBytes).toBeLessThan(191 * 300 * 2);

    const restored = join(dir, 'adv.restored');
    await decompressModel(compressed, restored, { pool });
    await sameFiles(original, restored);
    expect(await verifyModel(compressed, { against: original, pool })).toMatchObject({ ok: true, tensors: 16 });

    const reader = await ModelReader.open(compressed);
    try {
      expect(Array.from(await reader.readTensorF32('scalar'))).toEqual([Math.fround(Math.PI)]);
      const m = await reader.readMatrix('ragged');
      expect(m.storage).toBe('tca-tbe');
      if (m.storage === 'tca-tbe') expect(m.matrix.bitmaps.length).toBe(tcaTbeGeometry(191, 300).tiles * 192);
      await expect(reader.readTensorF32('i64')).rejects.toThrow(/I64, not a floating-point tensor/);
    } finally {
      await reader.close();
    }
  });

  it('uniformly random bits stay raw and grow by at most 0.5%', async () => {
    const random = adversarialTensors().entries.find((e) => e.name === 'random_bits')!;
    const original = join(dir, 'random');
    await mkdir(original);
    await writeSafetensors(join(original, 'model.safetensors'), [random]);
    const s = await compressModel(original, join(dir, 'random.zs'), { pool });
    expect(s.tensors[0]!.storage).toBe('raw');
    expect(s.ratio).toBeLessThanOrEqual(1.005);

    // A large one is encoded (not sized first), found larger, and stored raw all the same.
    const big = Uint16Array.from({ length: 1024 * 1024 }, (_, i) => (Math.imul(i, 2654435761) >>> 16) & 0xffff);
    const bigDir = join(dir, 'random-big');
    await mkdir(bigDir);
    await writeSafetensors(join(bigDir, 'model.safetensors'), [{ name: 'w', dtype: 'BF16', shape: [1024, 1024], data: new Uint8Array(big.buffer) }]);
    const sb = await compressModel(bigDir, join(dir, 'random-big.zs'), { pool });
    expect(sb.tensors[0]).toMatchObject({ storage: 'raw', storedBytes: 2 << 20 });
    expect(sb.ratio).toBeLessThanOrEqual(1.005);
    expect(await verifyModel(join(dir, 'random-big.zs'), { against: bigDir, pool })).toMatchObject({ ok: true });
  });
});

describe('sharded checkpoints', () => {
  it('compress, decompress and read through model.safetensors.index.json', async () => {
    const original = join(dir, 'sharded');
    await writeShardedFixture(original);
    const compressed = join(dir, 'sharded.zs');
    const s = await compressModel(original, compressed, { pool });
    expect(s.files.map((f) => f.file)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(s.copied.sort()).toEqual(['config.json', 'model.safetensors.index.json']);
    const restored = join(dir, 'sharded.restored');
    await decompressModel(compressed, restored, { pool });
    await sameFiles(original, restored);

    const fixture = await ModelReader.open(FIXTURE_DIR);
    const reader = await ModelReader.open(compressed, { pool });
    try {
      expect(reader.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      expect(reader.tensors().map((t) => t.name).sort()).toEqual(fixture.tensors().map((t) => t.name).sort());
      expect(reader.tensor('model.norm.weight').file).toBe('model-00002-of-00002.safetensors');
      for (const name of ['model.embed_tokens.weight', 'model.norm.weight', 'model.layers.4.mlp.down_proj.weight']) {
        expectSameBytes(await reader.readTensorF32(name), await fixture.readTensorF32(name), name);
      }
    } finally {
      await reader.close();
      await fixture.close();
    }

    // An index that names a tensor its shard does not hold is refused.
    const index = JSON.parse(await readFile(join(original, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    await writeFile(join(original, 'model.safetensors.index.json'), JSON.stringify(index));
    await expect(ModelReader.open(original)).rejects.toThrow(/maps tensor "model.norm.weight" to model-00001-of-00002.safetensors, which does not hold it/);
  });
});

describe('atomic output', () => {
  it('a failure mid-way leaves neither the output nor a temporary directory', async () => {
    const parent = join(dir, 'atomic');
    await mkdir(parent);
    const failing = {
      threads: 1,
      encode: async () => {
        throw new Error('ENOSPC: no space left on device, write');
      },
      decode: async () => new Uint16Array(0),
      close: async () => {},
    } as unknown as EncoderPool;
    await expect(compressModel(FIXTURE_DIR, join(parent, 'out'), { pool: failing })).rejects.toThrow(/ENOSPC/);
    await onlyEntries(parent, []);
    // An existing empty output directory is used, and kept empty on failure.
    await mkdir(join(parent, 'empty'));
    await expect(compressModel(FIXTURE_DIR, join(parent, 'empty'), { pool: failing })).rejects.toThrow(/ENOSPC/);
    await onlyEntries(parent, ['empty']);
    await compressModel(FIXTURE_DIR, join(parent, 'empty'), { pool });
    expect((await readdir(join(parent, 'empty'))).sort()).toEqual(['LICENSE', 'README.md', 'config.json', 'model.safetensors']);
  });
});

describe('toFloat32', () => {
  it('converts every float dtype exactly', () => {
    const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    expect(Array.from(toFloat32('F16', u8(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555]))))).toEqual([
      1,
      -2,
      2 ** -24,
      Number.POSITIVE_INFINITY,
      Math.fround(0.333251953125),
    ]);
    expect(Number.isNaN(toFloat32('F16', u8(new Uint16Array([0x7e00])))[0])).toBe(true);
    expect(Array.from(toFloat32('BF16', u8(new Uint16Array([0x3f80, 0xc040]))))).toEqual([1, -3]);
    expect(Array.from(toFloat32('F64', u8(new Float64Array([0.1]))))).toEqual([Math.fround(0.1)]);
    expect(Array.from(toFloat32('F8_E4M3', new Uint8Array([0x38, 0xb8, 0x7e, 0x01])))).toEqual([1, -1, 448, 2 ** -9]);
    expect(Number.isNaN(toFloat32('F8_E4M3', new Uint8Array([0x7f]))[0])).toBe(true);
    expect(Array.from(toFloat32('F8_E5M2', new Uint8Array([0x3c, 0x7b, 0x7c, 0x01])))).toEqual([1, 57344, Number.POSITIVE_INFINITY, 2 ** -16]);
    expect(() => toFloat32('I32', new Uint8Array(4))).toThrow(/not a floating-point dtype/);
  });
});

function flip(b: Buffer, at: number): Buffer {
  const copy = Buffer.from(b);
  copy[at]! ^= 1;
  return copy;
}

describe('shared windows of fusable projections', () => {
  it('q|k|v and gate|up of a layer get one window (the first encoded), so they stack without decoding', async () => {
    const original = join(dir, 'proj');
    await mkdir(original, { recursive: true });
    const g = (n: number, sigma: number, seed: number) => randomBf16Normal(createRng(seed), n, sigma);
    const bytes = (a: Uint16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const D = 128;
    // v is 4x wider than q and k: alone it would pick a window 2 exponents higher.
    const tensors: Array<[string, number, number]> = [
      ['model.layers.0.self_attn.q_proj.weight', 128, 0.02],
      ['model.layers.0.self_attn.k_proj.weight', 64, 0.02],
      ['model.layers.0.self_attn.v_proj.weight', 64, 0.08],
      ['model.layers.0.mlp.gate_proj.weight', 192, 0.02],
      ['model.layers.0.mlp.up_proj.weight', 192, 0.08],
      ['model.layers.0.mlp.down_proj.weight', D, 0.08],
    ];
    await writeSafetensors(
      join(original, 'model.safetensors'),
      tensors.map(([name, rows, sigma], i) => ({ name, dtype: 'BF16' as const, shape: [rows, D], data: bytes(g(rows * D, sigma, 40 + i)) })),
    );
    const alone = encodeMatrix(g(64 * D, 0.08, 42), 64, D).expBase;
    const compressed = join(dir, 'proj.zs');
    await compressModel(original, compressed, { pool });
    const window = new Map((await inspectModel(compressed)).tensors.map((t) => [t.name, t.window?.expBase]));
    const q = window.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(alone).not.toBe(q);
    expect(window.get('model.layers.0.self_attn.k_proj.weight')).toBe(q);
    expect(window.get('model.layers.0.self_attn.v_proj.weight')).toBe(q);
    expect(window.get('model.layers.0.mlp.up_proj.weight')).toBe(window.get('model.layers.0.mlp.gate_proj.weight'));
    // Lossless all the same, and the stacked matrices decode to the stacked rows.
    expect(await verifyModel(compressed, { against: original, pool })).toMatchObject({ ok: true });
    const reader = await ModelReader.open(compressed);
    try {
      const parts = [];
      for (const p of ['q', 'k', 'v']) {
        const t = await reader.readMatrix(`model.layers.0.self_attn.${p}_proj.weight`);
        expect(t.storage).toBe('tca-tbe');
        if (t.storage === 'tca-tbe') parts.push(t.matrix);
      }
      const fused = concatTcaTbeRows(parts);
      expect(fused?.rows).toBe(256);
      const expected = new Uint16Array(256 * D);
      expected.set(g(128 * D, 0.02, 40), 0);
      expected.set(g(64 * D, 0.02, 41), 128 * D);
      expected.set(g(64 * D, 0.08, 42), 192 * D);
      expectSameBytes(decodeMatrix(fused!), expected);
    } finally {
      await reader.close();
    }
  });
});
