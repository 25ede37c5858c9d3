// Comparisons of the conformance suite. They throw a ConformanceFailure whose message says what
// was compared, by how much it missed and where; the suite adds the case id and seed.

import { firstBitMismatch, firstNaN, relativeError } from '../reference/metrics.js';

export class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

type Values = Float32Array | Uint16Array | Int32Array | Uint8Array;

/** Relative error below `tolerance`, and no NaN (an unwritten, poisoned output is NaN). */
export function checkClose(what: string, got: Float32Array, want: ArrayLike<number>, tolerance: number): number {
  if (got.length !== want.length) throw new ConformanceFailure(`${what}: ${got.length} values, expected ${want.length}`);
  const nan = firstNaN(got);
  if (nan >= 0 && firstNaN(want) < 0) {
    let count = 0;
    for (const v of got) if (Number.isNaN(v)) count++;
    throw new ConformanceFailure(`${what}: ${count} NaN values (first at flat index ${nan}): unwritten or NaN-producing output`);
  }
  const err = relativeError(got, want);
  if (!(err < tolerance)) {
    let worst = 0;
    for (let i = 0; i < got.length; i++) if (Math.abs(got[i]! - want[i]!) > Math.abs(got[worst]! - want[worst]!)) worst = i;
    throw new ConformanceFailure(`${what}: relative error ${err.toExponential(3)} >= ${tolerance} (largest miss at flat index ${worst}: got ${got[worst]}, expected ${want[worst]})`);
  }
  return err;
}

/** Same bytes, element by element (NaN payloads and signed zeros included). */
export function checkBits(what: string, got: Values, want: Values): void {
  if (got.constructor !== want.constructor || got.length !== want.length) {
    throw new ConformanceFailure(`${what}: got ${got.constructor.name}[${got.length}], expected ${want.constructor.name}[${want.length}]`);
  }
  const i = firstBitMismatch(got, want);
  if (i >= 0) {
    let count = 0;
    for (let j = i; j < got.length; j++) if (got[j] !== want[j] && !(Number.isNaN(got[j]!) && Number.isNaN(want[j]!))) count++;
    throw new ConformanceFailure(`${what}: not bit-exact, first difference at flat index ${i}: got ${describe(got, i)}, expected ${describe(want, i)} (${count} values differ by value)`);
  }
}

function describe(a: Values, i: number): string {
  if (a instanceof Float32Array) return `${a[i]} (0x${new Uint32Array(a.buffer, a.byteOffset, a.length)[i]!.toString(16)})`;
  if (a instanceof Uint16Array) return `0x${a[i]!.toString(16)}`;
  return String(a[i]);
}

/** Splits got/want into the elements where `inside(i)` holds (compared with checkClose) and the rest (bit-exact). */
export function checkRegion(what: string, got: Float32Array, want: Float32Array, inside: (flatIndex: number) => boolean, tolerance: number): void {
  if (got.length !== want.length) throw new ConformanceFailure(`${what}: ${got.length} values, expected ${want.length}`);
  const inGot: number[] = [];
  const inWant: number[] = [];
  const outIndex: number[] = [];
  for (let i = 0; i < got.length; i++) {
    if (inside(i)) {
      inGot.push(got[i]!);
      inWant.push(want[i]!);
    } else {
      outIndex.push(i);
    }
  }
  checkClose(what, Float32Array.from(inGot), inWant, tolerance);
  const gotBits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const wantBits = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (const i of outIndex) {
    if (gotBits[i] !== wantBits[i]) throw new ConformanceFailure(`${what}: element ${i}, outside the written region, changed: got 0x${gotBits[i]!.toString(16)}, expected it untouched (0x${wantBits[i]!.toString(16)})`);
  }
}

/**
 * Thrown by a case the backend cannot run (an op, weight path or dtype missing from its capabilities)
 * when the harness gave the test no `skip` function: a runner outside vitest should report a
 * ConformanceSkip as a skip, with its message as the reason.
 */
export class ConformanceSkip extends Error {
  constructor(readonly reason: string) {
    super(`skipped: ${reason}`);
    this.name = 'ConformanceSkip';
  }
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}
