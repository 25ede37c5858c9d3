// The paged KV cache on the device: per layer a K and a V pool of [blocks, blockSize, Hkv, hd].

import type { DeviceTensor, ZipservBackendV1 } from '@zipserv/format';
import { BlockAllocator } from './block-allocator.js';

export interface KvCacheOptions {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  numBlocks: number;
  dtype: 'f32' | 'bf16';
}

export class PagedKvCache {
  readonly allocator: BlockAllocator;
  readonly kCaches: DeviceTensor[] = []; // per layer [blocks, blockSize, Hkv, hd]
  readonly vCaches: DeviceTensor[] = []; // per layer [blocks, blockSize, Hkv, hd]
  readonly bytes: number;

  constructor(
    private readonly backend: ZipservBackendV1,
    readonly options: KvCacheOptions,
  ) {
    const { numLayers, numKvHeads, headDim, blockSize, numBlocks, dtype } = options;
    this.allocator = new BlockAllocator(numBlocks);
    const shape = [numBlocks, blockSize, numKvHeads, headDim];
    try {
      for (let l = 0; l < numLayers; l++) {
        this.kCaches.push(backend.createTensor({ dtype, shape }));
        this.vCaches.push(backend.createTensor({ dtype, shape }));
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
    this.bytes = this.kCaches.reduce((s, t) => s + t.byteLength, 0) * 2;
  }

  get blockSize(): number {
    return this.options.blockSize;
  }

  /** Cache slot of position `pos` of a sequence holding `blocks`. */
  slot(blocks: readonly number[], pos: number): number {
    const bs = this.options.blockSize;
    return blocks[Math.floor(pos / bs)]! * bs + (pos % bs);
  }

  dispose(): void {
    for (const t of [...this.kCaches, ...this.vCaches]) this.backend.free(t);
    this.kCaches.length = 0;
    this.vCaches.length = 0;
  }
}
