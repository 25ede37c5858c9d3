// Fixed-size KV-cache blocks handed out to sequences (paged attention). A free list of block ids;
// a sequence holds its blocks until it finishes or is cancelled.

export class BlockAllocator {
  private readonly freeList: number[];

  constructor(readonly numBlocks: number) {
    if (!Number.isSafeInteger(numBlocks) || numBlocks < 1) throw new RangeError(`a KV cache needs at least one block, got ${numBlocks}`);
    // Pop from the end: hand out low ids first (stable, easy to read in tests).
    this.freeList = Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i);
  }

  get freeCount(): number {
    return this.freeList.length;
  }

  get usedCount(): number {
    return this.numBlocks - this.freeList.length;
  }

  /** n blocks, or null (and nothing taken) when fewer are free. */
  allocate(n: number): number[] | null {
    if (n > this.freeList.length) return null;
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.freeList.pop()!);
    return out;
  }

  free(blocks: readonly number[]): void {
    for (const b of blocks) {
      if (!Number.isInteger(b) || b < 0 || b >= this.numBlocks) throw new RangeError(`block ${b} is not a block of this cache`);
      this.freeList.push(b);
    }
    if (this.freeList.length > this.numBlocks) throw new Error('a KV block was freed twice');
  }
}
