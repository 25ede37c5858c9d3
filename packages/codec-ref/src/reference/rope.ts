// Rotary position embedding oracle, Hugging Face layout (`rotate_half`: the two halves of a head
// are the real and imaginary parts), with Llama-3 and linear frequency scaling.
//
// inv_freq and the angle are computed in float32 step by step exactly as transformers does
// (`_compute_default_rope_parameters`, `_compute_llama3_parameters`, then
// `inv_freq[None, :, None].float() @ position_ids[:, None, :].float()`): at position 1e5 a float64
// angle differs from HF's float32 angle by up to ~1e-2 rad, far more than any kernel error.
// The trigonometry and the rotation then run in float64. Backends should take inv_freq from
// `ropeInvFreq` (or compute it the same way) and the angle as fround(position * invFreq).

import type { RopeScaling } from '@zipserv/format';

const f = Math.fround;

/**
 * [headDim/2] f32 inverse frequencies as transformers computes them (float32 arithmetic, scalars
 * cast to float32 where torch casts them). `**` rounded to f32 may differ from a platform's
 * powf by 1 ulp in rare cases.
 */
export function ropeInvFreq(headDim: number, theta: number, scaling?: RopeScaling): Float32Array {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new RangeError(`rope: headDim must be a positive even integer, got ${headDim}`);
  if (!(theta > 0)) throw new RangeError(`rope: theta must be > 0, got ${theta}`);
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  // 1.0 / (base ** (arange(0, dim, 2).float() / dim)); `1.0 / t` is t.reciprocal() * 1.0.
  for (let i = 0; i < half; i++) invFreq[i] = f(1 / f(f(theta) ** f((2 * i) / headDim)));
  if (!scaling) return invFreq;
  if (scaling.type === 'linear') {
    if (!(scaling.factor > 0)) throw new RangeError(`rope: linear scaling factor must be > 0, got ${scaling.factor}`);
    for (let i = 0; i < half; i++) invFreq[i] = f(invFreq[i]! / f(scaling.factor));
    return invFreq;
  }
  if (scaling.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContextLen } = scaling;
    if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || !(oldContextLen > 0)) {
      throw new RangeError(`rope: bad llama3 scaling ${JSON.stringify(scaling)}`);
    }
    // Python floats, cast to f32 where they meet the f32 tensor.
    const lowFreqWavelen = f(oldContextLen / lowFreqFactor);
    const highFreqWavelen = f(oldContextLen / highFreqFactor);
    for (let i = 0; i < half; i++) {
      const inv = invFreq[i]!;
      const wavelen = f(f(1 / inv) * f(2 * Math.PI)); // 2*math.pi / inv_freq == inv_freq.reciprocal() * 2pi
      let scaled = wavelen > lowFreqWavelen ? f(inv / f(factor)) : inv;
      const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
      if (isMedium) {
        // smooth = (old_context_len / wavelen - low) / (high - low)
        const smooth = f(f(f(f(1 / wavelen) * f(oldContextLen)) - f(lowFreqFactor)) / f(highFreqFactor - lowFreqFactor));
        // (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
        scaled = f(f(f(f(1 - smooth) * scaled) / f(factor)) + f(smooth * scaled));
      }
      invFreq[i] = scaled;
    }
    return invFreq;
  }
  throw new RangeError(`rope: unknown scaling type '${(scaling as { type: string }).type}'`);
}

/** The rotation angle of frequency `invFreq` at `position`, in float32 as HF computes it. */
export const ropeAngle = (position: number, invFreq: number): number => f(f(position) * invFreq);

/**
 * In place on x[N, rowWidth] f32: rotates heads [firstHead, firstHead+numHeads) (head h at
 * columns h*hd .. h*hd+hd-1) of row n by position positions[n]:
 *   out[i]      = x[i] cos(a_i) - x[i+hd/2] sin(a_i)
 *   out[i+hd/2] = x[i+hd/2] cos(a_i) + x[i] sin(a_i),   a_i = angle(positions[n], invFreq[i]).
 */
export function referenceRope(
  x: Float32Array, // [N, rowWidth] f32
  rows: number,
  rowWidth: number,
  positions: Int32Array, // [N] i32
  firstHead: number,
  numHeads: number,
  headDim: number,
  invFreq: Float32Array, // [hd/2] f32
): void {
  const half = headDim / 2;
  if (invFreq.length !== half) throw new RangeError(`rope: ${invFreq.length} frequencies for head dim ${headDim}`);
  if ((firstHead + numHeads) * headDim > rowWidth) throw new RangeError(`rope: heads ${firstHead}..${firstHead + numHeads} exceed the row width ${rowWidth}`);
  for (let n = 0; n < rows; n++) {
    const position = positions[n]!;
    for (let i = 0; i < half; i++) {
      const angle = ropeAngle(position, invFreq[i]!);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let h = firstHead; h < firstHead + numHeads; h++) {
        const lo = n * rowWidth + h * headDim + i;
        const a = x[lo]!;
        const b = x[lo + half]!;
        x[lo] = a * cos - b * sin;
        x[lo + half] = b * cos + a * sin;
      }
    }
  }
}
