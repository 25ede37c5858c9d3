// TCA-TBE v1: the normative layout. SPEC.md in this package is the prose twin of this file.
//
//   W: rows x cols BF16, row-major (PyTorch nn.Linear.weight [out, in]; rows = M, cols = K)
//   padded to paddedRows x paddedCols (multiples of 64), cut into 64x64 global tiles (row-major),
//   each global tile into 64 small 8x8 tiles in Tensor-Core A-fragment order.

/** Edge of a global tile (one thread block's K step). */
export const GLOBAL_TILE = 64;
/** Edge of a small tile (one 64-bit word per bitmap; one ldmatrix 8x8 matrix). */
export const SMALL_TILE = 8;
/** Weights per global tile. */
export const TILE_ELEMENTS = GLOBAL_TILE * GLOBAL_TILE; // 4096
/** Small tiles per global tile. */
export const SMALL_TILES_PER_TILE = 64;
/** Bitmap planes per small tile (B1, B2, B3). */
export const BITMAP_PLANES = 3;
/** Bytes of bitmap per global tile: 64 small tiles x 3 planes x 8 bytes. */
export const TILE_BITMAP_BYTES = SMALL_TILES_PER_TILE * BITMAP_PLANES * 8; // 1536
/** Each global tile's outlier segment is padded to this many bytes (16-byte async copies). */
export const OUTLIER_SEGMENT_ALIGN = 16;
/** Codes 0..6 select exponent expBase + code; code 7 marks an outlier. */
export const OUTLIER_CODE = 7;
/** Number of exponents a window covers. */
export const WINDOW_SIZE = 7;
/** Largest legal expBase: the window expBase..expBase+6 must stay within 0..255, and the padding
 *  filler (exponent expBase, mantissa 0) must be finite, so expBase <= 249. */
export const MAX_EXP_BASE = 255 - (WINDOW_SIZE - 1); // 249
/** Format identifier written into container metadata. */
export const TCA_TBE_FORMAT = 'tca-tbe/1';

export interface TcaTbeGeometry {
  rows: number;
  cols: number;
  paddedRows: number;
  paddedCols: number;
  /** Global tiles down (paddedRows / 64). */
  tileRows: number;
  /** Global tiles across (paddedCols / 64). */
  tileCols: number;
  /** tileRows * tileCols. */
  tiles: number;
}

export function tcaTbeGeometry(rows: number, cols: number): TcaTbeGeometry {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`TCA-TBE needs a matrix of at least 1 x 1, got ${rows} x ${cols}`);
  }
  const tileRows = Math.ceil(rows / GLOBAL_TILE);
  const tileCols = Math.ceil(cols / GLOBAL_TILE);
  return {
    rows,
    cols,
    paddedRows: tileRows * GLOBAL_TILE,
    paddedCols: tileCols * GLOBAL_TILE,
    tileRows,
    tileCols,
    tiles: tileRows * tileCols,
  };
}

/**
 * Position of element (r, c) inside its global tile's element stream (0..4095):
 * small tile t = mt*16 + s*4 + j (mt: 16-row band, s: 16-column slice, j: A-fragment order
 * j = rowHalf + 2*colHalf), then pos = 8*(r%8) + (c%8) inside the small tile. Index = t*64 + pos.
 */
export function tileElementIndex(rowInTile: number, colInTile: number): number {
  const mt = rowInTile >> 4;
  const s = colInTile >> 4;
  const j = ((rowInTile >> 3) & 1) | (((colInTile >> 3) & 1) << 1);
  const t = mt * 16 + s * 4 + j;
  return t * 64 + (rowInTile & 7) * 8 + (colInTile & 7);
}

/** Inverse of tileElementIndex: [rowInTile, colInTile] of a stream index 0..4095. */
export function tileElementCoords(index: number): [number, number] {
  const t = index >> 6;
  const pos = index & 63;
  const mt = t >> 4;
  const s = (t >> 2) & 3;
  const j = t & 3;
  return [mt * 16 + (j & 1) * 8 + (pos >> 3), s * 16 + (j >> 1) * 8 + (pos & 7)];
}

