// The reference backend against the float64 reference math (matmul bit-exact after one f32
// rounding), its zipgemm path against dense, and its error reporting.

import { type DeviceTensor, type DeviceWeight, GraphValidationError, type OpNode, UnsupportedOpError, type ZipservBackendV1, bf16ToF32, f32ToBf16 } from '@zipserv/format';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createRefBackend, refBackendProvider } from '../src/backend/index.js';
import { encodeMatrix } from '../src/codec/index.js';
import { allBf16Patterns, createRng, firstBitMismatch, randomBf16Exponents, randomBf16Normal, randomBf16WithOutliers, randomF32, referenceGemm } from '../src/reference/index.js';

async function runNodes(backend: ZipservBackendV1, nodes: OpNode[]): Promise<void> {
  const graph = backend.compileGraph({ nodes, label: 'test' });
  await graph.run();
  graph.dispose();
}

const f32Tensor = (b: ZipservBackendV1, shape: number[], data?: Float32Array) => b.createTensor({ dtype: 'f32', shape }, data);

describe('ref backend matmul', () => {
  const shapes: [m: number, k: number, n: number][] = [
    [172, 64, 3],
    [64, 172, 17],
    [32, 64, 1],
    [65, 130, 2],
    [1, 1, 1],
  ];

  for (const [m, k, n] of shapes) {
    it(`M=${m} K=${k} N=${n}: every path equals fround(float64 reference), zipgemm == dense bit for bit`, async () => {
      const rng = createRng(m * 1000 + k * 10 + n);
      const backend = createRefBackend();
      const bits = randomBf16WithOutliers(rng, m * k, 0.02, 0.05);
      const x = randomF32(rng, n * k);
      const raw = await backend.uploadWeight({ storage: 'raw', rows: m, cols: k, data: bits });
      const packed = await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeMatrix(bits, m, k) });
      const xt = f32Tensor(backend, [n, k], x);
      const want = Float32Array.from(referenceGemm(x, bits, n, k, m));
      const results: Float32Array[] = [];
      for (const [weight, path] of [
        [packed, 'zipgemm'],
        [raw, 'dense'],
        [raw, 'vendor'],
        [packed, 'decompress+vendor'],
        [packed, 'auto'],
        [raw, 'auto'],
      ] as const) {
        const out = f32Tensor(backend, [n, m], new Float32Array(n * m).fill(Number.NaN));
        await runNodes(backend, [{ op: 'matmul', x: xt, weight, out, path }]);
        const got = (await backend.readTensor(out)) as Float32Array;
        expect(firstBitMismatch(got, want), `path ${path}`).toBe(-1);
        results.push(got);
      }
      backend.dispose();
    });
  }

  it('handles outOffset, bias and accumulate in one float64 epilogue', async () => {
    const rng = createRng(5);
    const backend = createRefBackend();
    const [m, k, n, width] = [32, 64, 3, 100];
    const bits = randomBf16Normal(rng, m * k);
    const x = randomF32(rng, n * k);
    const bias = randomF32(rng, m);
    const prior = randomF32(rng, n * width);
    const weight = await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeMatrix(bits, m, k) });
    const out = f32Tensor(backend, [n, width], prior);
    await runNodes(backend, [{ op: 'matmul', x: f32Tensor(backend, [n, k], x), weight, out, outOffset: 40, bias: f32Tensor(backend, [m], bias), accumulate: true }]);
    const got = (await backend.readTensor(out)) as Float32Array;
    const y = referenceGemm(x, bits, n, k, m);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < width; c++) {
        const inside = c >= 40 && c < 40 + m;
        const expected = inside ? Math.fround(y[r * m + c - 40]! + bias[c - 40]! + prior[r * width + c]!) : prior[r * width + c]!;
        expect(got[r * width + c]).toBe(expected);
      }
    }
  });

  it('rounds activations to BF16 when created with matmulInputPrecision bf16', async () => {
    const rng = createRng(9);
    const backend = createRefBackend({ matmulInputPrecision: 'bf16' });
    expect(backend.capabilities.matmulInputPrecision).toBe('bf16');
    const bits = randomBf16Normal(rng, 64 * 64);
    const x = randomF32(rng, 2 * 64);
    const weight = await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeMatrix(bits, 64, 64) });
    const out = f32Tensor(backend, [2, 64]);
    await runNodes(backend, [{ op: 'matmul', x: f32Tensor(backend, [2, 64], x), weight, out }]);
    const want = Float32Array.from(referenceGemm(x, bits, 2, 64, 64, { roundInputToBf16: true }));
    expect(firstBitMismatch((await backend.readTensor(out)) as Float32Array, want)).toBe(-1);
  });

  it('decodes weights whose window starts at exponent 0 or sits at the top', async () => {
    const rng = createRng(12);
    const backend = createRefBackend();
    for (const [lo, hi, scale] of [
      [1, 6, 2 ** 100],
      [240, 248, 2 ** -100],
    ] as const) {
      const bits = randomBf16Exponents(rng, 96 * 80, lo, hi, 0.3);
      const matrix = encodeMatrix(bits, 96, 80);
      expect(matrix.expBase).toBe(lo === 1 ? 0 : matrix.expBase);
      const x = randomF32(rng, 3 * 80, scale);
      const xt = f32Tensor(backend, [3, 80], x);
      const out = f32Tensor(backend, [3, 96]);
      await runNodes(backend, [{ op: 'matmul', x: xt, weight: await backend.uploadWeight({ storage: 'tca-tbe', matrix }), out, path: 'zipgemm' }]);
      expect(firstBitMismatch((await backend.readTensor(out)) as Float32Array, Float32Array.from(referenceGemm(x, bits, 3, 80, 96)))).toBe(-1);
    }
  });
});

