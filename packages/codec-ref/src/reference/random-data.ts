// Random test data: f32 activations, BF16 weights N(0, sigma), and adversarial BF16 matrices that
// move the TCA-TBE window to its edges (expBase 0, high exponents) or fill it with outliers.

import { f32ToBf16 } from '@zipserv/format';
import type { Rng } from './prng.js';

/** [count] f32, N(mean, sigma). */
export function randomF32(rng: Rng, count: number, sigma = 1, mean = 0): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = mean + sigma * rng.normal();
  return out;
}

/** [count] BF16 bits of N(0, sigma), rounded to nearest even (trained-weight-like exponents). */
export function randomBf16Normal(rng: Rng, count: number, sigma = 0.02): Uint16Array {
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = f32ToBf16(sigma * rng.normal());
  return out;
}

/**
 * [count] BF16 bits with exponents drawn uniformly from [minExp, maxExp], random sign and mantissa;
 * a `zeroFraction` of the elements are +0 or -0 (exponent 0). With exponents 1..6 and some zeros the
 * best window starts at exponent 0 (expBase 0); with exponents near 248 it sits at the top.
 */
export function randomBf16Exponents(rng: Rng, count: number, minExp: number, maxExp: number, zeroFraction = 0): Uint16Array {
  if (minExp < 0 || maxExp > 255 || minExp > maxExp) throw new RangeError(`bad exponent range ${minExp}..${maxExp}`);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    const sign = rng.nextU32() & 0x8000;
    if (rng.next() < zeroFraction) {
      out[i] = sign;
      continue;
    }
    const exponent = rng.int(minExp, maxExp);
    out[i] = sign | (exponent << 7) | (rng.nextU32() & 0x7f);
  }
  return out;
}

/**
 * [count] BF16 bits of N(0, sigma) where an `outlierFraction` of the elements are finite values
 * with exponents far outside the usual window (very large or very small), to stress outlier streams.
 */
export function randomBf16WithOutliers(rng: Rng, count: number, sigma: number, outlierFraction: number): Uint16Array {
  const out = randomBf16Normal(rng, count, sigma);
  for (let i = 0; i < count; i++) {
    if (rng.next() < outlierFraction) {
      const exponent = rng.next() < 0.5 ? rng.int(1, 100) : rng.int(130, 140);
      out[i] = (rng.nextU32() & 0x8000) | (exponent << 7) | (rng.nextU32() & 0x7f);
    }
  }
  return out;
}

/** [count] uniformly random 16-bit patterns: every exponent, subnormals, infinities and NaNs. */
export function randomBf16Bits(rng: Rng, count: number): Uint16Array {
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.nextU32() & 0xffff;
  return out;
}

/** [65536] every BF16 bit pattern once, in a random order (a 256 x 256 matrix exercises them all). */
export function allBf16Patterns(rng: Rng): Uint16Array {
  const out = new Uint16Array(65536);
  for (let i = 0; i < out.length; i++) out[i] = i;
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** [count] i32 uniform in [lo, hi]. */
export function randomInts(rng: Rng, count: number, lo: number, hi: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.int(lo, hi);
  return out;
}
