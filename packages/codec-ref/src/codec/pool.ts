// EncoderPool: TCA-TBE encoding and decoding spread over worker threads.
//
// A matrix is cut into bands of whole 64-row tile rows, one per worker. Input and the two large
// outputs (bitmaps, sign-mantissa) live in SharedArrayBuffers, so workers read and write them in
// place; only each band's small outlier stream travels back (transferred) and is stitched with
// rebased offsets. Encoding runs in two rounds: band histograms (merged to choose the window),
// then band packing. A non-shared input is copied once into shared memory; pass a
// SharedArrayBuffer-backed array to avoid that copy. Results are SharedArrayBuffer-backed.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  BITMAP_PLANES,
  GLOBAL_TILE,
  SMALL_TILES_PER_TILE,
  TILE_ELEMENTS,
  type TcaTbeMatrix,
  tcaTbeGeometry,
  validateTcaTbeMatrix,
} from '@zipserv/format';
import { decodeMatrix } from './decode.js';
import { MAX_SEGMENT_PADDING, encodeMatrix, outlierCount } from './encode.js';
import { assertLittleEndian, checkBf16Matrix, checkExpBase } from './input.js';
import { type CodecReply, type CodecTask, type EncodedBand, codecWorkerSource } from './worker-source.js';
import { windowFromHistogram } from './window.js';

export interface EncoderPoolOptions {
  /** Worker threads; default os.availableParallelism(). */
  threads?: number;
  /** Matrices with fewer elements are coded on the calling thread (a worker round trip costs
   *  more than coding them). Default 1 Mi elements; 0 sends everything to the workers. */
  minParallelElements?: number;
}

interface Job {
  task: CodecTask;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  /** Bytes of shared buffers handed to this worker since it started (see RECYCLE_SHARED_BYTES). */
  sharedBytes: number;
  /** Set by the worker's 'error' event, reported when it exits. */
  failure: Error | undefined;
}

/** [start, end) tile-row ranges, as equal as possible, at most `parts` of them. */
export function splitTileRows(tileRows: number, parts: number): Array<{ start: number; end: number }> {
  const n = Math.max(1, Math.min(parts, tileRows));
  const bands: Array<{ start: number; end: number }> = [];
  for (let i = 0; i < n; i++) bands.push({ start: Math.floor((i * tileRows) / n), end: Math.floor(((i + 1) * tileRows) / n) });
  return bands;
}

function shared<T extends Uint8Array | Uint16Array | Uint32Array>(a: T, make: (buffer: SharedArrayBuffer) => T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const copy = make(new SharedArrayBuffer(a.byteLength));
  copy.set(a);
  return copy;
}

/**
 * A worker's isolate keeps its handles on the shared buffers it was sent until its own GC runs, and
 * it allocates too little to GC often: the buffers of every matrix it ever saw stay alive (measured:
 * RSS grew ~54 MB per 4096x4096 encode). So a worker that has been sent this many bytes is retired
 * when it goes idle and a fresh one takes its place (a start costs ~30 ms).
 */
const RECYCLE_SHARED_BYTES = 512 * 2 ** 20;

function sharedBytesOf(task: CodecTask): number {
  let n = 0;
  for (const v of Object.values(task)) {
    if (ArrayBuffer.isView(v) && v.buffer instanceof SharedArrayBuffer) n += v.byteLength;
  }
  return n;
}

/** Worker-thread pool. Large matrices are split into bands of 64-row tile rows across workers and stitched (offsets rebased). threads default: os.availableParallelism(). */
export class EncoderPool {
  readonly threads: number;
  readonly minParallelElements: number;
  #slots: Slot[] = [];
  #queue: Job[] = [];
  #closed = false;

