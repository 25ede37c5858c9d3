// Argument checks shared by the public codec entry points: one clear RangeError per misuse.

import { MAX_EXP_BASE, type TcaTbeGeometry, tcaTbeGeometry } from '@zipserv/format';

/** Checks that bits is a [rows*cols] BF16 array and returns the padded geometry. */
export function checkBf16Matrix(bits: Uint16Array, rows: number, cols: number): TcaTbeGeometry {
  if (!(bits instanceof Uint16Array)) {
    throw new TypeError(`TCA-TBE input must be a Uint16Array of BF16 bits, got ${Object.prototype.toString.call(bits)}`);
  }
  const geometry = tcaTbeGeometry(rows, cols);
  if (bits.length !== rows * cols) {
    throw new RangeError(`TCA-TBE input holds ${bits.length} BF16 values, shape ${rows}x${cols} needs ${rows * cols}`);
  }
  // The sign-mantissa array holds one byte per padded element; typed arrays stop below 2^32 bytes.
  if (geometry.paddedRows * geometry.paddedCols >= 2 ** 32) {
    throw new RangeError(`TCA-TBE matrix ${rows}x${cols} is too large: split it (at most 2^32 - 1 padded elements)`);
  }
  return geometry;
}

/** Checks a caller-forced window start. */
export function checkExpBase(expBase: number): number {
  if (!Number.isInteger(expBase) || expBase < 0 || expBase > MAX_EXP_BASE) {
    throw new RangeError(`expBase ${expBase} outside 0..${MAX_EXP_BASE}`);
  }
  return expBase;
}

/** Aborts on big-endian hosts: the codec views u64 bitmap words as pairs of u32 (low word first). */
export function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('the TCA-TBE CPU codec needs a little-endian host');
  }
}
