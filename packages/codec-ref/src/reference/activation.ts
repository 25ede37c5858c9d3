// SiLU-gated activation oracle (Llama's MLP: down(silu(gate(x)) * up(x))), in float64.

/** silu(v) = v * sigmoid(v) = v / (1 + e^-v). Very negative v gives -0 (e^-v overflows to Infinity). */
export const silu = (v: number): number => v / (1 + Math.exp(-v));

/** out[N, I] = silu(x[N, 0:I]) * x[N, I:2I], rounded to f32 once. */
export function referenceSiluMul(
  x: Float32Array, // [N, 2I] f32: gate | up
  rows: number,
  intermediate: number,
  out: Float32Array, // [N, I] f32
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * 2 * intermediate;
    for (let i = 0; i < intermediate; i++) out[r * intermediate + i] = silu(x[base + i]!) * x[base + intermediate + i]!;
  }
}
