// RMSNorm oracle (Llama's LlamaRMSNorm): y = x / sqrt(mean(x^2) + eps) * weight, in float64.

export interface RmsNormRegion {
  /** First column of each row to normalise (default 0). */
  offset?: number;
  /** Columns to normalise from `offset` (default: the rest of the row); a multiple of weight.length. */
  width?: number;
}

/**
 * Normalises every group of D = weight.length consecutive elements inside columns
 * [offset, offset + width) of each row of x[rows, rowWidth], writing out at the same flat indices
 * (out may be x). Columns outside the region are not written. Results are rounded to f32 once.
 */
export function referenceRmsNorm(
  x: Float32Array, // [rows, rowWidth] f32
  rows: number,
  rowWidth: number,
  weight: Float32Array, // [D] f32
  eps: number,
  out: Float32Array, // [rows, rowWidth] f32
  region: RmsNormRegion = {},
): void {
  const d = weight.length;
  const offset = region.offset ?? 0;
  const width = region.width ?? rowWidth - offset;
  if (offset < 0 || width < 0 || offset + width > rowWidth) throw new RangeError(`rmsnorm: columns ${offset}..${offset + width} exceed the row width ${rowWidth}`);
  if (d === 0 || width % d !== 0) throw new RangeError(`rmsnorm: width ${width} is not a multiple of the norm size ${d}`);
  for (let r = 0; r < rows; r++) {
    for (let start = r * rowWidth + offset; start < r * rowWidth + offset + width; start += d) {
      let sumSquares = 0;
      for (let i = 0; i < d; i++) sumSquares += x[start + i]! * x[start + i]!;
      const inverseRms = 1 / Math.sqrt(sumSquares / d + eps);
      for (let i = 0; i < d; i++) out[start + i] = x[start + i]! * inverseRms * weight[i]!;
    }
  }
}
