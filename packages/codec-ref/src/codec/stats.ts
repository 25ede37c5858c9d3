// Size and window statistics of an encoded matrix.

import { type TcaTbeMatrix, tcaTbeStoredBytes } from '@zipserv/format';
import { bitmapWords32 } from './decode.js';
import { popcount32 } from './kernels/decode-kernel.js';

export interface TcaTbeStats {
  expBase: number;
  outlierFraction: number;
  bitsPerWeight: number;
  storedBytes: number;
  originalBytes: number;
}

/** Outliers (code 7) marked in the bitmaps; padding is code 0 so never counts. */
export function countOutliers(m: Pick<TcaTbeMatrix, 'bitmaps'>): number {
  const words = bitmapWords32(m.bitmaps); // [tiles*64*3*2] u32: B1 lo, B1 hi, B2 lo, B2 hi, B3 lo, B3 hi
  let n = 0;
  for (let w = 0; w < words.length; w += 6) {
    n += popcount32(words[w]! & words[w + 2]! & words[w + 4]!) + popcount32(words[w + 1]! & words[w + 3]! & words[w + 5]!);
  }
  return n;
}

export function tcaTbeStats(m: TcaTbeMatrix): TcaTbeStats {
  const weights = m.rows * m.cols;
  const storedBytes = tcaTbeStoredBytes(m);
  return {
    expBase: m.expBase,
    outlierFraction: countOutliers(m) / weights,
    bitsPerWeight: (storedBytes * 8) / weights,
    storedBytes,
    originalBytes: weights * 2,
  };
}