/** Lookup table: stream index within a global tile -> rowInTile*64 + colInTile. */
export const TILE_STREAM_TO_ROW_MAJOR: Uint16Array = (() => {
  const table = new Uint16Array(TILE_ELEMENTS);
  for (let i = 0; i < TILE_ELEMENTS; i++) {
    const [r, c] = tileElementCoords(i);
    table[i] = r * GLOBAL_TILE + c;
  }
  return table;
})();

/**
 * One BF16 matrix in TCA-TBE v1, in memory. Every array is little-endian.
 *
 *   bitmaps      u64 [tiles, 64, 3]   planes B1,B2,B3 of each small tile; bit `pos` belongs to the
 *                                      element at pos; code = B1 | B2<<1 | B3<<2
 *   signMantissa u8  [tiles, 4096]    sign<<7 | mantissa of EVERY element (fixed position)
 *   outliers     u8  [outlierBytes]   exponent byte of each code-7 element, per tile in stream
 *                                      order, each tile's segment zero-padded to 16 bytes
 *   outlierOffsets u32 [tiles + 1]    byte offset of each tile's segment; last = outliers.length
 */
export interface TcaTbeMatrix {
  rows: number;
  cols: number;
  /** First exponent of the window: code c in 0..6 means exponent expBase + c. 0..249. */
  expBase: number;
  bitmaps: BigUint64Array;
  signMantissa: Uint8Array;
  outliers: Uint8Array;
  outlierOffsets: Uint32Array;
}

/** Bytes a TcaTbeMatrix occupies in its four arrays. */
export function tcaTbeStoredBytes(m: Pick<TcaTbeMatrix, 'bitmaps' | 'signMantissa' | 'outliers' | 'outlierOffsets'>): number {
  return m.bitmaps.byteLength + m.signMantissa.byteLength + m.outliers.byteLength + m.outlierOffsets.byteLength;
}

/**
 * Structural checks that need no decoding: array sizes against the shape, monotone 16-aligned
 * offsets. Throws a RangeError naming the first inconsistency. Decoders additionally check that
 * each tile's outlier count (popcount of B1&B2&B3) fits its segment.
 */
export function validateTcaTbeMatrix(m: TcaTbeMatrix): void {
  const g = tcaTbeGeometry(m.rows, m.cols);
  if (!Number.isInteger(m.expBase) || m.expBase < 0 || m.expBase > MAX_EXP_BASE) {
    throw new RangeError(`expBase ${m.expBase} outside 0..${MAX_EXP_BASE}`);
  }
  if (m.bitmaps.length !== g.tiles * SMALL_TILES_PER_TILE * BITMAP_PLANES) {
    throw new RangeError(`bitmaps hold ${m.bitmaps.length} words, shape ${m.rows}x${m.cols} needs ${g.tiles * 192}`);
  }
  if (m.signMantissa.length !== g.tiles * TILE_ELEMENTS) {
    throw new RangeError(`signMantissa holds ${m.signMantissa.length} bytes, shape needs ${g.tiles * TILE_ELEMENTS}`);
  }
  if (m.outlierOffsets.length !== g.tiles + 1) {
    throw new RangeError(`outlierOffsets holds ${m.outlierOffsets.length} entries, shape needs ${g.tiles + 1}`);
  }
  if (m.outlierOffsets[0] !== 0) throw new RangeError('outlierOffsets[0] must be 0');
  for (let i = 0; i < g.tiles; i++) {
    const a = m.outlierOffsets[i]!;
    const b = m.outlierOffsets[i + 1]!;
    if (b < a || (b - a) % OUTLIER_SEGMENT_ALIGN !== 0 || b - a > TILE_ELEMENTS + OUTLIER_SEGMENT_ALIGN) {
      throw new RangeError(`outlierOffsets[${i + 1}] = ${b} is not a valid segment end after ${a}`);
    }
  }
  if (m.outlierOffsets[g.tiles] !== m.outliers.length) {
    throw new RangeError(`outlier stream holds ${m.outliers.length} bytes, offsets end at ${m.outlierOffsets[g.tiles]}`);
  }
}
