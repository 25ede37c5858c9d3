// Comparison helpers. Errors are computed in float64. NaN never passes: every error function
// returns NaN when either side holds a NaN, and `NaN < tolerance` is false.

type Numeric = ArrayLike<number>;

/** ||a - b||_2 / ||b||_2 in float64 (b is the reference). 0 when both are all zero; NaN on any NaN. */
export function relativeError(a: Numeric, b: Numeric): number {
  if (a.length !== b.length) throw new RangeError(`relativeError: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
    const d = x - y;
    diff += d * d;
    norm += y * y;
  }
  if (diff === 0) return 0;
  return Math.sqrt(diff) / Math.sqrt(norm); // Infinity when b is all zero but a is not
}

/** max |a[i] - b[i]|; NaN on any NaN. */
export function maxAbsDifference(a: Numeric, b: Numeric): number {
  if (a.length !== b.length) throw new RangeError(`maxAbsDifference: lengths differ (${a.length} vs ${b.length})`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Number.NaN;
    if (d > worst) worst = d;
  }
  return worst;
}

/** Number of NaN elements. */
export function countNaN(a: Numeric): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) n++;
  return n;
}

/** Index of the first NaN, or -1. */
export function firstNaN(a: Numeric): number {
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) return i;
  return -1;
}

export const hasNaN = (a: Numeric): boolean => firstNaN(a) >= 0;

/**
 * Index of the first element whose bytes differ (NaN payloads and -0 included), or -1.
 * Both arrays must have the same element type.
 */
export function firstBitMismatch(a: ArrayBufferView & ArrayLike<number>, b: ArrayBufferView & ArrayLike<number>): number {
  if (a.length !== b.length || a.byteLength !== b.byteLength) throw new RangeError(`firstBitMismatch: sizes differ (${a.length} vs ${b.length} elements)`);
  const width = a.byteLength / Math.max(1, a.length);
  const ua = width === 4 ? new Uint32Array(a.buffer, a.byteOffset, a.length) : width === 2 ? new Uint16Array(a.buffer, a.byteOffset, a.length) : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = width === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.length) : width === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.length) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return width === 4 || width === 2 ? i : Math.floor(i / width);
  return -1;
}
