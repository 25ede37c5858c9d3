// Row-wise concatenation of TCA-TBE matrices without decoding: how a loader fuses q|k|v or gate|up projections
// that were compressed one by one into the single matrix one fused GEMM reads.

import { type TcaTbeMatrix, tcaTbeGeometry } from './layout.js';

/**
 * The matrix whose rows are `parts`' rows in order, or null when that cannot be done without re-encoding:
 * the parts must share `cols` and `expBase` (one window per matrix), and every part but the last must have a
 * multiple of 64 rows (tiles are 64 rows tall; only the last part may end in padding). The result is
 * byte-identical to encoding the concatenated BF16 rows with the same `expBase`.
 */
export function concatTcaTbeRows(parts: readonly TcaTbeMatrix[]): TcaTbeMatrix | null {
  if (parts.length === 0) return null;
  const { cols, expBase } = parts[0]!;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.cols !== cols || p.expBase !== expBase) return null;
    if (i < parts.length - 1 && p.rows % 64 !== 0) return null;
  }
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const g = tcaTbeGeometry(rows, cols);
  const bitmaps = new BigUint64Array(parts.reduce((s, p) => s + p.bitmaps.length, 0));
  const signMantissa = new Uint8Array(parts.reduce((s, p) => s + p.signMantissa.length, 0));
  const outliers = new Uint8Array(parts.reduce((s, p) => s + p.outliers.length, 0));
  const outlierOffsets = new Uint32Array(g.tiles + 1);
  let bm = 0;
  let sm = 0;
  let ob = 0;
  let tile = 0;
  for (const p of parts) {
    bitmaps.set(p.bitmaps, bm);
    signMantissa.set(p.signMantissa, sm);
    outliers.set(p.outliers, ob);
    const tiles = p.outlierOffsets.length - 1;
    for (let t = 1; t <= tiles; t++) outlierOffsets[tile + t] = ob + p.outlierOffsets[t]!;
    bm += p.bitmaps.length;
    sm += p.signMantissa.length;
    ob += p.outliers.length;
    tile += tiles;
  }
  if (tile !== g.tiles) return null;  // a part whose arrays disagree with its shape
  return { rows, cols, expBase, bitmaps, signMantissa, outliers, outlierOffsets };
}
