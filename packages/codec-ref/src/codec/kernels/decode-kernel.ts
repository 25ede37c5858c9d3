// The TCA-TBE decode loop: rebuilds a row range of the BF16 matrix (SPEC.md section 3), checking
// each touched tile's outlier count against its segment before reading it.
//
// WORKER-TRANSPORTABLE: self-contained, see histogram-kernel.ts (popcount32 travels with it).
// Literals: 64 = GLOBAL_TILE and SMALL_TILES_PER_TILE, 4096 = TILE_ELEMENTS, 384 = u32 words of
// bitmap per global tile, 15 = OUTLIER_SEGMENT_ALIGN - 1.

/** Set bits of a 32-bit integer. */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Decodes rows [rowStart, rowEnd) (true rows, < rows) into out, row r at out[outStart + (r - rowStart)*cols].
 * Throws a RangeError naming the tile when a segment does not match its bitmaps.
 *
 *   bitmapWords    [tiles*384] u32 halves of the u64 bitmap words
 *   signMantissa   [tiles*4096] u8
 *   outliers       [outlierBytes] u8
 *   outlierOffsets [tiles+1] u32
 *   out            [>= outStart + (rowEnd-rowStart)*cols] BF16 bits
 */
export function decodeRowRange(
  bitmapWords: Uint32Array,
  signMantissa: Uint8Array,
  outliers: Uint8Array,
  outlierOffsets: Uint32Array,
  rows: number,
  cols: number,
  expBase: number,
  rowStart: number,
  rowEnd: number,
  out: Uint16Array,
  outStart: number,
): void {
  if (!(rowStart >= 0 && rowStart < rowEnd && rowEnd <= rows)) {
    throw new RangeError(`decode rows ${rowStart}..${rowEnd} outside 0..${rows}`);
  }
  const tileCols = Math.ceil(cols / 64);
  // nibbles[b]: bit i of byte b moved to bit 4i, so one row's three plane bytes combine into
  // eight 4-bit codes: codes = nibbles[B1] | nibbles[B2] << 1 | nibbles[B3] << 2.
  const nibbles = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    nibbles[b] =
      (b & 1) | ((b & 2) << 3) | ((b & 4) << 6) | ((b & 8) << 9) | ((b & 16) << 12) | ((b & 32) << 15) | ((b & 64) << 18) | ((b & 128) << 21);
  }
  // exponentBits[code] = (expBase + code) << 7 for in-window codes 0..6.
  const exponentBits = new Int32Array(8);
  for (let c = 0; c < 7; c++) exponentBits[c] = (expBase + c) << 7;
  // signMantissaBits[sm] = BF16 bits of sign and mantissa (exponent zero).
  const signMantissaBits = new Int32Array(256);
  for (let s = 0; s < 256; s++) signMantissaBits[s] = ((s & 0x80) << 8) | (s & 0x7f);

  // pairBits[c0 | c1 << 4] = exponent bits of two codes as one u32 (two BF16 values); an outlier
  // (code 7) contributes exponent 0 here and gets its exponent OR-ed in afterwards.
  const pairBits = new Int32Array(0x78);
  for (let c0 = 0; c0 < 8; c0++) {
    for (let c1 = 0; c1 < 8; c1++) pairBits[c0 | (c1 << 4)] = (c0 < 7 ? (expBase + c0) << 7 : 0) | (c1 < 7 ? (expBase + c1) << 23 : 0);
  }
  // Word views when alignment allows (every written row segment then starts at an even index).
  const wide = out.byteOffset % 4 === 0 && cols % 2 === 0 && outStart % 2 === 0 && signMantissa.byteOffset % 4 === 0;
  const out32 = wide ? new Uint32Array(out.buffer, out.byteOffset, out.length >>> 1) : new Uint32Array(0); // BF16 pairs
  const signMantissa32 = wide ? new Uint32Array(signMantissa.buffer, signMantissa.byteOffset, signMantissa.length >>> 2) : new Uint32Array(0);

  for (let gm = rowStart >>> 6; gm <= (rowEnd - 1) >>> 6; gm++) {
    for (let gk = 0; gk < tileCols; gk++) {
      const gt = gm * tileCols + gk;
      const w0 = gt * 384;
      // The segment must hold exactly this tile's outliers, rounded up to 16 bytes.
      let count = 0;
      for (let w = w0; w < w0 + 384; w += 6) {
        count += popcount32(bitmapWords[w]! & bitmapWords[w + 2]! & bitmapWords[w + 4]!);
        count += popcount32(bitmapWords[w + 1]! & bitmapWords[w + 3]! & bitmapWords[w + 5]!);
      }
      const segmentStart = outlierOffsets[gt]!;
      const segmentEnd = outlierOffsets[gt + 1]!;
      if (segmentEnd < segmentStart || segmentEnd > outliers.length || segmentEnd - segmentStart !== ((count + 15) & ~15)) {
        throw new RangeError(
          `corrupt TCA-TBE tile ${gt} (tile row ${gm}, tile col ${gk}): bitmaps mark ${count} outliers but its segment spans bytes ${segmentStart}..${segmentEnd} of ${outliers.length}`,
        );
      }
      let k = segmentStart; // next outlier byte of this tile
      let w = w0;
      for (let t = 0; t < 64; t++, w += 6) {
        const smallRow = gm * 64 + (t >> 4) * 16 + (t & 1) * 8;
        const smallCol = gk * 64 + ((t >> 2) & 3) * 16 + ((t >> 1) & 1) * 8;
        const validCols = Math.min(8, cols - smallCol);
        if (smallRow + 8 <= rowStart || smallRow >= rowEnd || validCols <= 0) {
          // Nothing to write here; skip its outliers.
          k += popcount32(bitmapWords[w]! & bitmapWords[w + 2]! & bitmapWords[w + 4]!);
          k += popcount32(bitmapWords[w + 1]! & bitmapWords[w + 3]! & bitmapWords[w + 5]!);
          continue;
        }
        for (let half = 0; half < 2; half++) {
          const x1 = bitmapWords[w + half]!;
          const x2 = bitmapWords[w + 2 + half]!;
          const x3 = bitmapWords[w + 4 + half]!;
          for (let rr = 0; rr < 4; rr++) {
            const shift = rr * 8;
            const m1 = (x1 >>> shift) & 255;
            const m2 = (x2 >>> shift) & 255;
            const m3 = (x3 >>> shift) & 255;
            const outlierMask = m1 & m2 & m3;
            const r = smallRow + half * 4 + rr;
            if (r < rowStart || r >= rowEnd) {
              if (outlierMask !== 0) k += popcount32(outlierMask);
              continue;
            }
            const codes = nibbles[m1]! | (nibbles[m2]! << 1) | (nibbles[m3]! << 2);
            const p = gt * 4096 + t * 64 + half * 32 + shift;
            const d = outStart + (r - rowStart) * cols + smallCol;
            if (validCols === 8 && wide) {
              // Four sign-mantissa bytes per load, two BF16 values per store. Per byte pair:
              // mantissa 6..0 stays, sign 7 -> 15, mantissa 14..8 -> 22..16, sign 15 -> 31.
              const s0 = signMantissa32[p >>> 2]!;
              const s1 = signMantissa32[(p >>> 2) + 1]!;
              const t0 = s0 >>> 16;
              const t1 = s1 >>> 16;
              const q = d >>> 1;
              out32[q] = pairBits[codes & 0x77]! | (s0 & 0x7f) | ((s0 & 0x7f80) << 8) | ((s0 & 0x8000) << 16);
              out32[q + 1] = pairBits[(codes >>> 8) & 0x77]! | (t0 & 0x7f) | ((t0 & 0x7f80) << 8) | ((t0 & 0x8000) << 16);
              out32[q + 2] = pairBits[(codes >>> 16) & 0x77]! | (s1 & 0x7f) | ((s1 & 0x7f80) << 8) | ((s1 & 0x8000) << 16);
              out32[q + 3] = pairBits[(codes >>> 24) & 0x77]! | (t1 & 0x7f) | ((t1 & 0x7f80) << 8) | ((t1 & 0x8000) << 16);
              // Outliers, in stream order: their exponent field is still 0.
              for (let mask = outlierMask; mask !== 0; mask &= mask - 1) {
                out[d + 31 - Math.clz32(mask & -mask)]! |= outliers[k++]! << 7;
              }
            } else if (outlierMask === 0 && validCols === 8) {
              out[d] = exponentBits[codes & 7]! | signMantissaBits[signMantissa[p]!]!;
              out[d + 1] = exponentBits[(codes >>> 4) & 7]! | signMantissaBits[signMantissa[p + 1]!]!;
              out[d + 2] = exponentBits[(codes >>> 8) & 7]! | signMantissaBits[signMantissa[p + 2]!]!;
              out[d + 3] = exponentBits[(codes >>> 12) & 7]! | signMantissaBits[signMantissa[p + 3]!]!;
              out[d + 4] = exponentBits[(codes >>> 16) & 7]! | signMantissaBits[signMantissa[p + 4]!]!;
              out[d + 5] = exponentBits[(codes >>> 20) & 7]! | signMantissaBits[signMantissa[p + 5]!]!;
              out[d + 6] = exponentBits[(codes >>> 24) & 7]! | signMantissaBits[signMantissa[p + 6]!]!;
              out[d + 7] = exponentBits[(codes >>> 28) & 7]! | signMantissaBits[signMantissa[p + 7]!]!;
            } else {
              // Outliers take the next bytes of the segment in stream order; padding columns
              // (cc >= validCols) are never written but a corrupt one marked 7 still advances k.
              for (let cc = 0; cc < 8; cc++) {
                const code = (codes >>> (4 * cc)) & 7;
                const exponent = code === 7 ? outliers[k++]! << 7 : exponentBits[code]!;
                if (cc < validCols) out[d + cc] = exponent | signMantissaBits[signMantissa[p + cc]!]!;
              }
            }
          }
        }
      }
    }
  }
}
