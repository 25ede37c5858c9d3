// A weight as the reference backend holds it. Raw weights are widened once to f32 (exact: BF16 is
// the top half of f32) so the dense/vendor loop reads plain floats; TCA-TBE weights stay compressed
// and are decoded on use (tile by tile for zipgemm, row by row for embedding gathers).

import { type TcaTbeMatrix, type WeightSource, bf16ArrayToF32, validateTcaTbeMatrix } from '@zipserv/format';
import { bitmapWords, checkOutlierSegments } from './tile-decoder.js';

export type RefWeight =
  | { storage: 'raw'; rows: number; cols: number; values: Float32Array /* [M, K] f32, exact BF16 values */ }
  | { storage: 'tca-tbe'; rows: number; cols: number; matrix: TcaTbeMatrix; words: Uint32Array /* bitmaps as u32 */ };

/** Copies and checks a weight source (the host may reuse its arrays after upload, as with a GPU). */
export function createRefWeight(source: WeightSource): RefWeight {
  if (source.storage === 'raw') {
    const { rows, cols, data } = source;
    if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`raw weight needs a shape of at least 1 x 1, got ${rows} x ${cols}`);
    if (!(data instanceof Uint16Array)) throw new TypeError('raw weight data must be a Uint16Array of BF16 bits');
    if (data.length !== rows * cols) throw new RangeError(`raw weight data holds ${data.length} values, shape ${rows} x ${cols} needs ${rows * cols}`);
    return { storage: 'raw', rows, cols, values: bf16ArrayToF32(data) };
  }
  if (source.storage === 'tca-tbe') {
    const m = source.matrix;
    validateTcaTbeMatrix(m);
    const matrix: TcaTbeMatrix = {
      rows: m.rows,
      cols: m.cols,
      expBase: m.expBase,
      bitmaps: m.bitmaps.slice(),
      signMantissa: m.signMantissa.slice(),
      outliers: m.outliers.slice(),
      outlierOffsets: m.outlierOffsets.slice(),
    };
    const words = bitmapWords(matrix);
    checkOutlierSegments(matrix, words);
    return { storage: 'tca-tbe', rows: m.rows, cols: m.cols, matrix, words };
  }
  throw new TypeError(`unknown weight storage '${String((source as { storage: unknown }).storage)}'`);
}

/** Bytes the weight occupies in memory (f32 for raw weights, the four TCA-TBE arrays otherwise). */
export function refWeightBytes(w: RefWeight): number {
  if (w.storage === 'raw') return w.values.byteLength;
  const m = w.matrix;
  return m.bitmaps.byteLength + m.signMantissa.byteLength + m.outliers.byteLength + m.outlierOffsets.byteLength;
}
