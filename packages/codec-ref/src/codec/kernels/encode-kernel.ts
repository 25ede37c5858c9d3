// The TCA-TBE encode loop: packs a band of 64-row tile rows (SPEC.md section 3).
//
// WORKER-TRANSPORTABLE: self-contained, see histogram-kernel.ts. Literals: 64 = GLOBAL_TILE and
// SMALL_TILES_PER_TILE, 4096 = TILE_ELEMENTS, 384 = u32 words of bitmap per global tile
// (64 small tiles x 3 planes x 2 halves), 15 = OUTLIER_SEGMENT_ALIGN - 1.
//
// Bitmaps are written as u32 halves of the u64 words (little-endian host): u64 word
// (gt*64 + t)*3 + plane is u32 words 2*that (bits 0..31, rows 0..3 of the small tile) and
// 2*that + 1 (bits 32..63, rows 4..7). No BigInt in the hot loop.

/**
 * Encodes global tile rows [tileRowStart, tileRowEnd) of a row-major BF16 matrix.
 * Outputs must be zero-filled: padding elements (code 0, sign-mantissa 0) are left untouched.
 *
 *   src           [rows*cols] BF16 bits, row-major
 *   bitmapWords   [tiles*384] u32, whole matrix (written at this band's tiles)
 *   signMantissa  [tiles*4096] u8, whole matrix (written at this band's tiles)
 *   outliers      [capacity] u8, this band's outlier stream from byte 0; capacity >= the band's
 *                 outlier count + 15 per tile
 *   segmentEnds   [bandTiles] u32, end of each tile's segment relative to the band's stream
 * Returns the bytes of outlier stream written.
 */
