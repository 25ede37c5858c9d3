// CPU benchmark of the TCA-TBE codec: `pnpm --filter @zipserv/codec-ref bench` (after build).
// Prints a table and writes <repo root>/bench/results/codec-cpu.json.
//
// Throughput is MB (1e6 bytes) of BF16 input per second: encode reads rows*cols*2 bytes, decode
// writes them. Each figure is the median of several timed samples after a warmup; a sample
// repeats a call until it lasts >= 20 ms so tiny matrices time well. Every case is checked for a
// bit-exact round trip before it is timed.
//
// Fresh memory matters: encodeMatrix returns new arrays (~0.7 x the input), and on some machines
// (VMs that back guest memory lazily) first-touching fresh pages is slower than the codec itself.
// So the bench also times the encode kernels writing into warm, reused buffers ("enc kernel"), and
// records the machine's first-touch rate. The pool is fed SharedArrayBuffer-backed input, as a
// model loader that reads tensors into shared memory would (a plain input costs one extra copy).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TcaTbeMatrix, tcaTbeStoredBytes } from '@zipserv/format';
import { decodeMatrix, encodeMatrix, tcaTbeEncodedBytes } from './codec/index.js';
import { EncoderPool } from './codec/pool.js';
import { encodeTileRows } from './codec/kernels/encode-kernel.js';
import { addExponentHistogram } from './codec/kernels/histogram-kernel.js';
import { countOutliers } from './codec/stats.js';
import { windowFromHistogram } from './codec/window.js';
import { gaussianBf16 } from './codec/synthetic.js';

interface Matrix {
  name: string;
  rows: number;
  cols: number;
  bits: Uint16Array; // [rows*cols] BF16
}

interface BenchCase {
  name: string;
  source: string;
  shape: string;
  matrices: Matrix[];
}

/** Samples per figure: more for small cases, whose samples are short and noisier. */
const SAMPLES_SMALL = 9;
const SAMPLES_LARGE = 3;
const SMALL_CASE_BYTES = 8 << 20;
let samplesPerFigure = SAMPLES_LARGE;
const MIN_SAMPLE_MS = 20;

/** Package dir is dist/..; the repo root is the nearest ancestor with pnpm-workspace.yaml. */
function repoRoot(): string {
  let dir = dirname(dirname(fileURLToPath(import.meta.url)));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('codec bench: cannot find the repository root (pnpm-workspace.yaml) above the package');
    dir = parent;
  }
  return dir;
}

function gitSha(root: string): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** The 2-D BF16 tensors of a safetensors file, grouped by name with the layer index wildcarded. */
function fixtureCases(path: string): BenchCase[] {
  const file = readFileSync(path);
  const headerBytes = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerBytes).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const groups = new Map<string, Matrix[]>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'BF16' || t.shape.length !== 2) continue;
    const start = 8 + headerBytes + t.data_offsets[0];
    // Copy: tensor data may start at an odd file offset.
    const bits = new Uint16Array(file.buffer.slice(file.byteOffset + start, file.byteOffset + 8 + headerBytes + t.data_offsets[1]));
    const key = name.replace(/\.layers\.\d+\./, '.layers.*.');
    const list = groups.get(key) ?? [];
    list.push({ name, rows: t.shape[0]!, cols: t.shape[1]!, bits });
    groups.set(key, list);
  }
  return [...groups].map(([key, matrices]) => ({
    name: key.replace(/^model\./, '').replace(/\.weight$/, ''),
    source: 'stories260K',
    shape: `${matrices[0]!.rows}x${matrices[0]!.cols}${matrices.length > 1 ? ` x${matrices.length}` : ''}`,
    matrices,
  }));
}

