import { describe, expect, it } from 'vitest';
import { embeddedModelDir } from '../src/commands/demo.js';
import { main } from '../src/main.js';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  const savedExit = process.exitCode;
  try {
    return { code: await main(['node', 'zipserv', ...args]), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = savedExit;
  }
}

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
