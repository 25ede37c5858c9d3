// Greedy-sampling oracle: index of the largest logit per row.

/**
 * out[r] = index of the largest x[r, :]: the first one on ties, never a NaN (a NaN compares false
 * with everything, so it can neither win nor displace the running best). A row of only NaN gives 0.
 */
export function referenceArgmax(
  x: Float32Array, // [R, V] f32
  rows: number,
  cols: number,
  out: Int32Array, // [R] i32
): void {
  for (let r = 0; r < rows; r++) {
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c]!;
      // `best < 0` admits the first non-NaN value even when it is -Infinity.
      if (v > bestValue || (best < 0 && !Number.isNaN(v))) {
        best = c;
        bestValue = v;
      }
    }
    out[r] = Math.max(best, 0); // an all-NaN row gives 0
  }
}
