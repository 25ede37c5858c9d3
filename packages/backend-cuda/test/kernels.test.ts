// GPU-only: decompression bit-exactness (all 65,536 BF16 patterns, forced window edges, the
// stories260K fixture), the embedding gather, zipgemm == dense bit for bit against a float64 oracle,
// and long-context paged attention (the flash-decoding split) against the reference backend.
import { decodeRows, encodeMatrix } from '@zipserv/codec-ref';
import { createRefBackend } from '@zipserv/codec-ref';
import { allBf16Patterns, createRng, firstBitMismatch, hasNaN, randomBf16Normal, randomF32, randomSeed, referenceGemm, relativeError } from '@zipserv/codec-ref';
import type { DeviceTensor, OpNode, WeightPath, ZipservBackendV1 } from '@zipserv/format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCudaBackend } from '../src/index.js';
import { loadFixture } from './fixture.js';
import { hasGpu, skipTitle } from './gpu-env.js';

const seed = Number(process.env.ZIPSERV_TEST_SEED ?? randomSeed());
const rng = createRng(seed);
const POISON = 0x7fd1; // bf16 NaN with a payload

describe.skipIf(!hasGpu)(`cuda kernels (seed ${seed})`, () => {
  let cuda: ZipservBackendV1;
  beforeAll(async () => {
    cuda = await createCudaBackend();
  });
  afterAll(async () => {
    await cuda?.dispose();
  });

  async function run(nodes: OpNode[], label: string): Promise<void> {
    const g = cuda.compileGraph({ nodes, label });
    try {
      await g.run();
    } finally {
      g.dispose();
    }
  }

  async function decompressOnGpu(bits: Uint16Array, rows: number, cols: number, expBase?: number): Promise<Uint16Array> {
    const weight = await cuda.uploadWeight({ storage: 'tca-tbe', matrix: encodeMatrix(bits, rows, cols, expBase === undefined ? {} : { expBase }) });
    const out = cuda.createTensor({ dtype: 'bf16', shape: [rows, cols] }, new Uint16Array(rows * cols).fill(POISON));
    try {
      await run([{ op: 'decompress', weight, out }], 'decompress');
      return (await cuda.readTensor(out)) as Uint16Array;
    } finally {
      cuda.free(out);
      cuda.free(weight);
    }
  }

  it('decompresses all 65,536 BF16 bit patterns bit for bit, at the best window and at expBase 0 and 249', async () => {
    const bits = allBf16Patterns(rng);
    for (const expBase of [undefined, 0, 249]) {
      const got = await decompressOnGpu(bits, 256, 256, expBase);
      expect(firstBitMismatch(got, bits), `expBase ${expBase ?? 'auto'}`).toBe(-1);
    }
  });

  it('decompresses every matrix of the stories260K fixture bit for bit, and gathers embedding rows', async () => {
    for (const [name, t] of loadFixture()) {
      if (t.shape.length !== 2) continue;
      const [rows, cols] = t.shape as [number, number];
      const got = await decompressOnGpu(t.bits, rows, cols);
      expect(firstBitMismatch(got, t.bits), name).toBe(-1);
    }
    const table = loadFixture().get('model.embed_tokens.weight')!;
    const [V, D] = table.shape as [number, number];
    const matrix = encodeMatrix(table.bits, V, D);
    const weight = await cuda.uploadWeight({ storage: 'tca-tbe', matrix });
    const ids = Int32Array.from([0, V - 1, 1, 17, 17, 255, 256, 511 % V]);
    const idsT = cuda.createTensor({ dtype: 'i32', shape: [ids.length] }, ids);
    const out = cuda.createTensor({ dtype: 'f32', shape: [ids.length, D] }, new Float32Array(ids.length * D).fill(Number.NaN));
    await run([{ op: 'embedding', ids: idsT, table: weight, out }], 'embedding');
    const got = new Uint32Array(((await cuda.readTensor(out)) as Float32Array).buffer);
    ids.forEach((id, n) => {
      const row = decodeRows(matrix, id, 1);
      for (let d = 0; d < D; d++) expect(got[n * D + d], `id ${id} col ${d}`).toBe((row[d]! << 16) >>> 0);
    });
    for (const h of [weight, idsT, out]) cuda.free(h);
  });

  async function matmul(x: Float32Array, N: number, bits: Uint16Array, M: number, K: number, path: WeightPath): Promise<Float32Array> {
    const storage = path === 'zipgemm' || path === 'decompress+vendor' ? 'tca-tbe' : 'raw';
    const weight = await cuda.uploadWeight(storage === 'raw' ? { storage, rows: M, cols: K, data: bits } : { storage, matrix: encodeMatrix(bits, M, K) });
    const xT = cuda.createTensor({ dtype: 'f32', shape: [N, K] }, x);
    const out = cuda.createTensor({ dtype: 'f32', shape: [N, M] }, new Float32Array(N * M).fill(Number.NaN));
    try {
      await run([{ op: 'matmul', x: xT, weight, out, path }], `matmul ${path}`);
      return (await cuda.readTensor(out)) as Float32Array;
    } finally {
      for (const h of [weight, xT, out]) cuda.free(h);
    }
  }

  it('zipgemm equals dense bit for bit and matches the float64 oracle (ragged shapes, N = 1..130)', async () => {
    const shapes: [number, number][] = [
      [172, 64],
      [32, 64],
      [64, 172],
      [512, 64],
      [300, 1000],
      [1024, 4096],
    ];
    for (const [M, K] of shapes) {
      const bits = randomBf16Normal(rng, M * K, 0.02);
      for (const N of [1, 3, 17, 64, 130]) {
        const x = randomF32(rng, N * K);
        const zip = await matmul(x, N, bits, M, K, 'zipgemm');
        const dense = await matmul(x, N, bits, M, K, 'dense');
        const what = `M=${M} K=${K} N=${N}`;
        expect(hasNaN(zip), what).toBe(false);
        expect(firstBitMismatch(new Uint32Array(zip.buffer), new Uint32Array(dense.buffer)), what).toBe(-1);
        const want = referenceGemm(x, bits, N, K, M, { roundInputToBf16: true });
        expect(relativeError(zip, want), what).toBeLessThan(1e-3);
        if (cuda.capabilities.weightPaths.includes('vendor')) {
          const vendor = await matmul(x, N, bits, M, K, 'vendor');
          expect(relativeError(vendor, want), `${what} vendor`).toBeLessThan(1e-3);
          const dv = await matmul(x, N, bits, M, K, 'decompress+vendor');
          expect(firstBitMismatch(new Uint32Array(dv.buffer), new Uint32Array(vendor.buffer)), `${what} decompress+vendor`).toBe(-1);
        }
      }
    }
  });

  it('long-context paged decode attention (flash-decoding split) matches the reference backend', async () => {
    const ref = createRefBackend();
    const H = 8;
    const Hkv = 2;
    const hd = 64;
    const blockSize = 16;
    const maxBlocks = 48; // up to 768 positions: several context splits
    const contexts = [700, 300, 1, 513];
    const S = contexts.length;
    const blocks = S * maxBlocks;
    // Shuffled block pool: sequences own scattered blocks.
    const pool = Int32Array.from({ length: blocks }, (_, i) => i);
    for (let i = blocks - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    const width = (H + 2 * Hkv) * hd;
    const qkv = randomF32(rng, S * width);
    const kc = randomF32(rng, blocks * blockSize * Hkv * hd);
    const vc = randomF32(rng, blocks * blockSize * Hkv * hd);
    const outs: Float32Array[] = [];
    for (const b of [cuda, ref]) {
      const t = (dtype: 'f32' | 'i32', shape: number[], data: Float32Array | Int32Array): DeviceTensor => b.createTensor({ dtype, shape }, data);
      const out = t('f32', [S, H * hd], new Float32Array(S * H * hd).fill(Number.NaN));
      const node: OpNode = {
        op: 'attention',
        qkv: t('f32', [S, width], qkv),
        qOffset: 0,
        kCache: t('f32', [blocks, blockSize, Hkv, hd], kc),
        vCache: t('f32', [blocks, blockSize, Hkv, hd], vc),
        blockTables: t('i32', [S, maxBlocks], pool),
        contextLens: t('i32', [S], Int32Array.from(contexts)),
        queryStarts: t('i32', [S + 1], Int32Array.from({ length: S + 1 }, (_, i) => i)),
        out,
        numHeads: H,
        numKvHeads: Hkv,
        headDim: hd,
        scale: 1 / Math.sqrt(hd),
      };
      const g = b.compileGraph({ nodes: [node], label: 'long attention' });
      await g.run();
      g.dispose();
      outs.push((await b.readTensor(out)) as Float32Array);
    }
    expect(hasNaN(outs[0]!)).toBe(false);
    expect(relativeError(outs[0]!, outs[1]!)).toBeLessThan(1e-4);
    await ref.dispose();
  });
});

if (!hasGpu) {
  describe('cuda kernels', () => {
    it.skip(skipTitle('decompression, zipgemm == dense, long-context attention'), () => {});
  });
}
