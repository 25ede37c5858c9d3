// Floating-point tensor bytes (any safetensors float dtype, little-endian) -> float32 values.

import type { SafetensorsDType } from '@zipserv/format';

let f16Table: Float32Array | undefined;

/** IEEE half -> float32 for all 65,536 bit patterns (256 KiB, built on first use). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 31) table[h] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

/** FP8 E4M3 (the "fn" variant: no infinities, S.1111.111 is NaN), bias 7. */
function e4m3(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const mant = b & 7;
  if (exp === 15 && mant === 7) return Number.NaN;
  return exp === 0 ? sign * mant * 2 ** -9 : sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** FP8 E5M2 (IEEE-like), bias 15. */
function e5m2(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 2) & 0x1f;
  const mant = b & 3;
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return exp === 0 ? sign * mant * 2 ** -16 : sign * (1 + mant / 4) * 2 ** (exp - 15);
}

export const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['BF16', 'F16', 'F32', 'F64', 'F8_E4M3', 'F8_E5M2']);

/**
 * The values of `bytes` (dtype elements) as float32. `bytes` must start at an offset aligned for
 * the dtype (buffers from the readers are). F64 rounds to the nearest float32.
 */
export function toFloat32(dtype: SafetensorsDType, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength;
  switch (dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n));
    case 'BF16': {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n / 2); // [elements] bf16
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'F16': {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n / 2); // [elements] f16
      const table = halfTable();
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
      return out;
    }
    case 'F64':
      return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, n / 8));
    case 'F8_E4M3':
      return Float32Array.from(bytes, e4m3);
    case 'F8_E5M2':
      return Float32Array.from(bytes, e5m2);
    default:
      throw new TypeError(`${dtype} is not a floating-point dtype`);
  }
}
