// Reusable shared buffers for per-tensor work in compress. A fresh buffer per tensor is first-touched page by
// page every time (measured ~200 MB/s on a small VM: most of `zipserv compress`'s wall time); reusing a few
// buffers pays that once. Shared, so the encoder pool's workers read and write them in place.

export class SharedBufferPool {
  readonly #free: SharedArrayBuffer[] = [];

  /** keep: free buffers retained (the largest ones). */
  constructor(readonly keep = 3) {}

  /** A view of exactly `bytes` bytes at offset 0 of a pooled (or new) SharedArrayBuffer. */
  take(bytes: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const cap = this.#free[i]!.byteLength;
      if (cap >= bytes && (best < 0 || cap < this.#free[best]!.byteLength)) best = i;
    }
    const buffer = best >= 0 ? this.#free.splice(best, 1)[0]! : new SharedArrayBuffer(Math.max(8, bytes));
    return new Uint8Array(buffer, 0, bytes);
  }

  /** Returns a view's buffer to the pool; the caller must not use the view afterwards. */
  give(view: ArrayBufferView): void {
    if (!(view.buffer instanceof SharedArrayBuffer) || this.#free.includes(view.buffer)) return;
    this.#free.push(view.buffer);
    if (this.#free.length > this.keep) {
      this.#free.sort((a, b) => b.byteLength - a.byteLength);
      this.#free.length = this.keep;
    }
  }
}
