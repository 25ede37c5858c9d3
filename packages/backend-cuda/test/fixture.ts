// The stories260K fixture's BF16 tensors (a small safetensors file: header length + JSON + data).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** models/stories260K: ZIPSERV_REPO_ROOT, else the first ancestor of this file that has it (the
 *  test files also run bundled, from .carry/gpu/, on the GPU host). */
export function fixtureDir(): string {
  const fromEnv = process.env.ZIPSERV_REPO_ROOT;
  if (fromEnv) return join(fromEnv, 'models/stories260K');
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'models/stories260K');
    if (existsSync(join(candidate, 'model.safetensors'))) return candidate;
    if (dirname(dir) === dir) throw new Error('models/stories260K not found above the test files; set ZIPSERV_REPO_ROOT');
  }
}


export interface FixtureTensor {
  shape: number[];
  /** BF16 bits, row-major. */
  bits: Uint16Array;
}

export function loadFixture(): Map<string, FixtureTensor> {
  const path = join(fixtureDir(), 'model.safetensors');
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const dataStart = 8 + headerLength;
  const out = new Map<string, FixtureTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'BF16') throw new Error(`${path}: tensor ${name} is ${info.dtype}, expected BF16`);
    const [a, b] = info.data_offsets;
    const bytes = file.subarray(dataStart + a, dataStart + b);
    // Copy: the file buffer's offset need not be 2-byte aligned.
    const bits = new Uint16Array(bytes.length / 2);
    new Uint8Array(bits.buffer).set(bytes);
    out.set(name, { shape: info.shape, bits });
  }
  return out;
}
