// The float64 GEMM oracle: y = x . W^T with W given as BF16 bits, as PyTorch's nn.Linear computes it.

import { bf16ToF32, f32ToBf16 } from '@zipserv/format';

export interface ReferenceGemmOptions {
  /** Round each activation to BF16 (nearest even) first, as a backend with bf16 matmul inputs does. */
  roundInputToBf16?: boolean;
}

/**
 * y[N, M] f64 = x[N, K] . W[M, K]^T.
 * Every product of an f32 and a BF16 value is exact in float64 (24 + 8 significant bits), so the
 * only rounding is in the k-ascending sum, about 1e-16 relative: an oracle for f32 backends.
 */
export function referenceGemm(
  x: Float32Array, // [N, K] f32
  weightBits: Uint16Array, // [M, K] bf16 bits
  n: number,
  k: number,
  m: number,
  options: ReferenceGemmOptions = {},
): Float64Array {
  if (x.length < n * k) throw new RangeError(`referenceGemm: x holds ${x.length} values, [${n}, ${k}] needs ${n * k}`);
  if (weightBits.length < m * k) throw new RangeError(`referenceGemm: W holds ${weightBits.length} values, [${m}, ${k}] needs ${m * k}`);
  const w = new Float64Array(m * k); // [M, K] f64, widened once
  for (let i = 0; i < m * k; i++) w[i] = bf16ToF32(weightBits[i]!);
  const xs = new Float64Array(n * k); // [N, K] f64
  for (let i = 0; i < n * k; i++) xs[i] = options.roundInputToBf16 ? bf16ToF32(f32ToBf16(x[i]!)) : x[i]!;
  const y = new Float64Array(n * m); // [N, M] f64
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < m; col++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += xs[row * k + i]! * w[col * k + i]!;
      y[row * m + col] = sum;
    }
  }
  return y;
}
