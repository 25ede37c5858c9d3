// Weights on the device. A weight is cut into parts of whole 64-row tile rows so that every array
// of a part fits one storage binding (maxStorageBufferBindingSize) and one buffer (maxBufferSize);
// kernels run once per part. Small weights have one part.

import {
  GLOBAL_TILE,
  TILE_BITMAP_BYTES,
  TILE_ELEMENTS,
  type DeviceWeight,
  type TcaTbeMatrix,
  type WeightSource,
  tcaTbeGeometry,
  validateTcaTbeMatrix,
} from '@zipserv/format';
import type { DeviceLimits } from './device.js';
import { BufferUsage } from './webgpu-constants.js';

export interface WeightPart {
  /** First weight row of the part (a multiple of 64). */
  rowStart: number;
  /** Rows of the true matrix in this part. */
  rows: number;
  /** tca-tbe: u32 pairs (lo, hi) of the part's bitmaps. */
  bitmaps?: GPUBuffer;
  /** tca-tbe: sign-mantissa bytes, 4 per u32. */
  signMantissa?: GPUBuffer;
  /** tca-tbe: the part's outlier bytes (4 per u32, zero-padded). */
  outliers?: GPUBuffer;
  /**
   * tca-tbe: segment offsets rebased to the part's outlier buffer, [partTiles + 1], then the rank table
   * [partTiles, 32] (smallTileRanks): ZipGEMM finds an outlier's rank with one load instead of a per-tile
   * workgroup prefix sum. Kernels that only need the offsets read the first partTiles + 1 words.
   */
  outlierOffsets?: GPUBuffer;
  /** raw: BF16 pairs, row-major [rows, cols]. */
  raw?: GPUBuffer;
}

export interface WeightRecord {
  handle: DeviceWeight;
  storage: 'tca-tbe' | 'raw';
  rows: number;
  cols: number;
  expBase: number;
  tileCols: number;
  parts: WeightPart[];
  freed: boolean;
}

const roundUp4 = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);

/** Tile rows per part so that the largest array of a part fits a binding and a buffer. */
export function tileRowsPerPart(storage: 'tca-tbe' | 'raw', cols: number, limits: DeviceLimits): number {
  const tileCols = Math.ceil(cols / GLOBAL_TILE);
  // Worst outlier stream: every element an outlier plus the segment padding.
  const perTileRow =
    storage === 'raw' ? GLOBAL_TILE * cols * 2 : tileCols * Math.max(TILE_ELEMENTS + 16, TILE_BITMAP_BYTES);
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  return Math.floor(cap / perTileRow);
}

function makeBuffer(device: GPUDevice, label: string, bytes: Uint8Array): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    size: roundUp4(bytes.byteLength),
    usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC,
    mappedAtCreation: true,
  });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

const bytesOf = (a: ArrayBufferView, start = 0, end = a.byteLength) =>
  new Uint8Array(a.buffer, a.byteOffset + start, end - start);

/** Uploads a weight, cut into parts. Throws a RangeError naming the weight when it cannot fit. */
export function uploadWeightParts(
  device: GPUDevice,
  source: WeightSource,
  limits: DeviceLimits,
  label: string,
): Omit<WeightRecord, 'handle' | 'freed'> & { deviceBytes: number } {
  if (source.storage === 'tca-tbe') return uploadTca(device, source.matrix, limits, label);
  const { rows, cols, data } = source;
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`${label}: raw weight needs rows, cols >= 1, got ${rows} x ${cols}`);
  }
  if (!(data instanceof Uint16Array) || data.length !== rows * cols) {
    throw new RangeError(`${label}: raw weight ${rows}x${cols} needs ${rows * cols} BF16 values, got ${data?.length}`);
  }
  const perPart = tileRowsPerPart('raw', cols, limits);
  if (perPart < 1) throw new RangeError(`${label}: one 64-row band of ${cols} columns exceeds the device's binding limit`);
  const parts: WeightPart[] = [];
  let deviceBytes = 0;
  for (let r0 = 0; r0 < rows; r0 += perPart * GLOBAL_TILE) {
    const r1 = Math.min(rows, r0 + perPart * GLOBAL_TILE);
    const raw = makeBuffer(device, `${label}.raw[${r0}:${r1}]`, bytesOf(data, r0 * cols * 2, r1 * cols * 2));
    deviceBytes += raw.size;
    parts.push({ rowStart: r0, rows: r1 - r0, raw });
  }
  return { storage: 'raw', rows, cols, expBase: 0, tileCols: Math.ceil(cols / GLOBAL_TILE), parts, deviceBytes };
}