/** The 2-D BF16 tensors of the stories260K fixture (a real trained Llama), read straight from its safetensors file. */
function fixtureMatrices(): { name: string; rows: number; cols: number; bits: Uint16Array }[] {
  const file = readFileSync(fileURLToPath(new URL('../../../models/stories260K/model.safetensors', import.meta.url)));
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const dataStart = 8 + headerLength;
  return Object.entries(header)
    .filter(([name, t]) => name !== '__metadata__' && t.dtype === 'BF16' && t.shape.length === 2)
    .map(([name, t]) => {
      const bytes = file.subarray(dataStart + t.data_offsets[0], dataStart + t.data_offsets[1]);
      const bits = new Uint16Array(bytes.length / 2);
      for (let i = 0; i < bits.length; i++) bits[i] = bytes.readUInt16LE(2 * i);
      return { name, rows: t.shape[0]!, cols: t.shape[1]!, bits };
    });
}

describe('ref backend on the stories260K fixture', () => {
  it('decompresses every matrix bit-exactly; zipgemm == dense == fround(float64) on each', async () => {
    const backend = createRefBackend();
    const rng = createRng(260);
    const matrices = fixtureMatrices();
    expect(matrices.length).toBeGreaterThanOrEqual(5 * 7 + 1);
    for (const { name, rows, cols, bits } of matrices) {
      const packed = await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeMatrix(bits, rows, cols) });
      const raw = await backend.uploadWeight({ storage: 'raw', rows, cols, data: bits });
      const decoded = backend.createTensor({ dtype: 'bf16', shape: [rows, cols] });
      const x = randomF32(rng, 3 * cols);
      const xt = f32Tensor(backend, [3, cols], x);
      const outs = [f32Tensor(backend, [3, rows]), f32Tensor(backend, [3, rows])];
      await runNodes(backend, [
        { op: 'decompress', weight: packed, out: decoded },
        { op: 'matmul', x: xt, weight: packed, out: outs[0]!, path: 'zipgemm' },
        { op: 'matmul', x: xt, weight: raw, out: outs[1]!, path: 'dense' },
      ]);
      expect(firstBitMismatch((await backend.readTensor(decoded)) as Uint16Array, bits), name).toBe(-1);
      const want = Float32Array.from(referenceGemm(x, bits, 3, cols, rows));
      for (const out of outs) expect(firstBitMismatch((await backend.readTensor(out)) as Float32Array, want), name).toBe(-1);
      for (const h of [packed, raw, decoded, xt, ...outs]) backend.free(h);
    }
    expect(backend.memoryInUse!()).toBe(0);
  });
});

