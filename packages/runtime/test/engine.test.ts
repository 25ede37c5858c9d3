import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, createEngine } from '../src/engine/engine.js';
import { SyntheticModelSource } from '../src/model/synthetic-source.js';
import type { ZipservBackendV1 } from '@zipserv/format';
import { referenceLogits, relErr } from './reference-llama.js';

// synthetic:tiny: GQA 4/2, head_dim 32, llama3 RoPE scaling, untied head, FFN 200, vocab 320.
describe('engine on synthetic:tiny (ref backend)', () => {
  let zip: Engine;
  let dense: Engine;
  beforeAll(async () => {
    zip = await createEngine({ model: 'synthetic:tiny', backend: 'ref', weights: 'zipgemm', maxBatch: 4, maxContext: 96, kvBlockSize: 8, maxStepTokens: 16, encoderThreads: 1 });
    dense = await createEngine({ model: 'synthetic:tiny', backend: 'ref', weights: 'dense', maxBatch: 4, maxContext: 96, kvBlockSize: 8, maxStepTokens: 16 });
  });
  afterAll(async () => {
    await zip?.dispose();
    await dense?.dispose();
  });

  it('times a step graph alone where the backend can: null where it cannot, refused while requests run', async () => {
    await zip.generate({ promptIds: [1, 2, 3], maxTokens: 3, temperature: 0, ignoreEos: true }).result;
    expect(await zip.timeStepGraph(1)).toBeNull(); // the reference backend has no timeGraph
    type Timer = NonNullable<ZipservBackendV1['timeGraph']>;
    const backend = zip.backend as { timeGraph?: Timer };
    const calls: Array<Parameters<Timer>> = [];
    backend.timeGraph = async (graph, options) => {
      calls.push([graph, options]);
      return { medianMs: 1.25, samplesMs: [1.25] };
    };
    try {
      expect(await zip.timeStepGraph(1)).toBe(1.25); // the one-token (decode) bucket's graph
      expect(calls).toHaveLength(1);
      expect(calls[0]![1]).toEqual({ warmup: 3, iterations: 20 });
      expect(await zip.timeStepGraph(64)).toBeNull(); // no step of that size has run
      const running = zip.generate({ promptIds: [4, 5], maxTokens: 2, temperature: 0, ignoreEos: true });
      await expect(zip.timeStepGraph(1)).rejects.toThrow(/in flight/);
      await running.result;
    } finally {
      delete backend.timeGraph;
    }
  });

  it('uploads compressed matrices in zipgemm mode and raw ones in dense mode', () => {
    expect(zip.info.load.compressedMatrices).toBeGreaterThan(0);
    expect(zip.info.load.rawMatrices).toBe(0);
    expect(dense.info.load.compressedMatrices).toBe(0);
    expect(zip.info.weight_bytes).toBeLessThan(dense.info.weight_bytes);
    expect(zip.info.load.syntheticTiled).toBe(false);
  });

  it('teacher-forced logits match an independent float64 forward pass at every position', async () => {
    const ids = [1, 17, 300, 5, 5, 42, 99, 250, 3, 7, 11, 13, 200, 100, 64, 32, 16, 8, 4, 2];
    const src = new SyntheticModelSource('synthetic:tiny');
    const ref = await referenceLogits(src, src.config, ids);
    const got = await zip.scoreTokens(ids);
    expect(got.length).toBe(ids.length);
    for (let t = 0; t < ids.length; t++) expect(relErr(got[t]!, ref[t]!), `position ${t}`).toBeLessThan(1e-5);
    // zipgemm and dense read the same BF16 values: bit-identical on the reference backend.
    const d = await dense.scoreTokens(ids);
    for (let t = 0; t < ids.length; t++) expect(d[t]).toEqual(got[t]);
  });

  it('batching several requests (prefill chunks mixed with decode) gives the same tokens as running each alone', async () => {
    const prompts = [[1, 2, 3], [1, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220], [1], [7, 8, 9, 10, 11]];
    const alone: number[][] = [];
    for (const p of prompts) alone.push((await zip.generate({ promptIds: p, maxTokens: 12, temperature: 0, ignoreEos: true }).result).tokens);
    const together = await Promise.all(prompts.map((p) => zip.generate({ promptIds: p, maxTokens: 12, temperature: 0, ignoreEos: true }).result));
    expect(together.map((r) => r.tokens)).toEqual(alone);
    // Sampled requests are reproducible by seed whatever shares the batch.
    const sampledAlone = (await zip.generate({ promptIds: prompts[1]!, maxTokens: 12, temperature: 0.8, topP: 0.9, seed: 5, ignoreEos: true }).result).tokens;
    const mixed = await Promise.all([
      zip.generate({ promptIds: prompts[0]!, maxTokens: 12, temperature: 1, seed: 1, ignoreEos: true }).result,
      zip.generate({ promptIds: prompts[1]!, maxTokens: 12, temperature: 0.8, topP: 0.9, seed: 5, ignoreEos: true }).result,
    ]);
    expect(mixed[1]!.tokens).toEqual(sampledAlone);
    expect(zip.freeKvBlocks).toBe(zip.info.kvBlocks);
  });

  it('greedy generation equals the argmax of teacher-forced logits', async () => {
    const prompt = [1, 33, 44];
    const r = await dense.generate({ promptIds: prompt, maxTokens: 8, temperature: 0, ignoreEos: true }).result;
    const logits = await dense.scoreTokens([...prompt, ...r.tokens]);
    const argmaxes = logits.slice(prompt.length - 1, -1).map((row) => row.indexOf(Math.max(...row)));
    expect(argmaxes).toEqual(r.tokens);
  });

  it('streams token events, then a done event with stats', async () => {
    const events: string[] = [];
    let result: unknown;
    for await (const ev of zip.generate({ promptIds: [1, 2], maxTokens: 5, temperature: 0, ignoreEos: true })) {
      if (ev.type === 'token') events.push(`t${ev.tokenId}`);
      else if (ev.type === 'done') result = ev.result;
    }
    expect(events.length).toBe(5);
    expect(result).toMatchObject({ finishReason: 'length', text: null, stats: { prompt_tokens: 2, completion_tokens: 5 } });
    const stats = (result as { stats: Record<string, number> }).stats;
    for (const k of ['prefill_tokens_per_s', 'decode_tokens_per_s', 'time_to_first_token_s', 'time_per_output_token_s', 'e2e_latency_s', 'weight_bytes', 'kv_bytes', 'host_overhead_ms_per_step']) {
      expect(stats[k], k).toBeGreaterThan(0);
    }
  });

  it('stops at EOS and at extra stop token ids', async () => {
    const free = await zip.generate({ promptIds: [1, 2, 3], maxTokens: 6, temperature: 0, ignoreEos: true }).result;
    const stopAt = free.tokens[3]!;
    const r = await zip.generate({ promptIds: [1, 2, 3], maxTokens: 6, temperature: 0, stopTokenIds: [stopAt] }).result;
    expect(r.finishReason).toBe('stop');
    expect(r.tokens).toEqual(free.tokens.slice(0, free.tokens.indexOf(stopAt)));
  });

  it('cancellation ends a request with abort and frees its KV blocks', async () => {
    const controller = new AbortController();
    const stream = zip.generate({ promptIds: [1, 2, 3], maxTokens: 80, temperature: 0, ignoreEos: true, signal: controller.signal });
    let n = 0;
    for await (const ev of stream) {
      if (ev.type === 'token' && ++n === 3) controller.abort();
    }
    const r = await stream.result;
    expect(r.finishReason).toBe('abort');
    expect(r.tokens.length).toBeLessThan(80);
    expect(zip.freeKvBlocks).toBe(zip.info.kvBlocks);
    const pre = new AbortController();
    pre.abort();
    expect((await zip.generate({ promptIds: [1], maxTokens: 4, signal: pre.signal }).result).finishReason).toBe('abort');
  });

  it('rejects bad requests with clear messages', () => {
    expect(() => zip.generate({ promptIds: [] })).toThrow(/empty/);
    expect(() => zip.generate({ promptIds: [1, 999] })).toThrow(/999 is outside the vocabulary 0..319/);
    expect(() => zip.generate({ prompt: 'hi' })).toThrow(/no tokenizer.json/);
    expect(() => zip.generate({ promptIds: Array(96).fill(1) })).toThrow(/no room in the context of 96/);
    expect(() => zip.generate({ promptIds: [1], topP: 2 })).toThrow(/topP/);
  });
});
