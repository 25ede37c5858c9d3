import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/run-cli.js';

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
        // The reference backend cannot time graphs on a device: the column is null, not a made-up number.
        expect(row.graph_ms_per_step).toBeNull();
      }
      expect(r.stdout).toMatch(/graph ms\/step/);
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
