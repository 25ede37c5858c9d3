import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compressModel } from '@zipserv/codec-ref';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';

const FIXTURE = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
// Greedy from BOS by a float32 Hugging Face Llama forward pass (models/stories260K/README.md).
const HF_GREEDY_10 = [461, 461, 401, 401, 401, 461, 378, 455, 473, 456];

describe('stories260K fixture, greedy from BOS on the ref backend', () => {
  let tmp: string;
  let compressedDir: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'zipserv-runtime-'));
    compressedDir = join(tmp, 'compressed');
    await compressModel(FIXTURE, compressedDir, { threads: 1 });
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const greedy74 = async (model: string, weights: 'zipgemm' | 'dense' | 'vendor') => {
    const engine = await createEngine({ model, backend: 'ref', weights, maxBatch: 1, maxContext: 128, encoderThreads: 1 });
    try {
      const r = await engine.generate({ promptIds: [1], maxTokens: 74, temperature: 0, ignoreEos: true }).result;
      return { tokens: r.tokens, info: engine.info };
    } finally {
      await engine.dispose();
    }
  };

  it('matches the float32 HF ids and continues identically across zipgemm, dense, vendor and a compressed copy', async () => {
    const zip = await greedy74(FIXTURE, 'zipgemm');
    expect(zip.tokens.slice(0, 10)).toEqual(HF_GREEDY_10);
    expect(zip.tokens.length).toBe(74);
    expect(zip.info.load.compressedMatrices).toBeGreaterThan(0);
    // BF16 source: q|k|v and gate|up of each of the 5 layers are fused into one matrix each.
    expect(zip.info.load.fusedMatrices).toBe(10);
    const dense = await greedy74(FIXTURE, 'dense');
    expect(dense.tokens).toEqual(zip.tokens);
    const vendor = await greedy74(FIXTURE, 'vendor');
    expect(vendor.tokens).toEqual(zip.tokens);
    const fromCompressed = await greedy74(compressedDir, 'zipgemm');
    expect(fromCompressed.info.compressedSource).toBe(true);
    // Nothing fuses from the compressed copy without re-encoding: its 32x64 k/v projections stay raw (TCA-TBE
    // would be larger) and gate has 172 rows (a stacked matrix may only pad its last part). Same tokens regardless.
    expect(fromCompressed.info.load.fusedMatrices).toBe(0);
    expect(fromCompressed.tokens).toEqual(zip.tokens);
    const decodedOnHost = await greedy74(compressedDir, 'dense');
    expect(decodedOnHost.tokens).toEqual(zip.tokens);
  });
});