  constructor(options: EncoderPoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`EncoderPool threads must be an integer >= 1, got ${threads}`);
    const minParallelElements = options.minParallelElements ?? 1 << 20;
    if (!(minParallelElements >= 0)) throw new RangeError(`EncoderPool minParallelElements must be >= 0, got ${minParallelElements}`);
    this.threads = threads;
    this.minParallelElements = minParallelElements;
  }

  /** Same result as encodeMatrix(bits, rows, cols, options), byte for byte. */
  async encode(bits: Uint16Array, rows: number, cols: number, options: { expBase?: number } = {}): Promise<TcaTbeMatrix> {
    this.#checkOpen();
    assertLittleEndian();
    const g = checkBf16Matrix(bits, rows, cols);
    if (rows * cols < this.minParallelElements) return encodeMatrix(bits, rows, cols, options);

    const src = shared(bits, (b) => new Uint16Array(b)); // [rows*cols] BF16 bits
    const bands = splitTileRows(g.tileRows, this.threads);
    const hists = await Promise.all(
      bands.map(
        (b) =>
          this.#run({ kind: 'histogram', src, start: b.start * GLOBAL_TILE * cols, end: Math.min(b.end * GLOBAL_TILE, rows) * cols }) as Promise<Float64Array>,
      ),
    );
    const hist = new Float64Array(256); // [256] exponent counts of the whole matrix
    for (const h of hists) for (let e = 0; e < 256; e++) hist[e]! += h[e]!;
    const expBase = options.expBase === undefined ? windowFromHistogram(hist).expBase : checkExpBase(options.expBase);

    const bitmaps = new BigUint64Array(new SharedArrayBuffer(g.tiles * SMALL_TILES_PER_TILE * BITMAP_PLANES * 8)); // [tiles, 64, 3] u64
    const signMantissa = new Uint8Array(new SharedArrayBuffer(g.tiles * TILE_ELEMENTS)); // [tiles, 4096] u8
    const bitmapWords = new Uint32Array(bitmaps.buffer); // [tiles*384] u32
    const parts = await Promise.all(
      bands.map(
        (b, i) =>
          this.#run({
            kind: 'encode',
            src,
            rows,
            cols,
            expBase,
            tileRowStart: b.start,
            tileRowEnd: b.end,
            bitmapWords,
            signMantissa,
            outlierCapacity: outlierCount(hists[i]!, expBase) + MAX_SEGMENT_PADDING * (b.end - b.start) * g.tileCols,
          }) as Promise<EncodedBand>,
      ),
    );

    // Stitch the bands' outlier streams; their segment ends are band-relative.
    let total = 0;
    for (const part of parts) total += part.used;
    const outliers = new Uint8Array(total); // [outlierBytes] u8
    const outlierOffsets = new Uint32Array(g.tiles + 1); // [tiles + 1] u32
    let base = 0;
    let tile = 0;
    for (const part of parts) {
      outliers.set(part.outliers.subarray(0, part.used), base);
      for (const end of part.segmentEnds) outlierOffsets[++tile] = base + end;
      base += part.used;
    }
    return { rows, cols, expBase, bitmaps, signMantissa, outliers, outlierOffsets };
  }

  /**
   * Same result as decodeMatrix(m, out); the same checks, the same errors. Without `out` the
   * result is SharedArrayBuffer-backed; a SharedArrayBuffer-backed `out` is written in place
   * (reuse it to skip allocating), any other `out` receives a copy.
   */
  async decode(m: TcaTbeMatrix, out?: Uint16Array /* [rows*cols] */): Promise<Uint16Array> {
    this.#checkOpen();
    assertLittleEndian();
    validateTcaTbeMatrix(m);
    const { rows, cols } = m;
    if (out !== undefined && (!(out instanceof Uint16Array) || out.length !== rows * cols)) {
      throw new RangeError(`EncoderPool.decode: output must be a Uint16Array of ${rows * cols} values, got ${out?.length ?? typeof out}`);
    }
    if (rows * cols < this.minParallelElements) return decodeMatrix(m, out);

    const g = tcaTbeGeometry(rows, cols);
    const words = new Uint32Array(m.bitmaps.buffer, m.bitmaps.byteOffset, m.bitmaps.length * 2);
    const bitmapWords = shared(words, (b) => new Uint32Array(b)); // [tiles*384] u32
    const signMantissa = shared(m.signMantissa, (b) => new Uint8Array(b)); // [tiles*4096] u8
    const outliers = shared(m.outliers, (b) => new Uint8Array(b)); // [outlierBytes] u8
    const outlierOffsets = shared(m.outlierOffsets, (b) => new Uint32Array(b)); // [tiles+1] u32
    const target = out?.buffer instanceof SharedArrayBuffer ? out : new Uint16Array(new SharedArrayBuffer(rows * cols * 2)); // [rows*cols] BF16 bits
    await Promise.all(
      splitTileRows(g.tileRows, this.threads).map((b) => {
        const rowStart = b.start * GLOBAL_TILE;
        return this.#run({
          kind: 'decode',
          bitmapWords,
          signMantissa,
          outliers,
          outlierOffsets,
          rows,
          cols,
          expBase: m.expBase,
          rowStart,
          rowEnd: Math.min(b.end * GLOBAL_TILE, rows),
          out: target,
          outStart: rowStart * cols,
        });
      }),
    );
    if (out !== undefined && out !== target) out.set(target);
    return out ?? target;
  }

  /** Terminates the workers; pending and later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new Error('EncoderPool is closed');
    for (const job of this.#queue.splice(0)) job.reject(closed);
    const slots = this.#slots.splice(0);
    for (const slot of slots) slot.job?.reject(closed);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('EncoderPool is closed');
  }

  #run(task: CodecTask): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('EncoderPool is closed'));
      this.#queue.push({ task, resolve, reject });
      this.#pump();
    });
  }

  /** Hands queued jobs to idle workers, starting workers up to `threads`. */
  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.job === undefined);
      if (slot === undefined) {
        if (this.#slots.length >= this.threads) return;
        slot = this.#spawn();
      }
      const job = this.#queue.shift()!;
      slot.job = job;
      slot.sharedBytes += sharedBytesOf(job.task);
      // Referenced only while busy: an idle pool never keeps the process alive.
      slot.worker.ref();
      slot.worker.postMessage(job.task);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(codecWorkerSource(), { eval: true });
    worker.unref();
    const slot: Slot = { worker, job: undefined, failure: undefined, sharedBytes: 0 };
    worker.on('message', (reply: CodecReply) => {
      const job = slot.job;
      slot.job = undefined;
      worker.unref();
      if (slot.sharedBytes >= RECYCLE_SHARED_BYTES) {
        // Retire it (see RECYCLE_SHARED_BYTES); the exit handler must not treat this as a failure.
        this.#slots.splice(this.#slots.indexOf(slot), 1);
        void worker.terminate();
      }
      if (job !== undefined) {
        if (reply.ok) job.resolve(reply.value);
        else job.reject(reply.name === 'RangeError' ? new RangeError(reply.message) : new Error(reply.message));
      }
      this.#pump();
    });
    worker.on('error', (error) => {
      slot.failure = error;
    });
    worker.on('exit', (code) => {
      const index = this.#slots.indexOf(slot);
      if (index < 0) return; // closed: jobs already rejected
      this.#slots.splice(index, 1);
      slot.job?.reject(new Error(`EncoderPool worker stopped: ${slot.failure?.message ?? `exit code ${code}`}`));
      slot.job = undefined;
      this.#pump();
    });
    this.#slots.push(slot);
    return slot;
  }
}