describe('ref backend decompress and embedding', () => {
  it('decompresses all 65,536 BF16 patterns bit-exactly, from tca-tbe and raw weights', async () => {
    const backend = createRefBackend();
    const bits = allBf16Patterns(createRng(2));
    for (const source of [
      { storage: 'tca-tbe', matrix: encodeMatrix(bits, 256, 256) },
      { storage: 'raw', rows: 256, cols: 256, data: bits },
    ] as const) {
      const weight = await backend.uploadWeight(source);
      const out = backend.createTensor({ dtype: 'bf16', shape: [256, 256] });
      await runNodes(backend, [{ op: 'decompress', weight, out }]);
      expect(firstBitMismatch((await backend.readTensor(out)) as Uint16Array, bits)).toBe(-1);
    }
  });

  it('gathers embedding rows from raw and compressed tables', async () => {
    const rng = createRng(4);
    const backend = createRefBackend();
    const [v, d] = [130, 72];
    const bits = randomBf16Normal(rng, v * d, 0.5);
    const ids = Int32Array.of(0, 129, 64, 64, 7);
    const want = new Float32Array(ids.length * d);
    ids.forEach((id, n) => {
      for (let i = 0; i < d; i++) want[n * d + i] = bf16ToF32(bits[id * d + i]!);
    });
    for (const table of [await backend.uploadWeight({ storage: 'raw', rows: v, cols: d, data: bits }), await backend.uploadWeight({ storage: 'tca-tbe', matrix: encodeMatrix(bits, v, d) })]) {
      const out = f32Tensor(backend, [ids.length, d]);
      await runNodes(backend, [{ op: 'embedding', ids: backend.createTensor({ dtype: 'i32', shape: [ids.length] }, ids), table, out }]);
      expect(firstBitMismatch((await backend.readTensor(out)) as Float32Array, want)).toBe(-1);
    }
  });
});

describe('ref backend op plumbing (shapes, offsets, heads) against hand computations', () => {
  it('rmsnorm groups with offset/width, rope on a head range, siluMul, add, gatherRows, argmax', async () => {
    const backend = createRefBackend();
    const rng = createRng(21);
    const x = randomF32(rng, 2 * 12); // [2, 12]: columns 4..11 normalised in groups of 4
    const w = Float32Array.of(1, 2, 3, 4);
    const xt = f32Tensor(backend, [2, 12], x);
    const pos = backend.createTensor({ dtype: 'i32', shape: [2] }, Int32Array.of(5, 0));
    const gu = f32Tensor(backend, [2, 4], Float32Array.of(1, -1, 2, 3, 0, 4, 5, 6)); // [2, 2I] gate|up
    const act = f32Tensor(backend, [2, 2]);
    const sum = f32Tensor(backend, [2, 2]);
    const picked = f32Tensor(backend, [1, 2]);
    const best = backend.createTensor({ dtype: 'i32', shape: [2] });
    await runNodes(backend, [
      { op: 'rmsnorm', x: xt, weight: f32Tensor(backend, [4], w), out: xt, eps: 1e-6, offset: 4, width: 8 },
      { op: 'rope', x: xt, positions: pos, firstHead: 1, numHeads: 1, headDim: 4, theta: 100 }, // head 1 = columns 4..7
      { op: 'siluMul', x: gu, out: act },
      { op: 'add', a: act, b: act, out: sum },
      { op: 'gatherRows', x: sum, rows: backend.createTensor({ dtype: 'i32', shape: [1] }, Int32Array.of(1)), out: picked },
      { op: 'argmax', x: gu, out: best },
    ]);
    const got = (await backend.readTensor(xt)) as Float32Array;
    const want = Array.from(x);
    for (let r = 0; r < 2; r++) {
      for (let g = 4; g < 12; g += 4) {
        const group = want.slice(r * 12 + g, r * 12 + g + 4);
        const rms = Math.sqrt(group.reduce((a, v) => a + v * v, 0) / 4 + 1e-6);
        for (let i = 0; i < 4; i++) want[r * 12 + g + i] = (group[i]! / rms) * w[i]!;
      }
    }
    // Row 0, head 1 (columns 4..7) rotated by position 5: pairs (4, 6) at inv 1 and (5, 7) at inv 0.1.
    const rotate = (a: number, b: number, angle: number) => [a * Math.cos(angle) - b * Math.sin(angle), b * Math.cos(angle) + a * Math.sin(angle)];
    [want[4], want[6]] = rotate(want[4]!, want[6]!, 5);
    [want[5], want[7]] = rotate(want[5]!, want[7]!, Math.fround(5 * Math.fround(0.1)));
    for (let i = 0; i < 24; i++) expect(Math.abs(got[i]! - want[i]!), `element ${i}`).toBeLessThan(1e-5);
    const silu = (v: number) => v / (1 + Math.exp(-v));
    const acts = [silu(1) * 2, silu(-1) * 3, silu(0) * 5, silu(4) * 6];
    const actGot = (await backend.readTensor(act)) as Float32Array;
    acts.forEach((v, i) => {
      expect(actGot[i]).toBeCloseTo(v, 6);
    });
    expect(Array.from((await backend.readTensor(picked)) as Float32Array)).toEqual([Math.fround(acts[2]!) * 2, Math.fround(acts[3]!) * 2]);
    expect(Array.from((await backend.readTensor(best)) as Int32Array)).toEqual([3, 3]);
  });
});

