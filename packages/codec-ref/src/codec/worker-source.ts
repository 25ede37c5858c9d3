// The codec worker: its protocol and its source text.
//
// The worker is started from source text (`new Worker(source, { eval: true })`) built from the
// kernels' own function text. Why: the same code must run from the built package (ESM or CJS,
// possibly re-bundled by a consumer, where no worker file sits at a known path) and from vitest
// running the TypeScript sources (where Node 20 cannot load a .ts worker). Each kernel is
// self-contained (see kernels/histogram-kernel.ts), so its compiled text runs as it is, and the
// workers execute exactly the code the main thread executes.

import { decodeRowRange, popcount32 } from './kernels/decode-kernel.js';
import { encodeTileRows } from './kernels/encode-kernel.js';
import { addExponentHistogram } from './kernels/histogram-kernel.js';

/** Exponent histogram of src[start..end). Reply: Float64Array [256]. */
export interface HistogramTask {
  kind: 'histogram';
  src: Uint16Array; // [rows*cols] BF16 bits, shared
  start: number;
  end: number;
}

/** Encode tile rows [tileRowStart, tileRowEnd) into the shared bitmaps and sign-mantissa arrays. Reply: EncodedBand. */
export interface EncodeTask {
  kind: 'encode';
  src: Uint16Array; // [rows*cols] BF16 bits, shared
  rows: number;
  cols: number;
  expBase: number;
  tileRowStart: number;
  tileRowEnd: number;
  bitmapWords: Uint32Array; // [tiles*384] u32, shared, zero-filled
  signMantissa: Uint8Array; // [tiles*4096] u8, shared, zero-filled
  outlierCapacity: number;
}

/** A band's outlier stream (transferred back) and its segment ends relative to the band. */
export interface EncodedBand {
  outliers: Uint8Array; // [>= used] u8
  used: number;
  segmentEnds: Uint32Array; // [bandTiles] u32
}

/** Decode rows [rowStart, rowEnd) into the shared output. Reply: null. */
export interface DecodeTask {
  kind: 'decode';
  bitmapWords: Uint32Array; // [tiles*384] u32, shared
  signMantissa: Uint8Array; // [tiles*4096] u8, shared
  outliers: Uint8Array; // [outlierBytes] u8, shared
  outlierOffsets: Uint32Array; // [tiles+1] u32, shared
  rows: number;
  cols: number;
  expBase: number;
  rowStart: number;
  rowEnd: number;
  out: Uint16Array; // [rows*cols] BF16 bits, shared
  outStart: number;
}

export type CodecTask = HistogramTask | EncodeTask | DecodeTask;

export type CodecReply = { ok: true; value: unknown } | { ok: false; name: string; message: string };

interface WorkerPort {
  on(event: 'message', listener: (task: CodecTask) => void): void;
  postMessage(reply: CodecReply, transfer?: ArrayBuffer[]): void;
}

interface Kernels {
  histogram: typeof addExponentHistogram;
  encode: typeof encodeTileRows;
  decode: typeof decodeRowRange;
}

/** Runs inside the worker (shipped as text: it may use only its arguments and globals). */
function zipservCodecWorkerMain(port: WorkerPort, kernels: Kernels): void {
  port.on('message', (task) => {
    try {
      if (task.kind === 'histogram') {
        const hist = new Float64Array(256);
        kernels.histogram(task.src, task.start, task.end, hist);
        port.postMessage({ ok: true, value: hist }, [hist.buffer]);
      } else if (task.kind === 'encode') {
        const outliers = new Uint8Array(task.outlierCapacity);
        const cols = Math.ceil(task.cols / 64);
        const segmentEnds = new Uint32Array((task.tileRowEnd - task.tileRowStart) * cols);
        const used = kernels.encode(
          task.src,
          task.rows,
          task.cols,
          task.expBase,
          task.tileRowStart,
          task.tileRowEnd,
          task.bitmapWords,
          task.signMantissa,
          outliers,
          segmentEnds,
        );
        port.postMessage({ ok: true, value: { outliers, used, segmentEnds } }, [outliers.buffer, segmentEnds.buffer]);
      } else {
        kernels.decode(
          task.bitmapWords,
          task.signMantissa,
          task.outliers,
          task.outlierOffsets,
          task.rows,
          task.cols,
          task.expBase,
          task.rowStart,
          task.rowEnd,
          task.out,
          task.outStart,
        );
        port.postMessage({ ok: true, value: null });
      }
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      port.postMessage({ ok: false, name: e.name, message: e.message });
    }
  });
}

let cachedSource: string | undefined;

/**
 * Script text for `new Worker(text, { eval: true })`. It runs as CommonJS or, when the parent
 * process runs with --input-type=module (workers inherit execArgv), as an ES module; so it uses
 * neither `require` nor `import`, but process.getBuiltinModule (Node >= 20.16).
 */
export function codecWorkerSource(): string {
  // Names come from the functions themselves: a bundler may have renamed them.
  cachedSource ??= [
    "'use strict';",
    popcount32.toString(),
    addExponentHistogram.toString(),
    encodeTileRows.toString(),
    decodeRowRange.toString(),
    zipservCodecWorkerMain.toString(),
    `${zipservCodecWorkerMain.name}(process.getBuiltinModule('node:worker_threads').parentPort, ` +
      `{ histogram: ${addExponentHistogram.name}, encode: ${encodeTileRows.name}, decode: ${decodeRowRange.name} });`,
  ].join('\n');
  return cachedSource;
}
