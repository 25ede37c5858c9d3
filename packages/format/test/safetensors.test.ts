import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  SafetensorsFile,
  SafetensorsWriter,
  buildSafetensorsHeader,
  parseSafetensorsHeader,
  writeSafetensors,
} from '../src/index.js';

const FIXTURE = fileURLToPath(new URL('../../../models/stories260K/model.safetensors', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zipserv-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file made of a u64 length, `header` text and `data` bytes. */
async function rawFile(name: string, header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Promise<string> {
  const h = new TextEncoder().encode(header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
  const path = join(dir, name);
  await writeFile(path, Buffer.concat([prefix, h, data]));
  return path;
}

async function openError(path: string): Promise<string> {
  try {
    const f = await SafetensorsFile.open(path);
    await f.close();
  } catch (err) {
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message.startsWith(path)).toBe(true);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error(`${path} was accepted`);
}

describe('SafetensorsFile.open on hostile input', () => {
  it('refuses an absurd header length', async () => {
    const p = await rawFile('huge.safetensors', '{}', undefined, 1n << 60n);
    expect(await openError(p)).toMatch(/header length 1152921504606846976 exceeds/);
  });
  it('refuses a header length past the end of the file', async () => {
    const p = await rawFile('past.safetensors', '{}', undefined, 1000n);
    expect(await openError(p)).toMatch(/truncated or not a safetensors file/);
  });
  it('refuses a header length just over the limit, even for a big enough claim', async () => {
    const p = await rawFile('limit.safetensors', '{}', undefined, BigInt(MAX_HEADER_BYTES + 1));
    expect(await openError(p)).toMatch(/exceeds/);
  });
  it('refuses files shorter than 8 bytes, empty files and directories', async () => {
    const p = join(dir, 'short.safetensors');
    await writeFile(p, Buffer.from([1, 2, 3]));
    expect(await openError(p)).toMatch(/shorter than the 8-byte/);
    const e = join(dir, 'empty.safetensors');
    await writeFile(e, Buffer.alloc(0));
    expect(await openError(e)).toMatch(/shorter than the 8-byte/);
    expect(await openError(dir)).toMatch(/directory|not a regular file/);
    expect(await openError(join(dir, 'nope.safetensors'))).toMatch(/no such file/);
  });
  it('refuses garbage, bad UTF-8, bad JSON and non-objects', async () => {
    const garbage = join(dir, 'garbage.safetensors');
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    await writeFile(garbage, bytes);
    expect(await openError(garbage)).toMatch(/not a safetensors file/);
    const badUtf8 = await rawFile('utf8.safetensors', '{"a":1}');
    const buf = await readFile(badUtf8);
    buf[10] = 0xff;
    await writeFile(badUtf8, buf);
    expect(await openError(badUtf8)).toMatch(/UTF-8/);
    expect(await openError(await rawFile('json.safetensors', '{"a": [1, 2'))).toMatch(/not valid JSON/);
    expect(await openError(await rawFile('arr.safetensors', '[1, 2, 3]   '))).toMatch(/JSON object/);
    expect(await openError(await rawFile('null.safetensors', '{} x'))).toMatch(/not valid JSON/);
  });
  it('refuses bad metadata, dtypes, shapes and keys', async () => {
    const t = (entry: object) => JSON.stringify({ t: entry });
    expect(await openError(await rawFile('m1.safetensors', '{"__metadata__": {"a": 1}}'))).toMatch(/must be a string/);
    expect(await openError(await rawFile('m2.safetensors', '{"__metadata__": [1]}'))).toMatch(/object of strings/);
    expect(await openError(await rawFile('d.safetensors', t({ dtype: 'Q4', shape: [1], data_offsets: [0, 1] }), new Uint8Array(1)))).toMatch(
      /unknown dtype "Q4"/,
    );
    expect(await openError(await rawFile('s.safetensors', t({ dtype: 'U8', shape: [1.5], data_offsets: [0, 1] }), new Uint8Array(1)))).toMatch(
      /non-negative integers/,
    );
    expect(await openError(await rawFile('s2.safetensors', t({ dtype: 'U8', shape: [-1], data_offsets: [0, 1] }), new Uint8Array(1)))).toMatch(
      /non-negative integers/,
    );
    expect(await openError(await rawFile('k.safetensors', t({ dtype: 'U8', shape: [1], data_offsets: [0, 1], x: 1 }), new Uint8Array(1)))).toMatch(
      /unexpected key "x"/,
    );
    expect(await openError(await rawFile('big.safetensors', t({ dtype: 'F64', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] }), new Uint8Array(8)))).toMatch(
      /absurdly large/,
    );
  });
  it('refuses offsets that disagree with the shape, overlap, leave holes or run past the end', async () => {
    const data = new Uint8Array(16);
    const file = (name: string, entries: Record<string, [number[], [number, number]]>, d = data) =>
      rawFile(
        name,
        JSON.stringify(Object.fromEntries(Object.entries(entries).map(([k, [shape, offs]]) => [k, { dtype: 'U16', shape, data_offsets: offs }]))),
        d,
      );
    expect(await openError(await file('size.safetensors', { a: [[4], [0, 16]] }))).toMatch(/hold 16 bytes, U16 \[4\] needs 8/);
    expect(await openError(await file('rev.safetensors', { a: [[0], [8, 0]] }))).toMatch(/end before they begin/);
    expect(await openError(await file('overlap.safetensors', { a: [[4], [0, 8]], b: [[4], [4, 12]], c: [[2], [12, 16]] }))).toMatch(/overlaps tensor "a"/);
    expect(await openError(await file('hole.safetensors', { a: [[4], [0, 8]], b: [[2], [12, 16]] }))).toMatch(/hole of 4 bytes/);
    expect(await openError(await file('tail.safetensors', { a: [[4], [0, 8]] }))).toMatch(/8 bytes after the last tensor/);
    expect(await openError(await file('past.safetensors', { a: [[16], [0, 32]] }))).toMatch(/run past the end/);
    expect(await openError(await file('neg.safetensors', { a: [[4], [-8, 0]] }))).toMatch(/non-negative integers/);
  });
  it('refuses the fixture truncated anywhere in its data', async () => {
    const bytes = await readFile(FIXTURE);
    for (const keep of [bytes.length - 1, Math.floor(bytes.length / 2), 5000, 9]) {
      const p = join(dir, `trunc-${keep}.safetensors`);
      await writeFile(p, bytes.subarray(0, keep));
      expect(await openError(p)).toMatch(/truncated|run past the end|not valid JSON|after the last/);
    }
  });
});

describe('SafetensorsFile on the fixture', () => {
  it('reads the header exactly and tensors by range', async () => {
    const bytes = await readFile(FIXTURE);
    const f = await SafetensorsFile.open(FIXTURE);
    try {
      const n = Number(bytes.readBigUInt64LE(0));
      expect(f.headerBytes).toEqual(new Uint8Array(bytes.subarray(8, 8 + n)));
      expect(f.headerBytes.at(-1)).toBe(0x20); // the fixture's padding survives
      expect(f.dataStart).toBe(8 + n);
      expect(f.fileSize).toBe(bytes.length);
      expect(f.metadata.format).toBe('pt');
      expect(f.tensors).toHaveLength(47);
      expect(f.tensors[0]).toEqual({ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [512, 64], dataOffsets: [0, 65536] });
      for (const t of f.tensors) {
        const got = await f.read(t.name);
        expect(got.byteOffset % 8).toBe(0);
        expect(Buffer.from(got).equals(bytes.subarray(f.dataStart + t.dataOffsets[0], f.dataStart + t.dataOffsets[1]))).toBe(true);
      }
      const name = 'model.layers.0.mlp.down_proj.weight';
      const chunks: Uint8Array[] = [];
      for await (const c of f.chunks(name, 1000)) chunks.push(c.slice());
      expect(chunks.length).toBe(Math.ceil(f.byteLength(name) / 1000));
      expect(Buffer.concat(chunks).equals(Buffer.from(await f.read(name)))).toBe(true);
      await expect(f.read('nope')).rejects.toThrow(/no tensor named "nope"/);
      await expect(f.readInto(name, new Uint8Array(3))).rejects.toThrow(/target holds 3/);
    } finally {
      await f.close();
    }
  });

  it('reads a tensor beyond the 4 GiB file offset (sparse file)', async () => {
    const big = 5 * 2 ** 30;
    const path = join(dir, 'sparse.safetensors');
    const built = buildSafetensorsHeader([
      { name: 'filler', dtype: 'U8', shape: [big] },
      { name: 'tail', dtype: 'U32', shape: [4] },
    ]);
    const h = await open(path, 'w');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(built.headerBytes.length));
    await h.write(prefix, 0, 8, 0);
    await h.write(built.headerBytes, 0, built.headerBytes.length, 8);
    const tail = new Uint32Array([1, 2, 3, 0xdeadbeef]);
    await h.write(new Uint8Array(tail.buffer), 0, 16, 8 + built.headerBytes.length + big);
    await h.close();
    const f = await SafetensorsFile.open(path);
    try {
      expect(new Uint32Array((await f.read('tail')).buffer)).toEqual(tail);
    } finally {
      await f.close();
      await rm(path);
    }
  });
});

describe('writeSafetensors', () => {
  it('round-trips tensors, metadata and chunked sources, padded to 8 bytes', async () => {
    const path = join(dir, 'w.safetensors');
    const a = new Uint8Array(new Float32Array([1, 2, 3, -0.5]).buffer);
    const b = new Uint8Array(1000).map((_, i) => i * 7);
    async function* chunked() {
      for (let i = 0; i < b.length; i += 300) yield b.subarray(i, i + 300);
    }
    await writeSafetensors(
      path,
      [
        { name: 'a', dtype: 'F32', shape: [2, 2], data: a },
        { name: 'empty', dtype: 'BF16', shape: [0, 5], data: new Uint8Array(0) },
        { name: 'b', dtype: 'U8', shape: [10, 100], data: { byteLength: 1000, chunks: chunked() } },
        { name: 'scalar', dtype: 'I64', shape: [], data: new Uint8Array(8).fill(1) },
      ],
      { hello: 'wörld' },
    );
    const f = await SafetensorsFile.open(path);
    try {
      expect(f.dataStart % 8).toBe(0);
      expect(f.metadata).toEqual({ hello: 'wörld' });
      expect(f.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
        ['a', 'F32', [2, 2]],
        ['empty', 'BF16', [0, 5]],
        ['b', 'U8', [10, 100]],
        ['scalar', 'I64', []],
      ]);
      expect(await f.read('a')).toEqual(a);
      expect(await f.read('b')).toEqual(b);
      expect((await f.read('empty')).length).toBe(0);
      expect(parseSafetensorsHeader(f.headerBytes, f.fileSize - f.dataStart, path).tensors).toEqual(f.tensors);
    } finally {
      await f.close();
    }
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('rewrites the fixture byte for byte from its own header and tensors', async () => {
    const bytes = await readFile(FIXTURE);
    const f = await SafetensorsFile.open(FIXTURE);
    const path = join(dir, 'copy.safetensors');
    try {
      const byOffset = [...f.tensors].sort((x, y) => x.dataOffsets[0] - y.dataOffsets[0]);
      const w = await SafetensorsWriter.create(path, { reserveHeaderBytes: f.headerBytes.length });
      for (const t of byOffset) expect((await w.addTensor(t, await f.read(t.name))).dataOffsets).toEqual(t.dataOffsets);
      await w.finish(f.metadata);
      const copy = await SafetensorsFile.open(path);
      for (const t of f.tensors) expect(await copy.read(t.name)).toEqual(await f.read(t.name));
      await copy.close();
      expect((await readFile(path)).subarray(8 + f.headerBytes.length).equals(bytes.subarray(f.dataStart))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('decides tensors while writing and fits the header into the reserved room', async () => {
    const path = join(dir, 'late.safetensors');
    const room = buildSafetensorsHeader([{ name: 'x', dtype: 'U8', shape: [3] }], { crc: '4294967295' }).headerBytes.length;
    const w = await SafetensorsWriter.create(path, { reserveHeaderBytes: room });
    await w.addTensor({ name: 'x', dtype: 'U8', shape: [3] }, new Uint8Array([1, 2, 3]));
    await w.finish({ crc: '7' });
    const f = await SafetensorsFile.open(path);
    expect(f.metadata).toEqual({ crc: '7' });
    expect(f.headerBytes.length).toBe(room);
    expect(await f.read('x')).toEqual(new Uint8Array([1, 2, 3]));
    await f.close();

    const w2 = await SafetensorsWriter.create(join(dir, 'late2.safetensors'), { reserveHeaderBytes: 16 });
    await w2.addTensor({ name: 'x', dtype: 'U8', shape: [3] }, new Uint8Array(3));
    await expect(w2.addTensor({ name: 'x', dtype: 'U8', shape: [1] }, new Uint8Array(1))).rejects.toThrow(/duplicate tensor name "x"/);
    await expect(w2.finish({ long: 'x'.repeat(100) })).rejects.toThrow(/needs \d+ bytes, only 16 were reserved/);
    expect((await readdir(dir)).filter((n) => n.includes('late2'))).toEqual([]);
  });

  it('keeps tensor and metadata keys named like Object.prototype members as ordinary keys', async () => {
    const path = join(dir, 'proto.safetensors');
    await writeSafetensors(
      path,
      [
        { name: '__proto__', dtype: 'U8', shape: [2], data: new Uint8Array([1, 2]) },
        { name: 'constructor', dtype: 'U8', shape: [1], data: new Uint8Array([3]) },
      ],
      JSON.parse('{"__proto__": "x", "toString": "y"}'),
    );
    const f = await SafetensorsFile.open(path);
    expect(f.tensors.map((t) => t.name)).toEqual(['__proto__', 'constructor']);
    expect(await f.read('__proto__')).toEqual(new Uint8Array([1, 2]));
    expect(Object.entries(f.metadata)).toEqual([
      ['__proto__', 'x'],
      ['toString', 'y'],
    ]);
    await f.close();
  });

  it('refuses wrong sizes and leaves no file behind', async () => {
    const path = join(dir, 'bad.safetensors');
    await expect(writeSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(8) }])).rejects.toThrow(/8 bytes given, F32 \[3\] needs 12/);
    await expect(
      writeSafetensors(path, [{ name: 'x', dtype: 'U8', shape: [3], data: { byteLength: 3, chunks: [new Uint8Array(2)] } }]),
    ).rejects.toThrow(/chunks held 2 bytes, 3 declared/);
    await expect(
      writeSafetensors(path, [
        { name: 'x', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        { name: 'x', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      ]),
    ).rejects.toThrow(/duplicate tensor name "x"/);
    expect((await readdir(dir)).filter((n) => n.includes('bad.safetensors'))).toEqual([]);
  });
});