describe('ref backend errors', () => {
  it('rejects freed handles at use, at compile and at run after compile', async () => {
    const backend = createRefBackend();
    const a = f32Tensor(backend, [2, 4]);
    const out = f32Tensor(backend, [2, 4]);
    backend.free(a);
    expect(() => backend.writeTensor(a, new Float32Array(8))).toThrow(/tensor #\d+ \[2, 4\] f32\) was freed/);
    await expect(backend.readTensor(a)).rejects.toThrow(/was freed/);
    expect(() => backend.free(a)).toThrow(/was freed/);
    expect(() => backend.compileGraph({ nodes: [{ op: 'add', a, b: out, out }] })).toThrow(/a of graph node 0 \(add\).*was freed/);
    const b = f32Tensor(backend, [2, 4]);
    const graph = backend.compileGraph({ nodes: [{ op: 'add', a: b, b: out, out }], label: 'step' });
    await graph.run();
    backend.free(b);
    await expect(graph.run()).rejects.toThrow(/graph 'step' node 0 \(add\).*was freed/);
    const w = await backend.uploadWeight({ storage: 'raw', rows: 4, cols: 4, data: new Uint16Array(16) });
    backend.free(w);
    expect(() => backend.compileGraph({ nodes: [{ op: 'matmul', x: out, weight: w, out }] })).toThrow(/weight #\d+ \[4, 4\] raw\) was freed/);
  });

  it("rejects another backend's handles even when the ids collide", () => {
    const one = createRefBackend();
    const two = createRefBackend();
    const t1 = f32Tensor(one, [4]);
    f32Tensor(two, [4]);
    expect(() => two.writeTensor(t1, new Float32Array(4))).toThrow(/was not created by this backend/);
    const forged = { kind: 'tensor', id: t1.id, dtype: 'f32', shape: [4], byteLength: 16 } as DeviceTensor;
    expect(() => one.writeTensor(forged, new Float32Array(4))).toThrow(/not created by this backend/);
  });

  it('refuses bad graphs with GraphValidationError and unsupported paths with UnsupportedOpError', async () => {
    const backend = createRefBackend({ weightPaths: ['zipgemm', 'dense'] });
    const x = f32Tensor(backend, [2, 8]);
    const out = f32Tensor(backend, [2, 5]);
    const w = await backend.uploadWeight({ storage: 'raw', rows: 5, cols: 8, data: new Uint16Array(40) });
    const badShape = f32Tensor(backend, [3, 5]);
    expect(() => backend.compileGraph({ nodes: [{ op: 'matmul', x, weight: w, out: badShape }] })).toThrow(GraphValidationError);
    expect(() => backend.compileGraph({ nodes: [{ op: 'matmul', x, weight: w, out, path: 'zipgemm' }] })).toThrow(/needs a tca-tbe weight/);
    expect(() => backend.compileGraph({ nodes: [{ op: 'matmul', x, weight: w, out, path: 'vendor' }] })).toThrow(UnsupportedOpError);
    const bits = backend.createTensor({ dtype: 'bf16', shape: [5, 8] });
    expect(() => backend.compileGraph({ nodes: [{ op: 'decompress', weight: x as unknown as DeviceWeight, out: bits }] })).toThrow('graph node 0 (decompress): weight is not a device weight');
    const ids = backend.createTensor({ dtype: 'i32', shape: [2] });
    expect(() => backend.compileGraph({ nodes: [{ op: 'embedding', ids, table: x as unknown as DeviceWeight, out: x }] })).toThrow('graph node 0 (embedding): table is not a device weight');
    const partial = createRefBackend({ ops: ['add'] });
    const p = f32Tensor(partial, [2]);
    expect(() => partial.compileGraph({ nodes: [{ op: 'siluMul', x: p, out: p }] })).toThrow(UnsupportedOpError);
  });

  it('reports bad runtime values naming the node, and corrupt or mis-sized weights at upload', async () => {
    const backend = createRefBackend();
    const table = await backend.uploadWeight({ storage: 'raw', rows: 10, cols: 4, data: new Uint16Array(40) });
    const ids = backend.createTensor({ dtype: 'i32', shape: [2] }, Int32Array.of(3, 10));
    const graph = backend.compileGraph({ nodes: [{ op: 'embedding', ids, table, out: f32Tensor(backend, [2, 4]) }], label: 'embed' });
    await expect(graph.run()).rejects.toThrow("ref backend: graph 'embed' node 0 (embedding): id 10 at row 1 is outside the table's 10 rows");
    const matrix = encodeMatrix(randomBf16WithOutliers(createRng(1), 64 * 64, 0.02, 0.1), 64, 64);
    matrix.bitmaps[0] = 0xffffffffffffffffn; // 64 more outliers than the segment holds...
    matrix.bitmaps[1] = 0xffffffffffffffffn;
    matrix.bitmaps[2] = 0xffffffffffffffffn;
    await expect(backend.uploadWeight({ storage: 'tca-tbe', matrix })).rejects.toThrow(/uploadWeight: tile 0 has \d+ outliers in its bitmaps but a \d+-byte outlier segment/);
    await expect(backend.uploadWeight({ storage: 'raw', rows: 3, cols: 3, data: new Uint16Array(8) })).rejects.toThrow(/holds 8 values, shape 3 x 3 needs 9/);
    expect(() => backend.createTensor({ dtype: 'f32', shape: [4] }, new Float32Array(3))).toThrow(/init holds 12 bytes/);
    expect(() => backend.createTensor({ dtype: 'f32', shape: [4, 0] })).toThrow('ref backend: createTensor {"dtype":"f32","shape":[4,0]}: bad dimension 0 in shape [4, 0]');
    expect(() => backend.createTensor({ dtype: 'f32', shape: [2 ** 20, 2 ** 11] })).toThrow(/exceed maxBufferBytes/);
    expect(() => backend.writeTensor(ids, new Int32Array(2), 4)).toThrow(/overruns/);
    backend.dispose();
    expect(() => f32Tensor(backend, [1])).toThrow(/after dispose/);
  });

  it('copies uploads: later host writes do not change a device weight', async () => {
    const backend = createRefBackend();
    const data = Uint16Array.of(f32ToBf16(1), f32ToBf16(2));
    const w: DeviceWeight = await backend.uploadWeight({ storage: 'raw', rows: 1, cols: 2, data });
    data.fill(0);
    const out = backend.createTensor({ dtype: 'bf16', shape: [1, 2] });
    await runNodes(backend, [{ op: 'decompress', weight: w, out }]);
    expect(Array.from((await backend.readTensor(out)) as Uint16Array)).toEqual([f32ToBf16(1), f32ToBf16(2)]);
    expect(backend.memoryInUse!()).toBe(8 + 4);
  });
});

describe('refBackendProvider', () => {
  it('is always available and creates working backends', async () => {
    expect(refBackendProvider.name).toBe('ref');
    expect(await refBackendProvider.unavailableReason()).toBeNull();
    const backend = await refBackendProvider.create({ matmulInputPrecision: 'bf16' });
    expect(backend.name).toBe('ref');
    expect(backend.capabilities.weightPaths).toEqual(['zipgemm', 'dense', 'decompress+vendor', 'vendor']);
    expect(backend.capabilities.matmulInputPrecision).toBe('bf16');
    await expect(refBackendProvider.create({ matmulInputPrecision: 'fp8' })).rejects.toThrow(/matmulInputPrecision/);
  });
});
