import { describe, expect, it } from 'vitest';
import { FIXTURE, cli } from './helpers/run-cli.js';

describe('zipserv run', () => {
  it('--json prints one object with the generated tokens, text and stats (fixture greedy from BOS)', async () => {
    const r = await cli('run', FIXTURE, '--prompt-ids', '1', '-n', '10', '--temperature', '0', '--backend', 'ref', '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const out = JSON.parse(lines[0]!);
    expect(out.tokens).toEqual([461, 461, 401, 401, 401, 461, 378, 455, 473, 456]);
    expect(out.text).toBeNull();
    expect(out.finishReason).toBe('length');
    expect(out.backend).toBe('ref');
    expect(out.weights).toBe('zipgemm');
    for (const k of ['prefill_tokens_per_s', 'decode_tokens_per_s', 'time_to_first_token_s', 'time_per_output_token_s', 'e2e_latency_s', 'weight_bytes', 'kv_bytes']) {
      expect(typeof out.stats[k], k).toBe('number');
    }
  });

  it('streams ids to stdout for a model without a tokenizer; starts from BOS by default', async () => {
    const r = await cli('run', FIXTURE, '-n', '4', '--temperature', '0', '--backend', 'ref', '--weights', 'dense');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('461 461 401 401');
    expect(r.stderr).toMatch(/\[length\] 1 prompt \+ 4 tokens/);
  });

  it('seeded sampling is reproducible', async () => {
    const a = await cli('run', 'synthetic:tiny', '-n', '6', '--seed', '3', '--temperature', '1.2', '--backend', 'ref', '--json');
    const b = await cli('run', 'synthetic:tiny', '-n', '6', '--seed', '3', '--temperature', '1.2', '--backend', 'ref', '--json');
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout).tokens).toEqual(JSON.parse(b.stdout).tokens);
  });

  it('bad input: one line, no stack, non-zero exit', async () => {
    const cases = [
      ['run', '/nonexistent/model', '--backend', 'ref'],
      ['run', FIXTURE, '--prompt', 'hello', '--backend', 'ref'],
      ['run', FIXTURE, '--prompt-ids', '1,x', '--backend', 'ref'],
      ['run', FIXTURE, '--prompt-ids', '9999', '--backend', 'ref'],
      ['run', 'synthetic:nope', '--backend', 'ref'],
      ['run', FIXTURE, '--backend', 'nosuch'],
    ];
    for (const args of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).not.toMatch(/^\s+at .+:\d+:\d+/m);
    }
    const noTok = await cli('run', FIXTURE, '--prompt', 'hello', '--backend', 'ref');
    expect(noTok.stderr).toMatch(/no tokenizer.json/);
    const badId = await cli('run', FIXTURE, '--prompt-ids', '9999', '--backend', 'ref');
    expect(badId.stderr).toMatch(/9999 is outside the vocabulary/);
    const badBackend = await cli('run', FIXTURE, '--backend', 'nosuch');
    expect(badBackend.stderr).toMatch(/backend 'nosuch'/);
    const badWhere = await cli('run', FIXTURE, '--backend', 'ref', '--prefill-matmuls', 'gpu');
    expect(badWhere.code).not.toBe(0);
    expect(badWhere.stderr).toMatch(/--prefill-matmuls/);
  });

  it('--prefill-matmuls fused and vendor give the same tokens for a prompt longer than 64 tokens', async () => {
    const ids = Array.from({ length: 80 }, (_, i) => String(1 + (i % 60))).join(',');
    const runWith = async (where: string) => {
      const r = await cli('run', FIXTURE, '--prompt-ids', ids, '-n', '4', '--temperature', '0', '--backend', 'ref', '--prefill-matmuls', where, '--json');
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).tokens as number[];
    };
    const vendor = await runWith('vendor');
    expect(vendor.length).toBe(4);
    expect(await runWith('fused')).toEqual(vendor);
  });
});
