import { decodeMatrix } from '@zipserv/codec-ref';
import { bf16ArrayToF32, tcaTbeStoredBytes } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { SyntheticModelSource, TILED_MIN_ELEMENTS } from '../src/model/synthetic-source.js';

describe('synthetic models', () => {
  it('have the exact shapes of the public configs', () => {
    const s8 = new SyntheticModelSource('synthetic:llama-3-8b');
    expect(s8.tensor('model.embed_tokens.weight')?.shape).toEqual([128256, 4096]);
    expect(s8.tensor('lm_head.weight')?.shape).toEqual([128256, 4096]);
    expect(s8.tensor('model.layers.31.self_attn.k_proj.weight')?.shape).toEqual([1024, 4096]);
    expect(s8.tensor('model.layers.31.mlp.down_proj.weight')?.shape).toEqual([4096, 14336]);
    const s1 = new SyntheticModelSource('synthetic:llama-3.2-1b');
    expect(s1.tensor('lm_head.weight')).toBeUndefined(); // tied
    expect(s1.config.ropeScaling).toMatchObject({ type: 'llama3', factor: 32 });
    const s70 = new SyntheticModelSource('synthetic:llama-3-70b');
    expect(s70.tensor('model.layers.79.mlp.gate_proj.weight')?.shape).toEqual([28672, 8192]);
    expect(() => new SyntheticModelSource('synthetic:gpt-5')).toThrow(/unknown synthetic model 'synthetic:gpt-5'; known: .*synthetic:tiny/);
  });

  it('a tiled matrix holds the same values compressed and raw, N(0, 0.02), and compresses like Gaussian BF16', async () => {
    const src = new SyntheticModelSource('synthetic:llama-3.2-1b');
    const name = 'model.layers.0.self_attn.q_proj.weight'; // [2048, 2048] = TILED_MIN_ELEMENTS
    expect(2048 * 2048).toBeGreaterThanOrEqual(TILED_MIN_ELEMENTS);
    const z = await src.readMatrix(name, 'tca-tbe');
    const r = await src.readMatrix(name, 'raw');
    expect(src.syntheticTiled).toBe(true);
    if (z.storage !== 'tca-tbe' || r.storage !== 'raw') throw new Error('unexpected storage');
    const decoded = decodeMatrix(z.matrix);
    // Buffer.equals: vitest's deep equality is far too slow for 4M elements.
    expect(Buffer.from(decoded.buffer, decoded.byteOffset, decoded.byteLength).equals(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength))).toBe(true);
    const v = bf16ArrayToF32(r.data);
    let ss = 0;
    for (const x of v) ss += x * x;
    expect(Math.sqrt(ss / v.length)).toBeCloseTo(0.02, 3);
    expect(tcaTbeStoredBytes(z.matrix) / r.data.byteLength).toBeLessThan(0.72);
  });

  it('small matrices are generated in full (real encode later), deterministically per seed', async () => {
    const a = await new SyntheticModelSource('synthetic:tiny').readMatrix('model.layers.0.mlp.up_proj.weight', 'tca-tbe');
    const b = await new SyntheticModelSource('synthetic:tiny').readMatrix('model.layers.0.mlp.up_proj.weight', 'tca-tbe');
    const c = await new SyntheticModelSource('synthetic:tiny', { seed: 9 }).readMatrix('model.layers.0.mlp.up_proj.weight', 'raw');
    if (a.storage !== 'raw' || b.storage !== 'raw' || c.storage !== 'raw') throw new Error('small synthetic matrices come raw');
    expect(a.data).toEqual(b.data);
    expect(a.data).not.toEqual(c.data);
  });
});
