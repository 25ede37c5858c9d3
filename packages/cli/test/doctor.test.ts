import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

const FIXTURE = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));

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
