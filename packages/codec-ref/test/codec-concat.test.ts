// concatTcaTbeRows (@zipserv/format): stacking compressed matrices by rows without decoding, as the runtime's
// loader fuses q|k|v and gate|up, must equal encoding the stacked BF16 rows with the same window.

import { concatTcaTbeRows } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { decodeMatrix, encodeMatrix } from '../src/codec/index.js';
import { gaussianBf16 } from '../src/codec/synthetic.js';

function stack(parts: Array<{ rows: number; data: Uint16Array }>, cols: number): Uint16Array {
  const out = new Uint16Array(parts.reduce((s, p) => s + p.rows, 0) * cols);
  let at = 0;
  for (const p of parts) {
    out.set(p.data, at);
    at += p.rows * cols;
  }
  return out;
}

describe('concatTcaTbeRows', () => {
  it('is byte-identical to encoding the stacked rows (q|k|v-like parts, ragged last part, outliers)', () => {
    const cols = 200; // ragged: 4 tiles across, the last one padded
    const shapes = [128, 64, 37]; // every part but the last a multiple of 64 rows
    const parts = shapes.map((rows, i) => ({ rows, data: gaussianBf16(rows * cols, 0.02, 10 + i) }));
    const expBase = encodeMatrix(stack(parts, cols), 229, cols).expBase;
    const encoded = parts.map((p) => encodeMatrix(p.data, p.rows, cols, { expBase }));
    const fused = concatTcaTbeRows(encoded);
    expect(fused).not.toBeNull();
    const direct = encodeMatrix(stack(parts, cols), 229, cols, { expBase });
    expect(fused!.rows).toBe(229);
    expect(fused!.outliers.length).toBeGreaterThan(0);
    expect(Buffer.from(fused!.bitmaps.buffer).equals(Buffer.from(direct.bitmaps.buffer))).toBe(true);
    expect(fused!.signMantissa).toEqual(direct.signMantissa);
    expect(fused!.outliers).toEqual(direct.outliers);
    expect(fused!.outlierOffsets).toEqual(direct.outlierOffsets);
    expect(decodeMatrix(fused!)).toEqual(stack(parts, cols));
  });

  it('refuses parts it cannot stack without re-encoding', () => {
    const a = encodeMatrix(gaussianBf16(64 * 64, 0.02, 1), 64, 64, { expBase: 115 });
    const b = encodeMatrix(gaussianBf16(64 * 64, 0.02, 2), 64, 64, { expBase: 116 });
    const ragged = encodeMatrix(gaussianBf16(40 * 64, 0.02, 3), 40, 64, { expBase: 115 });
    const wide = encodeMatrix(gaussianBf16(64 * 128, 0.02, 4), 64, 128, { expBase: 115 });
    expect(concatTcaTbeRows([a, b])).toBeNull(); // different windows
    expect(concatTcaTbeRows([ragged, a])).toBeNull(); // padding in the middle
    expect(concatTcaTbeRows([a, wide])).toBeNull(); // different widths
    expect(concatTcaTbeRows([])).toBeNull();
    expect(concatTcaTbeRows([a, ragged])?.rows).toBe(104); // ragged last part is fine
  });
});
