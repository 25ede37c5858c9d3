import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

/** Runs the CLI in-process and captures what it writes. */
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
    const code = await main(['node', 'zipserv', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = savedExit;
  }
}

describe('zipserv bench e2e', () => {
  it('measures zipgemm, dense and vendor in one run and writes JSON', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'zipserv-bench-'));
    try {
      const json = join(tmp, 'e2e.json');
      const r = await cli('bench', 'e2e', '--model', 'synthetic:tiny', '--backend', 'ref', '--batch', '1,2', '--prompt-len', '8', '--gen', '4', '--json', json);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/prefill tok\/s/);
      expect(r.stdout).toMatch(/batch 2: zipgemm\/dense decode/);
      const report = JSON.parse(await readFile(json, 'utf8'));
      expect(report.rows.map((x: { weights: string; batch: number }) => `${x.weights}/${x.batch}`)).toEqual([
        'zipgemm/1',
        'zipgemm/2',
        'dense/1',
        'dense/2',
        'vendor/1',
        'vendor/2',
      ]);
      for (const row of report.rows) {
        expect(row.decode_tokens_per_s).toBeGreaterThan(0);
        expect(row.prefill_tokens_per_s).toBeGreaterThan(0);
        expect(row.host_overhead_ms_per_step).toBeGreaterThanOrEqual(0);
      }
      const zip = report.rows.find((x: { weights: string }) => x.weights === 'zipgemm');
      const dense = report.rows.find((x: { weights: string }) => x.weights === 'dense');
      expect(zip.weight_bytes).toBeLessThan(dense.weight_bytes);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('rejects a bad batch list', async () => {
    const r = await cli('bench', 'e2e', '--batch', '1,x');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--batch must be a comma-separated list/);
  });
});