export function encodeTileRows(
  src: Uint16Array,
  rows: number,
  cols: number,
  expBase: number,
  tileRowStart: number,
  tileRowEnd: number,
  bitmapWords: Uint32Array,
  signMantissa: Uint8Array,
  outliers: Uint8Array,
  segmentEnds: Uint32Array,
): number {
  const tileCols = Math.ceil(cols / 64);
  // laneBits[e]: the code of exponent e with its three bits in three byte lanes (B1 bit 0,
  // B2 bit 8, B3 bit 16). Shifting element cc's entry left by cc and OR-ing a row's eight entries
  // yields that row's byte of all three planes at once.
  const laneBits = new Int32Array(256);
  for (let e = 0; e < 256; e++) {
    const code = e - expBase >= 0 && e - expBase <= 6 ? e - expBase : 7;
    laneBits[e] = (code & 1) | (((code >> 1) & 1) << 8) | ((code >> 2) << 16);
  }
  // Word views when alignment allows (every row start is then even): halves loads and stores.
  const wide = src.byteOffset % 4 === 0 && cols % 2 === 0 && signMantissa.byteOffset % 4 === 0;
  const src32 = wide ? new Uint32Array(src.buffer, src.byteOffset, src.length >>> 1) : new Uint32Array(0); // [rows*cols/2] BF16 pairs
  const signMantissa32 = wide ? new Uint32Array(signMantissa.buffer, signMantissa.byteOffset, signMantissa.length >>> 2) : new Uint32Array(0);
  let o = 0; // write position in this band's outlier stream
  let bandTile = 0;
  for (let gm = tileRowStart; gm < tileRowEnd; gm++) {
    for (let gk = 0; gk < tileCols; gk++) {
      const gt = gm * tileCols + gk;
      const segmentStart = o;
      let w = gt * 384; // u32 index of small tile t's plane B1, low half
      let p = gt * 4096; // stream index of the current small-tile row
      for (let t = 0; t < 64; t++, w += 6) {
        // Small tile t = mt*16 + s*4 + j covers rows mt*16 + (j&1)*8 .. +7, cols s*16 + (j>>1)*8 .. +7.
        const smallRow = gm * 64 + (t >> 4) * 16 + (t & 1) * 8;
        const smallCol = gk * 64 + ((t >> 2) & 3) * 16 + ((t >> 1) & 1) * 8;
        const validCols = Math.min(8, cols - smallCol); // <= 0: the whole small tile is padding
        for (let half = 0; half < 2; half++) {
          let b1 = 0;
          let b2 = 0;
          let b3 = 0;
          for (let rr = 0; rr < 4; rr++, p += 8) {
            const r = smallRow + half * 4 + rr;
            if (r >= rows || validCols <= 0) continue;
            const i = r * cols + smallCol;
            let acc: number;
            if (validCols === 8 && wide) {
              // Two elements per u32 load, four sign-mantissa bytes per u32 store.
              const q = i >>> 1;
              const x0 = src32[q]!;
              const x1 = src32[q + 1]!;
              const x2 = src32[q + 2]!;
              const x3 = src32[q + 3]!;
              acc =
                laneBits[(x0 >>> 7) & 255]! |
                (laneBits[(x0 >>> 23) & 255]! << 1) |
                (laneBits[(x1 >>> 7) & 255]! << 2) |
                (laneBits[(x1 >>> 23) & 255]! << 3) |
                (laneBits[(x2 >>> 7) & 255]! << 4) |
                (laneBits[(x2 >>> 23) & 255]! << 5) |
                (laneBits[(x3 >>> 7) & 255]! << 6) |
                (laneBits[(x3 >>> 23) & 255]! << 7);
              // Per BF16 pair: mantissa bits 6..0 stay, sign 15 -> 7, mantissa 22..16 -> 14..8, sign 31 -> 15.
              signMantissa32[p >>> 2] =
                (x0 & 0x7f) | ((x0 >>> 8) & 0x7f80) | ((x0 >>> 16) & 0x8000) | (((x1 & 0x7f) | ((x1 >>> 8) & 0x7f80) | ((x1 >>> 16) & 0x8000)) << 16);
              signMantissa32[(p >>> 2) + 1] =
                (x2 & 0x7f) | ((x2 >>> 8) & 0x7f80) | ((x2 >>> 16) & 0x8000) | (((x3 & 0x7f) | ((x3 >>> 8) & 0x7f80) | ((x3 >>> 16) & 0x8000)) << 16);
            } else if (validCols === 8) {
              let x = src[i]!;
              acc = laneBits[(x >>> 7) & 255]!;
              signMantissa[p] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 1]!;
              acc |= laneBits[(x >>> 7) & 255]! << 1;
              signMantissa[p + 1] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 2]!;
              acc |= laneBits[(x >>> 7) & 255]! << 2;
              signMantissa[p + 2] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 3]!;
              acc |= laneBits[(x >>> 7) & 255]! << 3;
              signMantissa[p + 3] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 4]!;
              acc |= laneBits[(x >>> 7) & 255]! << 4;
              signMantissa[p + 4] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 5]!;
              acc |= laneBits[(x >>> 7) & 255]! << 5;
              signMantissa[p + 5] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 6]!;
              acc |= laneBits[(x >>> 7) & 255]! << 6;
              signMantissa[p + 6] = ((x >>> 8) & 0x80) | (x & 0x7f);
              x = src[i + 7]!;
              acc |= laneBits[(x >>> 7) & 255]! << 7;
              signMantissa[p + 7] = ((x >>> 8) & 0x80) | (x & 0x7f);
            } else {
              acc = 0;
              for (let cc = 0; cc < validCols; cc++) {
                const x = src[i + cc]!;
                acc |= laneBits[(x >>> 7) & 255]! << cc;
                signMantissa[p + cc] = ((x >>> 8) & 0x80) | (x & 0x7f);
              }
            }
            const shift = rr * 8;
            b1 |= (acc & 255) << shift;
            b2 |= ((acc >>> 8) & 255) << shift;
            b3 |= ((acc >>> 16) & 255) << shift;
            // Outliers of this row (code 7 = all three planes set), in stream order.
            let outlierMask = acc & (acc >>> 8) & (acc >>> 16) & 255;
            while (outlierMask !== 0) {
              const cc = 31 - Math.clz32(outlierMask & -outlierMask);
              outliers[o++] = (src[i + cc]! >>> 7) & 255;
              outlierMask &= outlierMask - 1;
            }
          }
          bitmapWords[w + half] = b1;
          bitmapWords[w + 2 + half] = b2;
          bitmapWords[w + 4 + half] = b3;
        }
      }
      // Zero-pad the segment to a multiple of 16 bytes.
      const segmentEnd = segmentStart + ((o - segmentStart + 15) & ~15);
      while (o < segmentEnd) outliers[o++] = 0;
      segmentEnds[bandTile++] = o;
    }
  }
  return o;
}
