import { describe, expect, it } from 'vitest';
import {
  TILE_ELEMENTS,
  TILE_STREAM_TO_ROW_MAJOR,
  bf16FromParts,
  bf16Exponent,
  bf16SignMantissa,
  bf16ToF32,
  f32ToBf16,
  tcaTbeGeometry,
  tileElementCoords,
  tileElementIndex,
} from '../src/index.js';

describe('tile element order', () => {
  it('is a bijection on the 64x64 tile and matches the spec formula', () => {
    const seen = new Uint8Array(TILE_ELEMENTS);
    for (let r = 0; r < 64; r++) {
      for (let c = 0; c < 64; c++) {
        const e = tileElementIndex(r, c);
        expect(seen[e]).toBe(0);
        seen[e] = 1;
        expect(tileElementCoords(e)).toEqual([r, c]);
        expect(TILE_STREAM_TO_ROW_MAJOR[e]).toBe(r * 64 + c);
      }
    }
  });
  it('puts the four 8x8 blocks of a 16x16 fragment in A-fragment order', () => {
    expect(tileElementIndex(0, 0) >> 6).toBe(0);
    expect(tileElementIndex(8, 0) >> 6).toBe(1);
    expect(tileElementIndex(0, 8) >> 6).toBe(2);
    expect(tileElementIndex(8, 8) >> 6).toBe(3);
    expect(tileElementIndex(0, 16) >> 6).toBe(4);
    expect(tileElementIndex(16, 0) >> 6).toBe(16);
  });
});

describe('geometry', () => {
  it('pads ragged shapes to tiles', () => {
    expect(tcaTbeGeometry(172, 64)).toMatchObject({ paddedRows: 192, paddedCols: 64, tiles: 3 });
    expect(tcaTbeGeometry(1, 4096)).toMatchObject({ paddedRows: 64, tileCols: 64, tiles: 64 });
    expect(() => tcaTbeGeometry(0, 4)).toThrow(RangeError);
  });
});

describe('bf16', () => {
  it('splits and reassembles every bit pattern', () => {
    for (let b = 0; b < 65536; b++) {
      expect(bf16FromParts(bf16SignMantissa(b), bf16Exponent(b))).toBe(b);
    }
  });
  it('rounds to nearest even and keeps NaN a NaN', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(bf16ToF32(0x3f80) + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(bf16ToF32(0x3f81) + 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(Number.isNaN(bf16ToF32(f32ToBf16(Number.NaN)))).toBe(true);
    expect(f32ToBf16(-0)).toBe(0x8000);
  });
});
