// compress / decompress / verify / inspect through main(argv), in-process, plus one spawned smoke
// test of the built CLI when dist/ exists.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';

const FIXTURE = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const STACK_LINE = /^\s+at .+:\d+:\d+/m;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, capturing what it writes. */
async function zipserv(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(['node', 'zipserv', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

/** A failure: non-zero exit, one `zipserv: ...` line on stderr matching `message`, no stack. */
function expectFailure(r: Run, message: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr).not.toMatch(STACK_LINE);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^zipserv: /);
  expect(lines[0]).toMatch(message);
}

let dir: string;
let compressed: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zipserv-cli-'));
  compressed = join(dir, 'c');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('zipserv compress | decompress | verify | inspect', () => {
  it('round-trips the fixture with human output', async () => {
    const c = await zipserv('compress', FIXTURE, '-o', compressed, '--threads', '2');
    expect(c.code).toBe(0);
    expect(c.stderr).toBe(''); // no TTY: no progress bar
    expect(c.stdout).toMatch(/model\.safetensors\s+26\/47\s+525\.0 kB\s+43\d\.\d kB\s+0\.8\d\d/);
    expect(c.stdout).toMatch(/^compressed 26 of 47 tensors, 3 other files copied: .* ratio 0\.8\d\d, [\d.]+ MB\/s/m);

    const d = await zipserv('decompress', compressed, '-o', join(dir, 'd'));
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/restored 1 file byte for byte/);
    for (const name of await readdir(FIXTURE)) {
      expect((await readFile(join(dir, 'd', name))).equals(await readFile(join(FIXTURE, name))), name).toBe(true);
    }

    const v = await zipserv('verify', compressed, '--against', FIXTURE);
    expect(v).toMatchObject({ code: 0, stderr: '' });
    expect(v.stdout).toMatch(/^OK: 1 container file, 47 tensors, .* identical to /);

    const i = await zipserv('inspect', compressed);
    expect(i.code).toBe(0);
    expect(i.stdout).toMatch(/model\.embed_tokens\.weight\s+BF16\s+\[512, 64\]\s+tca-tbe\s+[\d.]+ kB\s+11\.\d\d\s+[\d.]+%\s+\d+\.\.\d+/);
    expect(i.stdout).toMatch(/47 tensors \(26 tca-tbe\) in 1 file: original 525\.0 kB, stored 43\d\.\d kB, ratio 0\.8\d\d\n$/);
  });

  it('prints the documented JSON', async () => {
    const i = JSON.parse((await zipserv('inspect', compressed, '--json')).stdout);
    expect(i.ratio).toBeCloseTo(i.storedBytes / i.originalBytes, 12);
    expect(i.tensors).toHaveLength(47);
    for (const t of i.tensors) {
      expect(Object.keys(t)).toEqual(['file', 'name', 'dtype', 'shape', 'storage', 'originalBytes', 'storedBytes', 'bitsPerWeight', 'outlierFraction', 'window']);
    }
    expect(i.tensors[0]).toMatchObject({ name: 'model.embed_tokens.weight', storage: 'tca-tbe', window: { exponents: [expect.any(Number), expect.any(Number)] } });

    const o = JSON.parse((await zipserv('inspect', FIXTURE, '--json')).stdout);
    expect(o).toMatchObject({ compressed: false, ratio: 1 });
    expect(o.tensors.every((t: { storage: string }) => t.storage === 'raw')).toBe(true);

    const c = await zipserv('compress', FIXTURE, '-o', join(dir, 'cj'), '--json', '--threads', '1');
    const s = JSON.parse(c.stdout);
    expect(s).toMatchObject({ originalBytes: 525032, files: [{ file: 'model.safetensors', tensors: 47, compressedTensors: 26 }] });
    expect(s.ratio).toBeLessThan(0.85);

    const v = JSON.parse((await zipserv('verify', compressed, '--json')).stdout);
    expect(v).toMatchObject({ ok: true, files: 1, tensors: 47, problems: [] });
  });

  it('refuses bad inputs with one clear line, and leaves nothing behind', async () => {
    const file = join(compressed, 'model.safetensors');
    const bytes = await readFile(file);

    const truncated = join(dir, 'truncated');
    await cp(compressed, truncated, { recursive: true });
    await writeFile(join(truncated, 'model.safetensors'), bytes.subarray(0, bytes.length >> 1));
    expectFailure(await zipserv('decompress', truncated, '-o', join(dir, 'o1')), /truncated.*model\.safetensors|model\.safetensors.*(truncated|past the end)/);
    expect(existsSync(join(dir, 'o1'))).toBe(false);

    const flipped = join(dir, 'flipped');
    await cp(compressed, flipped, { recursive: true });
    const copy = Buffer.from(bytes);
    copy[copy.length >> 1]! ^= 1;
    await writeFile(join(flipped, 'model.safetensors'), copy);
    const v = await zipserv('verify', flipped);
    expectFailure(v, /verification failed: 1 problem; first: model\.safetensors: tensor ".+": CRC-32 mismatch/);
    expect(v.stdout).toMatch(/CRC-32 mismatch/); // the problem table
    expectFailure(await zipserv('decompress', flipped, '-o', join(dir, 'o2')), /CRC-32 mismatch/);
    expect(existsSync(join(dir, 'o2'))).toBe(false);

    const absurd = join(dir, 'absurd');
    await mkdir(absurd);
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(1n << 60n);
    await writeFile(join(absurd, 'model.safetensors'), Buffer.concat([header, Buffer.from('{}')]));
    expectFailure(await zipserv('compress', absurd, '-o', join(dir, 'o3')), /absurd\/model\.safetensors: not a safetensors file: header length \d+ exceeds/);

    const garbage = join(dir, 'garbage');
    await mkdir(garbage);
    await writeFile(join(garbage, 'model.safetensors'), Buffer.from('GIF89a this is not a model at all, just some bytes'));
    expectFailure(await zipserv('compress', garbage, '-o', join(dir, 'o4')), /garbage\/model\.safetensors: /);
    expectFailure(await zipserv('inspect', garbage), /garbage\/model\.safetensors: /);

    expectFailure(await zipserv('compress', join(dir, 'missing'), '-o', join(dir, 'o5')), /input not found: .*missing/);
    expectFailure(await zipserv('compress', FIXTURE, '-o', FIXTURE), /is the input/);
    expectFailure(await zipserv('compress', FIXTURE, '-o', compressed), /exists and is not empty/);
    expectFailure(await zipserv('compress', compressed, '-o', join(dir, 'o6')), /already a zipserv container/);
    expectFailure(await zipserv('compress', FIXTURE, '-o', join(dir, 'o7'), '--threads', 'many'), /--threads must be an integer/);
    expectFailure(await zipserv('decompress', FIXTURE, '-o', join(dir, 'o8')), /not a zipserv-compressed model/);
    expectFailure(await zipserv('verify', join(dir, 'nowhere')), /input not found/);
    const usage = await zipserv('compress', FIXTURE);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toMatch(/required option '-o, --output <dir>'/);

    // Output onto the input, through a copy: refused, input untouched.
    const input = join(dir, 'in');
    await cp(FIXTURE, input, { recursive: true });
    expectFailure(await zipserv('compress', input, '-o', input), /is the input/);
    expect((await readFile(join(input, 'model.safetensors'))).equals(await readFile(join(FIXTURE, 'model.safetensors')))).toBe(true);

    expect((await readdir(dir)).filter((n) => /^o\d$/.test(n) || n.includes('zipserv-tmp'))).toEqual([]);
  });

  it('has help with examples', async () => {
    for (const command of ['compress', 'decompress', 'verify', 'inspect']) {
      const h = await zipserv(command, '--help');
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`Usage: zipserv ${command}`));
      expect(h.stdout).toMatch(/Examples:\n {2}\$ zipserv /);
    }
  });
});

describe.runIf(existsSync(BIN))('the built CLI (dist/bin.js)', () => {
  it('inspects the fixture as JSON and fails cleanly on a missing input', () => {
    const ok = spawnSync(process.execPath, [BIN, 'inspect', FIXTURE, '--json'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ compressed: false, ratio: 1 });
    const bad = spawnSync(process.execPath, [BIN, 'verify', join(FIXTURE, 'nope')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^zipserv: input not found: .*nope\n$/);
  });
});