function syntheticCase(name: string, rows: number, cols: number, seed: number): BenchCase {
  return {
    name,
    source: 'N(0, 0.02) BF16',
    shape: `${rows}x${cols}`,
    matrices: [{ name, rows, cols, bits: gaussianBf16(rows * cols, 0.02, seed) }],
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Process CPU seconds (all threads) per call of the last timePerCall: on a shared machine,
 *  the single-thread rate per CPU-second is steadier than the wall-clock rate. */
let lastCpuSecondsPerCall = 0;

/** Median wall seconds per call of fn, after one warmup call. */
async function timePerCall(fn: () => unknown): Promise<number> {
  await fn();
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  for (let s = 0; s < samplesPerFigure; s++) {
    let calls = 0;
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    let elapsed = 0;
    do {
      await fn();
      calls++;
      elapsed = performance.now() - start;
    } while (elapsed < MIN_SAMPLE_MS);
    const cpu = process.cpuUsage(cpuStart);
    samples.push(elapsed / 1000 / calls);
    cpuSamples.push((cpu.user + cpu.system) / 1e6 / calls);
  }
  lastCpuSecondsPerCall = median(cpuSamples);
  return median(samples);
}

/** Histogram + window + packing into caller-owned, already-touched buffers: the codec's compute alone. */
function encodeIntoWarmBuffers(m: Matrix, scratch: { words: Uint32Array; signMantissa: Uint8Array; outliers: Uint8Array; ends: Uint32Array }): void {
  const hist = new Float64Array(256);
  addExponentHistogram(m.bits, 0, m.bits.length, hist);
  const { expBase } = windowFromHistogram(hist);
  // The kernel expects zero-filled outputs (padding is left untouched).
  scratch.words.fill(0);
  scratch.signMantissa.fill(0);
  encodeTileRows(m.bits, m.rows, m.cols, expBase, 0, Math.ceil(m.rows / 64), scratch.words, scratch.signMantissa, scratch.outliers, scratch.ends);
}

/** MB/s at which this process can allocate and first-touch 64 MiB (median of 3). */
function firstTouchMBps(): number {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    new Uint8Array(64 << 20).fill(1);
    rates.push((64 * 1.048576) / ((performance.now() - start) / 1000));
  }
  return Math.round(median(rates));
}

function toShared(bits: Uint16Array): Uint16Array {
  const shared = new Uint16Array(new SharedArrayBuffer(bits.byteLength));
  shared.set(bits);
  return shared;
}

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

async function main(): Promise<void> {
  const root = repoRoot();
  const loadAtStart = loadavg();
  const maxThreads = availableParallelism();
  const threadCounts = Array.from({ length: maxThreads }, (_, i) => i + 1);
  const pools = threadCounts.map((threads) => new EncoderPool({ threads }));

  const cases: BenchCase[] = [
    ...fixtureCases(join(root, 'models/stories260K/model.safetensors')),
    syntheticCase('llama3-8b o_proj', 4096, 4096, 1),
    syntheticCase('llama3-8b qkv_proj', 6144, 4096, 2),
    syntheticCase('llama3-8b gate_proj (half of gate+up)', 14336, 4096, 3),
    syntheticCase('llama3-8b down_proj', 4096, 14336, 4),
  ];

  const results = [];
  const mbps = (bytes: number, seconds: number) => Math.round(bytes / seconds / 1e6);
  console.log(`codec CPU bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${maxThreads} threads, Node ${process.version}`);
  const firstTouch = firstTouchMBps();
  console.log(`fresh memory first touch: ${firstTouch} MB/s`);
  // "cpu" columns: MB per CPU-second of the single-thread call (steadier on a busy machine).
  const head = [
    'case',
    'shape',
    'enc MB/s',
    'cpu',
    'kernel',
    'cpu',
    ...threadCounts.map((t) => `pool${t}`),
    'dec MB/s',
    'cpu',
    ...threadCounts.map((t) => `pool${t}`),
    'size MB/s',
    'ratio',
    'bits/w',
    'outl %',
  ];
  const rowsOut: string[][] = [];
  for (const c of cases) {
    const bytes = c.matrices.reduce((n, m) => n + m.bits.byteLength, 0);
    samplesPerFigure = bytes < SMALL_CASE_BYTES ? SAMPLES_SMALL : SAMPLES_LARGE;
    const encoded: TcaTbeMatrix[] = c.matrices.map((m) => encodeMatrix(m.bits, m.rows, m.cols));
    for (let i = 0; i < encoded.length; i++) {
      const m = c.matrices[i]!;
      if (!sameBytes(decodeMatrix(encoded[i]!), m.bits)) throw new Error(`codec bench: ${m.name} does not round-trip`);
      const pooled = await pools[pools.length - 1]!.encode(m.bits, m.rows, m.cols);
      if (!sameBytes(pooled.signMantissa, encoded[i]!.signMantissa) || !sameBytes(pooled.outliers, encoded[i]!.outliers)) {
        throw new Error(`codec bench: ${m.name}: pool and encodeMatrix differ`);
      }
    }
    const encodeSingle = await timePerCall(() => {
      for (const m of c.matrices) encodeMatrix(m.bits, m.rows, m.cols);
    });
    const encodeSingleCpu = lastCpuSecondsPerCall;
    const largest = encoded.reduce((a, m) => (m.signMantissa.length > a.signMantissa.length ? m : a));
    const scratch = {
      words: new Uint32Array(largest.bitmaps.length * 2),
      signMantissa: new Uint8Array(largest.signMantissa.length),
      outliers: new Uint8Array(largest.signMantissa.length),
      ends: new Uint32Array(largest.outlierOffsets.length),
    };
    const encodeKernel = await timePerCall(() => {
      for (const m of c.matrices) encodeIntoWarmBuffers(m, scratch);
    });
    const encodeKernelCpu = lastCpuSecondsPerCall;
    const sharedInputs = c.matrices.map((m) => ({ ...m, bits: toShared(m.bits) }));
    const encodePool: Record<string, number> = {};
    for (const pool of pools) {
      encodePool[pool.threads] = mbps(
        bytes,
        await timePerCall(async () => {
          for (const m of sharedInputs) await pool.encode(m.bits, m.rows, m.cols);
        }),
      );
    }
    const decodeOut = c.matrices.map((m) => new Uint16Array(m.rows * m.cols));
    const decodeSingle = await timePerCall(() => {
      for (let i = 0; i < encoded.length; i++) decodeMatrix(encoded[i]!, decodeOut[i]);
    });
    const decodeSingleCpu = lastCpuSecondsPerCall;
    // Pool decode reads pool-encoded (shared) matrices into reused shared outputs, as a runtime
    // decompressing layer after layer into one scratch buffer would.
    const sharedEncoded = await Promise.all(sharedInputs.map((m) => pools[0]!.encode(m.bits, m.rows, m.cols)));
    const sharedOut = sharedInputs.map((m) => new Uint16Array(new SharedArrayBuffer(m.bits.byteLength)));
    const decodePool: Record<string, number> = {};
    for (const pool of pools) {
      decodePool[pool.threads] = mbps(
        bytes,
        await timePerCall(async () => {
          for (let i = 0; i < sharedEncoded.length; i++) await pool.decode(sharedEncoded[i]!, sharedOut[i]);
        }),
      );
    }
    const sizeOnly = await timePerCall(() => {
      for (const m of c.matrices) tcaTbeEncodedBytes(m.bits, m.rows, m.cols);
    });
    const stored = encoded.reduce((n, m) => n + tcaTbeStoredBytes(m), 0);
    const weights = bytes / 2;
    const outliers = encoded.reduce((n, m) => n + countOutliers(m), 0);
    const result = {
      name: c.name,
      source: c.source,
      shape: c.shape,
      matrices: c.matrices.length,
      originalBytes: bytes,
      storedBytes: stored,
      ratio: stored / bytes,
      bitsPerWeight: (stored * 8) / weights,
      outlierFraction: outliers / weights,
      expBase: encoded.map((m) => m.expBase),
      encodeMBps: { singleThread: mbps(bytes, encodeSingle), kernelWarmBuffers: mbps(bytes, encodeKernel), pool: encodePool },
      decodeMBps: { singleThread: mbps(bytes, decodeSingle), pool: decodePool },
      perCpuSecondMB: {
        encodeSingleThread: mbps(bytes, encodeSingleCpu),
        encodeKernelWarmBuffers: mbps(bytes, encodeKernelCpu),
        decodeSingleThread: mbps(bytes, decodeSingleCpu),
      },
      encodedBytesEstimateMBps: mbps(bytes, sizeOnly),
    };
    results.push(result);
    rowsOut.push([
      c.name,
      c.shape,
      String(result.encodeMBps.singleThread),
      String(result.perCpuSecondMB.encodeSingleThread),
      String(result.encodeMBps.kernelWarmBuffers),
      String(result.perCpuSecondMB.encodeKernelWarmBuffers),
      ...threadCounts.map((t) => String(encodePool[t])),
      String(result.decodeMBps.singleThread),
      String(result.perCpuSecondMB.decodeSingleThread),
      ...threadCounts.map((t) => String(decodePool[t])),
      String(result.encodedBytesEstimateMBps),
      result.ratio.toFixed(4),
      result.bitsPerWeight.toFixed(2),
      (result.outlierFraction * 100).toFixed(2),
    ]);
    console.log(`  done: ${c.name}`);
  }
  await Promise.all(pools.map((p) => p.close()));

  const widths = head.map((h, i) => Math.max(h.length, ...rowsOut.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of rowsOut) console.log(line(r));

  const report = {
    benchmark: 'codec-cpu',
    command: 'pnpm --filter @zipserv/codec-ref bench',
    date: new Date().toISOString(),
    gitSha: gitSha(root),
    machine: {
      cpu: cpus()[0]?.model ?? null,
      cores: maxThreads,
      memoryBytes: totalmem(),
      platform: platform(),
      node: process.version,
      firstTouchMBps: firstTouch,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadavg(),
    },
    method: `MB = 1e6 bytes of BF16 input; median of ${SAMPLES_SMALL} (cases under ${SMALL_CASE_BYTES >> 20} MiB) or ${SAMPLES_LARGE} samples (each >= ${MIN_SAMPLE_MS} ms) after a warmup; enc: encodeMatrix (fresh output arrays); kernel: the same passes into warm reused buffers; pool: EncoderPool with 1..${maxThreads} worker threads on SharedArrayBuffer input (default minParallelElements, so matrices below 1 Mi elements run on the calling thread); decode writes into a preallocated buffer (pool: a reused shared one)`,
    cases: results,
  };
  const outDir = join(root, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const outPath = join(outDir, 'codec-cpu.json');
  writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${outPath}`);
}

main().catch((error: unknown) => {
  console.error(`codec bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
