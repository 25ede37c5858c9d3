// Small float64 references and seeded random data for the kernel tests.

import { bf16ToF32, f32ToBf16 } from '@zipserv/format';

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

export function randomF32(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = normal(r) * scale;
  return a;
}

/** BF16 weights ~ N(0, sigma). */
export function randomBf16(r: () => number, n: number, sigma = 0.02): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = f32ToBf16(normal(r) * sigma);
  return a;
}

/** BF16 values spread over many exponents, with zeros, subnormals, huge and tiny values; finite
 *  positives go up to the bit pattern `maxBits` (0x7f7f: the largest finite BF16). */
export function adversarialBf16(r: () => number, n: number, maxBits = 0x7f7f): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.05) a[i] = 0;
    else if (k < 0.1) a[i] = 0x8000 | Math.floor(r() * 0x7f); // -0 and negative subnormals
    else if (k < 0.2) a[i] = Math.floor(r() * maxBits); // finite positives of any exponent up to maxBits
    else a[i] = f32ToBf16(normal(r) * 0.02);
  }
  return a;
}

/** y[N, M] = x[N, K] . W[M, K]^T in float64. */
export function matmulRef(x: Float32Array, w: Uint16Array, n: number, k: number, m: number): Float64Array {
  const wf = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) wf[i] = bf16ToF32(w[i]!);
  const y = new Float64Array(n * m);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < m; b++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += x[a * k + c]! * wf[b * k + c]!;
      y[a * m + b] = s;
    }
  }
  return y;
}

/** ||a - b|| / ||b||; NaN anywhere gives Infinity. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) return Number.POSITIVE_INFINITY;
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}
