// The exponent window: the seven consecutive exponents expBase..expBase+6 holding the most elements
// of the true (unpadded) matrix; ties go to the smallest expBase (SPEC.md section 2).

import { MAX_EXP_BASE, WINDOW_SIZE } from '@zipserv/format';
import { checkBf16Matrix } from './input.js';
import { addExponentHistogram } from './kernels/histogram-kernel.js';

export interface ExponentWindow {
  /** First exponent of the window, 0..249. */
  expBase: number;
  /** Elements whose exponent lies in expBase..expBase+6. */
  covered: number;
}

/** Best window of an exponent histogram [256]. */
export function windowFromHistogram(hist: ArrayLike<number>): ExponentWindow {
  let sum = 0;
  for (let e = 0; e < WINDOW_SIZE; e++) sum += hist[e]!;
  let best = { expBase: 0, covered: sum };
  for (let base = 1; base <= MAX_EXP_BASE; base++) {
    sum += hist[base + WINDOW_SIZE - 1]! - hist[base - 1]!;
    // Strictly greater: ties keep the smaller expBase.
    if (sum > best.covered) best = { expBase: base, covered: sum };
  }
  return best;
}

/** Exponent histogram [256] of a BF16 array. */
export function exponentHistogram(bits: Uint16Array): Float64Array {
  const hist = new Float64Array(256);
  addExponentHistogram(bits, 0, bits.length, hist);
  return hist;
}

/** Best-covering window over the true (unpadded) elements; ties -> smallest expBase. */
export function chooseWindow(bits: Uint16Array, rows: number, cols: number): ExponentWindow {
  checkBf16Matrix(bits, rows, cols);
  return windowFromHistogram(exponentHistogram(bits));
}
