import { describe, expect, it } from 'vitest';
import { embeddedModelDir } from '../src/commands/demo.js';
import { cli } from './helpers/run-cli.js';

describe('zipserv demo (the README main job)', () => {
  it('finds the embedded model', () => {
    expect(embeddedModelDir()).toMatch(/models[/\\]stories260K$/);
  });

  it('compresses, verifies bit-exact and generates identical tokens from compressed and dense weights', async () => {
    const r = await cli('demo', '--backend', 'ref', '-n', '16', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.verified).toBe(true);
    expect(out.identical).toBe(true);
    expect(out.ratio).toBeGreaterThan(0.5);
    expect(out.ratio).toBeLessThan(0.9);
    expect(out.paths.map((p: { weights: string }) => p.weights)).toEqual(['zipgemm', 'dense']);
    // The float32 Hugging Face reference's first ten greedy ids (fixture README).
    expect(out.paths[0].tokens.slice(0, 10)).toEqual([461, 461, 401, 401, 401, 461, 378, 455, 473, 456]);
    expect(out.paths[0].decode_tokens_per_s).toBeGreaterThan(0);
  });

  it('refuses a missing model directory with one line', async () => {
    const r = await cli('demo', '--model', '/nonexistent/model', '--backend', 'ref');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^zipserv: /);
  });
});
