// Decodes one 64x64 global tile of a TCA-TBE matrix straight to float32, row-major: the CPU's
// stand-in for ZipGEMM's decode-in-registers. The bitmaps are read as pairs of 32-bit words (lo, hi)
// of each little-endian u64, so no BigInt arithmetic sits on the hot path.

import { GLOBAL_TILE, OUTLIER_SEGMENT_ALIGN, SMALL_TILES_PER_TILE, TILE_ELEMENTS, type TcaTbeMatrix } from '@zipserv/format';

/** u32 words of bitmap per global tile: 64 small tiles x 3 planes x (lo, hi). */
const TILE_BITMAP_WORDS = SMALL_TILES_PER_TILE * 3 * 2;

/** The u64 bitmaps of a matrix as little-endian u32 words [tiles, 64, 3, 2] (lo, hi). */
export function bitmapWords(m: TcaTbeMatrix): Uint32Array {
  return new Uint32Array(m.bitmaps.buffer, m.bitmaps.byteOffset, m.bitmaps.length * 2);
}

function popcount32(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Outliers (code 7 = B1 & B2 & B3) in global tile `gt`. */
export function tileOutlierCount(words: Uint32Array, gt: number): number {
  let count = 0;
  for (let w = gt * TILE_BITMAP_WORDS; w < (gt + 1) * TILE_BITMAP_WORDS; w += 6) {
    count += popcount32(words[w]! & words[w + 2]! & words[w + 4]!) + popcount32(words[w + 1]! & words[w + 3]! & words[w + 5]!);
  }
  return count;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Checks that every tile's outlier segment has exactly roundUp16(outlier count) bytes (SPEC.md §3),
 * so a decoder can never read another tile's outliers. Throws a RangeError naming the tile.
 */
export function checkOutlierSegments(m: TcaTbeMatrix, words = bitmapWords(m)): void {
  const tiles = m.outlierOffsets.length - 1;
  for (let gt = 0; gt < tiles; gt++) {
    const count = tileOutlierCount(words, gt);
    const segment = m.outlierOffsets[gt + 1]! - m.outlierOffsets[gt]!;
    if (segment !== roundUp(count, OUTLIER_SEGMENT_ALIGN)) {
      throw new RangeError(`tile ${gt} has ${count} outliers in its bitmaps but a ${segment}-byte outlier segment`);
    }
  }
}

/** f32 bits of sign+mantissa byte `sm`: sign to bit 31, mantissa to bits 22..16. */
const SIGN_MANTISSA_F32_BITS: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let sm = 0; sm < 256; sm++) table[sm] = (((sm & 0x80) << 24) | ((sm & 0x7f) << 16)) >>> 0;
  return table;
})();

/**
 * tile[64 * 64] f32, row-major (rowInTile * 64 + colInTile) = the BF16 values of global tile `gt`,
 * padding included (it decodes to the finite filler expBase << 7). `tileBits` is tile's u32 view.
 * Works one 8-element row of a small tile at a time: those 8 elements are 8 adjacent columns of
 * one row, and their codes are one byte of each bitmap plane.
 */
export function decodeTileToF32(m: TcaTbeMatrix, words: Uint32Array, gt: number, tileBits: Uint32Array): void {
  // Locals, not module bindings, in the hot loop (bundlers turn imports into property reads).
  const smBits = SIGN_MANTISSA_F32_BITS;
  const signMantissa = m.signMantissa;
  const outliers = m.outliers;
  const expBits0 = m.expBase << 23;
  let outlier = m.outlierOffsets[gt]!;
  const segmentEnd = m.outlierOffsets[gt + 1]!;
  let sm = gt * TILE_ELEMENTS;
  let w = gt * TILE_BITMAP_WORDS;
  for (let t = 0; t < SMALL_TILES_PER_TILE; t++, w += 6) {
    // Small tile t = mt*16 + s*4 + j covers rows mt*16 + (j&1)*8 .. +7 and columns s*16 + (j>>1)*8 .. +7.
    const firstRow = (t >> 4) * 16 + (t & 1) * 8;
    const firstCol = ((t >> 2) & 3) * 16 + ((t >> 1) & 1) * 8;
    for (let r = 0; r < 8; r++, sm += 8) {
      const word = r >> 2; // rows 0-3 in the low word, 4-7 in the high word
      const shift = (r & 3) * 8;
      const b1 = (words[w + word]! >>> shift) & 0xff;
      const b2 = (words[w + 2 + word]! >>> shift) & 0xff;
      const b3 = (words[w + 4 + word]! >>> shift) & 0xff;
      const dst = (firstRow + r) * GLOBAL_TILE + firstCol;
      for (let c = 0; c < 8; c++) {
        const code = ((b1 >>> c) & 1) | (((b2 >>> c) & 1) << 1) | (((b3 >>> c) & 1) << 2);
        tileBits[dst + c] = smBits[signMantissa[sm + c]!]! | (expBits0 + (code << 23));
      }
      const outlierMask = b1 & b2 & b3;
      if (outlierMask !== 0) {
        // Rare: replace the exponent of each code-7 element with its byte from the outlier stream.
        for (let c = 0; c < 8; c++) {
          if (((outlierMask >>> c) & 1) === 0) continue;
          if (outlier >= segmentEnd) throw new RangeError(`tile ${gt}: more outliers in the bitmaps than its ${segmentEnd - m.outlierOffsets[gt]!}-byte segment holds`);
          tileBits[dst + c] = smBits[signMantissa[sm + c]!]! | (outliers[outlier++]! << 23);
        }
      }
    }
  }
}
