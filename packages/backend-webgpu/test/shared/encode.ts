// A direct, slow TCA-TBE v1 encoder written from SPEC.md, so the kernel tests do not depend on
// codec-ref's encoder (they are cross-checked against it where it is available).

import { type TcaTbeMatrix, tcaTbeGeometry, tileElementCoords } from '@zipserv/format';

export function encodeForTest(bits: Uint16Array, rows: number, cols: number): TcaTbeMatrix {
  const g = tcaTbeGeometry(rows, cols);
  const hist = new Float64Array(256);
  for (let i = 0; i < rows * cols; i++) hist[(bits[i]! >> 7) & 0xff]!++;
  let expBase = 0;
  let best = -1;
  for (let b = 0; b <= 249; b++) {
    let c = 0;
    for (let k = 0; k < 7; k++) c += hist[b + k]!;
    if (c > best) {
      best = c;
      expBase = b;
    }
  }
  const words = new Uint32Array(g.tiles * 64 * 3 * 2); // (lo, hi) per u64
  const signMantissa = new Uint8Array(g.tiles * 4096);
  const segments: number[][] = [];
  for (let gm = 0; gm < g.tileRows; gm++) {
    for (let gk = 0; gk < g.tileCols; gk++) {
      const gt = gm * g.tileCols + gk;
      const seg: number[] = [];
      for (let e = 0; e < 4096; e++) {
        const [r, c] = tileElementCoords(e);
        const row = gm * 64 + r;
        const col = gk * 64 + c;
        const v = row < rows && col < cols ? bits[row * cols + col]! : expBase << 7;
        const ex = (v >> 7) & 0xff;
        let code = ex - expBase;
        if (code < 0 || code > 6) {
          code = 7;
          seg.push(ex);
        }
        signMantissa[gt * 4096 + e] = ((v >> 8) & 0x80) | (v & 0x7f);
        const t = e >> 6;
        const pos = e & 63;
        for (let p = 0; p < 3; p++) {
          if ((code >> p) & 1) words[((gt * 64 + t) * 3 + p) * 2 + (pos >> 5)]! |= 1 << (pos & 31);
        }
      }
      segments.push(seg);
    }
  }
  const outlierOffsets = new Uint32Array(g.tiles + 1);
  for (let t = 0; t < g.tiles; t++) outlierOffsets[t + 1] = outlierOffsets[t]! + Math.ceil(segments[t]!.length / 16) * 16;
  const outliers = new Uint8Array(outlierOffsets[g.tiles]!);
  segments.forEach((seg, t) => {
    outliers.set(seg, outlierOffsets[t]!);
  });
  return { rows, cols, expBase, bitmaps: new BigUint64Array(words.buffer), signMantissa, outliers, outlierOffsets };
}
