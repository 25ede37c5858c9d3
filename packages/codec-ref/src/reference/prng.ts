// Seeded pseudo-random numbers for tests and the conformance suite: xoshiro128** (small state,
// fast in 32-bit JS arithmetic, good statistical quality), seeded through splitmix32 so any 32-bit
// seed (0 included) gives a well-mixed state. Deterministic across platforms: only 32-bit integer ops.

export interface Rng {
  /** The 32-bit seed this generator started from (print it to reproduce a failure). */
  readonly seed: number;
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  /** Standard normal N(0, 1) (Box-Muller). */
  normal(): number;
  /** An independent generator derived from this one's next outputs and a label. */
  fork(label: string): Rng;
}

/** splitmix32 step: a bijective mixer used for seeding. */
function splitmix32(state: number): [next: number, out: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a hash of a string, for deriving per-case seeds from a base seed and a case id. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** xoshiro128** generator seeded with a 32-bit integer. */
export function createRng(seed: number): Rng {
  const seed32 = seed >>> 0;
  let st = seed32;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  [st, s0] = splitmix32(st);
  [st, s1] = splitmix32(st);
  [st, s2] = splitmix32(st);
  [st, s3] = splitmix32(st);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point

  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  const next = (): number => nextU32() / 4294967296;
  let spareNormal: number | null = null;
  return {
    seed: seed32,
    nextU32,
    next,
    int(lo, hi) {
      if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) throw new RangeError(`bad integer range [${lo}, ${hi}]`);
      return lo + Math.floor(next() * (hi - lo + 1));
    },
    normal() {
      if (spareNormal !== null) {
        const z = spareNormal;
        spareNormal = null;
        return z;
      }
      // 1 - next() is in (0, 1], so the log is finite.
      const radius = Math.sqrt(-2 * Math.log(1 - next()));
      const angle = 2 * Math.PI * next();
      spareNormal = radius * Math.sin(angle);
      return radius * Math.cos(angle);
    },
    fork(label) {
      return createRng((nextU32() ^ hashString(label)) >>> 0);
    },
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A fresh, unpredictable 32-bit seed (crypto when available). */
export function randomSeed(): number {
  const cryptoApi = (globalThis as { crypto?: { getRandomValues(a: Uint32Array): Uint32Array } }).crypto;
  if (cryptoApi) return cryptoApi.getRandomValues(new Uint32Array(1))[0]! >>> 0;
  return Math.floor(Math.random() * 4294967296) >>> 0;
}
