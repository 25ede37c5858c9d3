// TCA-TBE encoder (CPU, single thread): one histogram pass picks the window, one pass packs.

import {
  BITMAP_PLANES,
  GLOBAL_TILE,
  OUTLIER_SEGMENT_ALIGN,
  SMALL_TILES_PER_TILE,
  TILE_BITMAP_BYTES,
  TILE_ELEMENTS,
  type TcaTbeMatrix,
} from '@zipserv/format';
import { assertLittleEndian, checkBf16Matrix, checkExpBase } from './input.js';
import { encodeTileRows } from './kernels/encode-kernel.js';
import { countTileOutliers } from './kernels/histogram-kernel.js';
import { exponentHistogram, windowFromHistogram } from './window.js';

// The kernels spell the layout as literals (they must be self-contained); keep them honest.
if (GLOBAL_TILE !== 64 || TILE_ELEMENTS !== 4096 || SMALL_TILES_PER_TILE * BITMAP_PLANES * 2 !== 384 || OUTLIER_SEGMENT_ALIGN !== 16) {
  throw new Error('TCA-TBE layout constants changed: update src/codec/kernels/*');
}

/** u32 words of bitmap per global tile (64 small tiles x 3 planes x 2 halves). */
export const TILE_BITMAP_WORDS32 = TILE_BITMAP_BYTES / 4;

/** Largest segment padding per tile: a band's outlier stream never exceeds outliers + this x tiles. */
export const MAX_SEGMENT_PADDING = OUTLIER_SEGMENT_ALIGN - 1;

/** Elements of a histogram [256] outside expBase..expBase+6. */
export function outlierCount(hist: ArrayLike<number>, expBase: number): number {
  let n = 0;
  for (let e = 0; e < 256; e++) if (e < expBase || e > expBase + 6) n += hist[e]!;
  return n;
}

/** bits: [rows*cols] BF16 bit patterns, row-major. Deterministic, spec-exact (padding filler, 16-byte segments). */
export function encodeMatrix(bits: Uint16Array, rows: number, cols: number, options: { expBase?: number } = {}): TcaTbeMatrix {
  assertLittleEndian();
  const g = checkBf16Matrix(bits, rows, cols);
  const hist = exponentHistogram(bits);
  const expBase = options.expBase === undefined ? windowFromHistogram(hist).expBase : checkExpBase(options.expBase);

  const bitmaps = new BigUint64Array(g.tiles * SMALL_TILES_PER_TILE * BITMAP_PLANES); // [tiles, 64, 3] u64
  const signMantissa = new Uint8Array(g.tiles * TILE_ELEMENTS); // [tiles, 4096] u8
  const outlierOffsets = new Uint32Array(g.tiles + 1); // [tiles + 1] u32
  // Exact upper bound: every outlier plus at most 15 bytes of padding per tile.
  const stream = new Uint8Array(outlierCount(hist, expBase) + MAX_SEGMENT_PADDING * g.tiles); // [capacity] u8
  const used = encodeTileRows(
    bits,
    rows,
    cols,
    expBase,
    0,
    g.tileRows,
    new Uint32Array(bitmaps.buffer),
    signMantissa,
    stream,
    outlierOffsets.subarray(1),
  );
  const outliers = used === stream.length ? stream : stream.slice(0, used);
  return { rows, cols, expBase, bitmaps, signMantissa, outliers, outlierOffsets };
}

/** Bytes encodeMatrix would produce (all four arrays) without building them, cheap: lets callers store raw when it would not shrink. */
export function tcaTbeEncodedBytes(bits: Uint16Array, rows: number, cols: number): number {
  const g = checkBf16Matrix(bits, rows, cols);
  const { expBase } = windowFromHistogram(exponentHistogram(bits));
  const counts = new Float64Array(g.tiles); // [tiles] outliers per tile
  countTileOutliers(bits, rows, cols, expBase, counts);
  let outlierBytes = 0;
  for (let i = 0; i < g.tiles; i++) outlierBytes += Math.ceil(counts[i]! / OUTLIER_SEGMENT_ALIGN) * OUTLIER_SEGMENT_ALIGN;
  return g.tiles * (TILE_BITMAP_BYTES + TILE_ELEMENTS) + outlierBytes + (g.tiles + 1) * 4;
}
