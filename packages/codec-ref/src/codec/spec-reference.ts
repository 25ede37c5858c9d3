// A literal, slow transcription of SPEC.md sections 1-3, element by element with BigInt bitmaps.
// Not exported from the package: the tests hold the fast kernels to it byte for byte.

import {
  GLOBAL_TILE,
  OUTLIER_CODE,
  OUTLIER_SEGMENT_ALIGN,
  TILE_ELEMENTS,
  type TcaTbeMatrix,
  bf16Exponent,
  bf16FromParts,
  bf16SignMantissa,
  tcaTbeGeometry,
  tileElementCoords,
  tileElementIndex,
} from '@zipserv/format';

/** Encodes with a given window, following the spec's wording. */
export function encodeMatrixBySpec(bits: Uint16Array, rows: number, cols: number, expBase: number): TcaTbeMatrix {
  const g = tcaTbeGeometry(rows, cols);
  const codes = new Uint8Array(g.tiles * TILE_ELEMENTS); // [tiles, 4096] code per stream index; padding stays 0
  const exponents = new Uint8Array(g.tiles * TILE_ELEMENTS); // [tiles, 4096]
  const signMantissa = new Uint8Array(g.tiles * TILE_ELEMENTS); // [tiles, 4096]; padding stays 0
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = bits[r * cols + c]!;
      const gt = Math.floor(r / GLOBAL_TILE) * g.tileCols + Math.floor(c / GLOBAL_TILE);
      const e = gt * TILE_ELEMENTS + tileElementIndex(r % GLOBAL_TILE, c % GLOBAL_TILE);
      const exponent = bf16Exponent(x);
      codes[e] = exponent >= expBase && exponent <= expBase + 6 ? exponent - expBase : OUTLIER_CODE;
      exponents[e] = exponent;
      signMantissa[e] = bf16SignMantissa(x);
    }
  }
  const bitmaps = new BigUint64Array(g.tiles * 64 * 3); // [tiles, 64, 3]
  const segments: number[][] = [];
  for (let gt = 0; gt < g.tiles; gt++) {
    const segment: number[] = [];
    for (let t = 0; t < 64; t++) {
      for (let plane = 0; plane < 3; plane++) {
        let word = 0n;
        for (let pos = 0; pos < 64; pos++) {
          if ((codes[gt * TILE_ELEMENTS + t * 64 + pos]! >> plane) & 1) word |= 1n << BigInt(pos);
        }
        bitmaps[(gt * 64 + t) * 3 + plane] = word;
      }
    }
    for (let e = 0; e < TILE_ELEMENTS; e++) {
      if (codes[gt * TILE_ELEMENTS + e] === OUTLIER_CODE) segment.push(exponents[gt * TILE_ELEMENTS + e]!);
    }
    while (segment.length % OUTLIER_SEGMENT_ALIGN !== 0) segment.push(0);
    segments.push(segment);
  }
  const outlierOffsets = new Uint32Array(g.tiles + 1);
  for (let gt = 0; gt < g.tiles; gt++) outlierOffsets[gt + 1] = outlierOffsets[gt]! + segments[gt]!.length;
  const outliers = Uint8Array.from(segments.flat());
  return { rows, cols, expBase, bitmaps, signMantissa, outliers, outlierOffsets };
}

/** Decodes following the spec's wording (rank of an outlier = outliers before it in its tile). */
export function decodeMatrixBySpec(m: TcaTbeMatrix): Uint16Array {
  const g = tcaTbeGeometry(m.rows, m.cols);
  const out = new Uint16Array(m.rows * m.cols);
  for (let gt = 0; gt < g.tiles; gt++) {
    let rank = 0;
    for (let e = 0; e < TILE_ELEMENTS; e++) {
      const t = e >> 6;
      const pos = e & 63;
      let code = 0;
      for (let plane = 0; plane < 3; plane++) {
        const word = m.bitmaps[(gt * 64 + t) * 3 + plane]!;
        // bit pos of the u64 word, read from its 32-bit half (keeps this reference reasonably quick)
        const half = pos < 32 ? Number(word & 0xffffffffn) : Number(word >> 32n);
        code |= ((half >>> (pos & 31)) & 1) << plane;
      }
      const exponent = code === OUTLIER_CODE ? m.outliers[m.outlierOffsets[gt]! + rank++]! : m.expBase + code;
      const [rowInTile, colInTile] = tileElementCoords(e);
      const r = Math.floor(gt / g.tileCols) * GLOBAL_TILE + rowInTile;
      const c = (gt % g.tileCols) * GLOBAL_TILE + colInTile;
      if (r < m.rows && c < m.cols) out[r * m.cols + c] = bf16FromParts(m.signMantissa[gt * TILE_ELEMENTS + e]!, exponent);
    }
  }
  return out;
}