/**
 * Per small tile s of each tile in [t0, t1): the number of outliers in the tile's small tiles before s, the rank
 * base of s's outliers within the tile's outlier segment (< 4096), as u16 pairs: word 32t + s/2, bits 16(s & 1).
 * 128 bytes per 4096 weights (0.25 bits per weight).
 */
export function smallTileRanks(bitmaps: BigUint64Array, t0: number, t1: number): Uint32Array {
  const out = new Uint32Array((t1 - t0) * 32);
  const words = new Uint32Array(bitmaps.buffer, bitmaps.byteOffset, bitmaps.length * 2); // little-endian: lo, hi
  const popcount = (v: number) => {
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  };
  for (let t = t0; t < t1; t++) {
    let prefix = 0;
    for (let s = 0; s < 64; s++) {
      const b = (t * 64 + s) * 6; // planes B1, B2, B3 as (lo, hi) word pairs
      const lo = popcount(words[b]! & words[b + 2]! & words[b + 4]!);
      const hi = popcount(words[b + 1]! & words[b + 3]! & words[b + 5]!);
      out[(t - t0) * 32 + (s >> 1)]! |= prefix << ((s & 1) * 16);
      prefix += lo + hi;
    }
  }
  return out;
}

function uploadTca(device: GPUDevice, m: TcaTbeMatrix, limits: DeviceLimits, label: string) {
  try {
    validateTcaTbeMatrix(m);
  } catch (err) {
    throw new RangeError(`${label}: ${(err as Error).message}`);
  }
  const g = tcaTbeGeometry(m.rows, m.cols);
  const perPart = tileRowsPerPart('tca-tbe', m.cols, limits);
  if (perPart < 1) throw new RangeError(`${label}: one 64-row band of ${m.cols} columns exceeds the device's binding limit`);
  const parts: WeightPart[] = [];
  let deviceBytes = 0;
  for (let tr0 = 0; tr0 < g.tileRows; tr0 += perPart) {
    const tr1 = Math.min(g.tileRows, tr0 + perPart);
    const t0 = tr0 * g.tileCols;
    const t1 = tr1 * g.tileCols;
    const o0 = m.outlierOffsets[t0]!;
    const o1 = m.outlierOffsets[t1]!;
    const offsets = new Uint32Array(t1 - t0 + 1 + (t1 - t0) * 32); // offsets, then the rank table
    for (let t = t0; t <= t1; t++) offsets[t - t0] = m.outlierOffsets[t]! - o0;
    offsets.set(smallTileRanks(m.bitmaps, t0, t1), t1 - t0 + 1);
    const tag = `${label}[tiles ${t0}:${t1}]`;
    const part: WeightPart = {
      rowStart: tr0 * GLOBAL_TILE,
      rows: Math.min(m.rows, tr1 * GLOBAL_TILE) - tr0 * GLOBAL_TILE,
      bitmaps: makeBuffer(device, `${tag}.bitmaps`, bytesOf(m.bitmaps, t0 * TILE_BITMAP_BYTES, t1 * TILE_BITMAP_BYTES)),
      signMantissa: makeBuffer(device, `${tag}.signMantissa`, bytesOf(m.signMantissa, t0 * TILE_ELEMENTS, t1 * TILE_ELEMENTS)),
      outliers: makeBuffer(device, `${tag}.outliers`, bytesOf(m.outliers, o0, o1)),
      outlierOffsets: makeBuffer(device, `${tag}.outlierOffsets`, bytesOf(offsets)),
    };
    deviceBytes += part.bitmaps!.size + part.signMantissa!.size + part.outliers!.size + part.outlierOffsets!.size;
    parts.push(part);
  }
  return { storage: 'tca-tbe' as const, rows: m.rows, cols: m.cols, expBase: m.expBase, tileCols: g.tileCols, parts, deviceBytes };
}

export function destroyWeight(record: WeightRecord): void {
  for (const p of record.parts) {
    p.bitmaps?.destroy();
    p.signMantissa?.destroy();
    p.outliers?.destroy();
    p.outlierOffsets?.destroy();
    p.raw?.destroy();
  }
  record.parts = [];
}

/** The buffers of a part in kernel binding order (bm, sm, ol, oo) or (raw). */
export function partBuffers(record: WeightRecord, part: WeightPart): GPUBuffer[] {
  return record.storage === 'raw'
    ? [part.raw!]
    : [part.bitmaps!, part.signMantissa!, part.outliers!, part.outlierOffsets!];
}
