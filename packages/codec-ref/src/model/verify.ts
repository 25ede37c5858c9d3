// verifyModel: checks a compressed directory without writing anything: CRC-32 of every stored
// tensor, decode + SHA-256 of every tensor, SHA-256 of every restored file, and, with `against`,
// byte equality of every restored or copied file with the original directory.

import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { type WeightsFile, openWeightsFile } from './container-file.js';
import { type PoolOptions, poolDecoder, withPool } from './decoder.js';
import { listModelTree, modelFiles, resolveInput } from './paths.js';
import { type ProgressCallback, ProgressCounter } from './progress.js';
import { restoreFile } from './restore.js';

export interface VerifyOptions extends PoolOptions {
  /** The original model directory to compare the restored files with. */
  against?: string;
  onProgress?: ProgressCallback;
}

export interface VerifyProblem {
  /** Relative to the verified directory. */
  file: string;
  tensor?: string;
  problem: string;
}

export interface VerifyReport {
  dir: string;
  against: string | null;
  ok: boolean;
  /** Container files checked, tensors checked, original bytes restored. */
  files: number;
  tensors: number;
  bytes: number;
  problems: VerifyProblem[];
  seconds: number;
}

const COMPARE_CHUNK = 8 << 20;

export async function verifyModel(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const source = await resolveInput(dir);
  const against = options.against === undefined ? null : await resolveInput(options.against, 'original');
  const files = await modelFiles(source);
  const problems: VerifyProblem[] = [];
  const report = (file: string, problem: string, tensor?: string) =>
    problems.push({ file, ...(tensor !== undefined ? { tensor } : {}), problem: stripPrefixes(problem, tensor) });
  const opened = new Map<string, WeightsFile>();
  let containers = 0;
  let tensors = 0;
  let bytes = 0;
  try {
    for (const f of files) {
      if (!f.isSafetensors) continue;
      try {
        opened.set(f.rel, await openWeightsFile(f.abs));
      } catch (err) {
        report(f.rel, (err as Error).message);
      }
    }
    const total = [...opened.values()].reduce((n, w) => n + (w.container?.source.fileBytes ?? 0), 0);
    const progress = new ProgressCounter('verify', total, options.onProgress);
    await withPool(options, async (pool) => {
      for (const f of files) {
        const w = opened.get(f.rel);
        const originalPath = against ? (against.isFile ? against.path : join(against.root, f.rel)) : null;
        if (!w?.container) {
          if (originalPath && (w || !f.isSafetensors)) {
            const diff = await compareFiles(f.abs, originalPath);
            if (diff) report(f.rel, diff);
          }
          continue;
        }
        containers++;
        const original = originalPath ? await openOriginal(originalPath, w.container.source.fileBytes) : null;
        if (typeof original === 'string') report(f.rel, original);
        const handle = typeof original === 'string' ? null : original;
        const mismatched = new Set<string | null>();
        const buffer = new Uint8Array(COMPARE_CHUNK);
        try {
          await restoreFile(
            w.file,
            w.container,
            poolDecoder(pool),
            async (chunk, position, tensor) => {
              if (!handle || mismatched.has(tensor)) return;
              for (let at = 0; at < chunk.byteLength; at += COMPARE_CHUNK) {
                const part = chunk.subarray(at, at + COMPARE_CHUNK);
                const { bytesRead } = await handle.read(buffer, 0, part.byteLength, position + at);
                if (bytesRead !== part.byteLength || !Buffer.from(part).equals(buffer.subarray(0, part.byteLength))) {
                  mismatched.add(tensor);
                  report(f.rel, `differs from the original ${originalPath}`, tensor ?? undefined);
                  return;
                }
              }
            },
            {
              onTensor: (name, n) => {
                tensors++;
                bytes += n;
                progress.add(n, f.rel, name);
              },
              onTensorError: (name, err) => report(f.rel, err.message, name),
            },
          );
        } catch (err) {
          report(f.rel, (err as Error).message);
        } finally {
          await handle?.close();
        }
      }
    });
    if (containers === 0 && problems.length === 0) {
      report('.', `no zipserv container files in ${dir}: not a compressed model`);
    }
    if (against && !against.isFile && !source.isFile) {
      const have = new Set(files.map((f) => f.rel));
      for (const o of await listModelTree(against.root)) {
        if (!have.has(o.rel)) report(o.rel, `missing (present in ${options.against})`);
      }
    }
  } finally {
    await Promise.all([...opened.values()].map((w) => w.file.close()));
  }
  return {
    dir: source.path,
    against: against?.path ?? null,
    ok: problems.length === 0,
    files: containers,
    tensors,
    bytes,
    problems,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The original file opened for comparison, or why it cannot be compared. */
async function openOriginal(path: string, expectedBytes: number): Promise<FileHandle | string> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return `original ${path} is missing`;
  }
  const size = (await handle.stat()).size;
  if (size !== expectedBytes) {
    await handle.close();
    return `restores to ${expectedBytes} bytes, the original ${path} has ${size}`;
  }
  return handle;
}

/** null when the two files hold the same bytes, else what differs. */
async function compareFiles(a: string, b: string): Promise<string | null> {
  let ha: FileHandle | undefined;
  let hb: FileHandle | undefined;
  try {
    ha = await open(a, 'r');
    try {
      hb = await open(b, 'r');
    } catch {
      return `original ${b} is missing`;
    }
    const [sa, sb] = [(await ha.stat()).size, (await hb.stat()).size];
    if (sa !== sb) return `${sa} bytes, the original ${b} has ${sb}`;
    const ba = new Uint8Array(Math.min(COMPARE_CHUNK, Math.max(1, sa)));
    const bb = new Uint8Array(ba.length);
    for (let at = 0; at < sa; at += ba.length) {
      const n = Math.min(ba.length, sa - at);
      await ha.read(ba, 0, n, at);
      await hb.read(bb, 0, n, at);
      if (!Buffer.from(ba.buffer, 0, n).equals(bb.subarray(0, n))) return `differs from the original ${b} near byte ${at}`;
    }
    return null;
  } finally {
    await ha?.close();
    await hb?.close();
  }
}

/** Problems are listed per file and tensor already: drop "<path>: " and 'tensor "<name>": ' prefixes. */
function stripPrefixes(message: string, tensor: string | undefined): string {
  const m = /^\/[^:]*: (.*)$/s.exec(message);
  let text = m ? m[1]! : message;
  const prefix = `tensor "${tensor}": `;
  if (tensor !== undefined && text.startsWith(prefix)) text = text.slice(prefix.length);
  return text;
}
