import { describe, expect, it } from 'vitest';
import { FIXTURE, cli } from './helpers/run-cli.js';

describe('zipserv doctor', () => {
  it('--json lists every backend with a reason when unavailable, and describes a model dir', async () => {
    const r = await cli('doctor', FIXTURE, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.node).toBe(process.version);
    const names = report.backends.map((b: { name: string }) => b.name);
    expect(names).toEqual(expect.arrayContaining(['cuda', 'webgpu', 'ref']));
    const ref = report.backends.find((b: { name: string }) => b.name === 'ref');
    expect(ref).toEqual({ name: 'ref', available: true, reason: null });
    for (const b of report.backends) if (!b.available) expect(typeof b.reason).toBe('string');
    expect(report.model).toMatchObject({ format: 'huggingface', tensors: 47, compressedTensors: 0, supported: true, architecture: 'LlamaForCausalLM' });
  });

  it('human output names each backend', async () => {
    const r = await cli('doctor');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+ref\s+ok$/m);
    expect(r.stdout).toMatch(/^\s+cuda\s/m);
  });

  it('a missing model dir is one clear line', async () => {
    const r = await cli('doctor', '/nonexistent/dir');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/dir/);
  });
});
