// Read-only passes over BF16 input: the exponent histogram (window choice) and per-tile outlier
// counts (exact encoded size without encoding).
//
// WORKER-TRANSPORTABLE: every function in src/codec/kernels/ is self-contained (no imports, no
// module-level state, no closures, layout constants written as literals) because worker-source.ts
// ships their source text to worker threads. That keeps one implementation for the main thread,
// the workers, the built package and vitest running the TypeScript sources.
// Literals used here: 64 = GLOBAL_TILE.

/**
 * Adds the exponent histogram of src[start..end) into hist.
 *   src  [rows*cols] BF16 bits (any row-major range)
 *   hist [256] f64 counts, accumulated (callers merge bands)
 */
export function addExponentHistogram(src: Uint16Array, start: number, end: number, hist: Float64Array): void {
  // Four sub-histograms break the load-increment-store dependency on runs of equal exponents.
  const counts = new Uint32Array(1024);
  // Chunks keep u32 counts from overflowing on huge inputs.
  const CHUNK = 1 << 30;
  for (let chunkStart = start; chunkStart < end; chunkStart += CHUNK) {
    const chunkEnd = Math.min(end, chunkStart + CHUNK);
    counts.fill(0);
    let i = chunkStart;
    for (; i + 4 <= chunkEnd; i += 4) {
      counts[(src[i]! >>> 7) & 255]!++;
      counts[256 + ((src[i + 1]! >>> 7) & 255)]!++;
      counts[512 + ((src[i + 2]! >>> 7) & 255)]!++;
      counts[768 + ((src[i + 3]! >>> 7) & 255)]!++;
    }
    for (; i < chunkEnd; i++) counts[(src[i]! >>> 7) & 255]!++;
    for (let e = 0; e < 256; e++) {
      hist[e]! += counts[e]! + counts[256 + e]! + counts[512 + e]! + counts[768 + e]!;
    }
  }
}

/**
 * Counts, per 64x64 global tile, the elements whose exponent lies outside expBase..expBase+6.
 * Padding never counts (it is encoded with code 0).
 *   src    [rows*cols] BF16 bits, row-major
 *   counts [tileRows*tileCols] f64, overwritten
 */
export function countTileOutliers(src: Uint16Array, rows: number, cols: number, expBase: number, counts: Float64Array): void {
  const tileCols = Math.ceil(cols / 64);
  // isOutlier[e] = 1 when exponent e is outside the window.
  const isOutlier = new Uint8Array(256);
  for (let e = 0; e < 256; e++) isOutlier[e] = e - expBase >= 0 && e - expBase <= 6 ? 0 : 1;
  counts.fill(0);
  for (let r = 0; r < rows; r++) {
    const tileBase = (r >>> 6) * tileCols;
    const rowStart = r * cols;
    for (let gk = 0; gk < tileCols; gk++) {
      const a = rowStart + gk * 64;
      const b = rowStart + Math.min(cols, gk * 64 + 64);
      let n = 0;
      for (let i = a; i < b; i++) n += isOutlier[(src[i]! >>> 7) & 255]!;
      counts[tileBase + gk]! += n;
    }
  }
}
