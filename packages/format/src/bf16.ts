// BF16 bit helpers. A BF16 value is the top 16 bits of an IEEE float32:
// bit 15 sign, bits 14..7 exponent (8 bits), bits 6..0 mantissa (7 bits).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> BF16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) {
    return ((bits >>> 16) | 0x0040) & 0xffff;
  }
  const rounding = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + rounding) >>> 16) & 0xffff;
}

/** BF16 bits -> float32 value (exact). */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** Exponent field (0..255) of a BF16 bit pattern. */
export const bf16Exponent = (bits: number): number => (bits >>> 7) & 0xff;

/** Sign and mantissa of a BF16 bit pattern as one byte: bit 7 sign, bits 6..0 mantissa. */
export const bf16SignMantissa = (bits: number): number => ((bits >>> 8) & 0x80) | (bits & 0x7f);

/** Reassemble BF16 bits from a sign+mantissa byte and an exponent. */
export const bf16FromParts = (signMantissa: number, exponent: number): number =>
  ((signMantissa & 0x80) << 8) | ((exponent & 0xff) << 7) | (signMantissa & 0x7f);

/** Round a float32 array to BF16 bits. */
export function f32ArrayToBf16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  const srcBits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const bits = srcBits[i]!;
    if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) {
      dst[i] = ((bits >>> 16) | 0x0040) & 0xffff;
    } else {
      dst[i] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
    }
  }
  return dst;
}

/** Widen BF16 bits to float32 values (exact). */
export function bf16ArrayToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const dstBits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) dstBits[i] = src[i]! << 16;
  return dst;
}
