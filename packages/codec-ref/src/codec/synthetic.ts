// Seeded synthetic BF16 weights for tests and benchmarks (never zeros or constants: see
// shared/docs/performance.md). Internal: not exported from the package.

import { f32ArrayToBf16 } from '@zipserv/format';

/** mulberry32: a small, fast, seeded 32-bit PRNG. Returns uniforms in [0, 1). */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** [count] BF16 bits drawn from N(0, std^2) (Box-Muller), rounded to nearest even. */
export function gaussianBf16(count: number, std: number, seed: number): Uint16Array {
  const uniform = seededUniform(seed);
  const values = new Float32Array(count); // [count] f32
  for (let i = 0; i < count; i += 2) {
    const u = 1 - uniform(); // (0, 1]: log stays finite
    const v = uniform();
    const radius = std * Math.sqrt(-2 * Math.log(u));
    values[i] = radius * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(2 * Math.PI * v);
  }
  return f32ArrayToBf16(values);
}

/** [count] uniformly random 16-bit patterns. */
export function randomBits(count: number, seed: number): Uint16Array {
  const uniform = seededUniform(seed);
  const bits = new Uint16Array(count);
  for (let i = 0; i < count; i++) bits[i] = (uniform() * 65536) >>> 0;
  return bits;
}
