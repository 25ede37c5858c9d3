// Progress reports of long model operations (the CLI draws bars from them).

export type ModelPhase = 'scan' | 'compress' | 'decompress' | 'verify' | 'copy';

export interface ModelProgress {
  phase: ModelPhase;
  /** Path of the file being processed, relative to the model root. */
  file: string;
  /** Tensor being processed, when there is one. */
  tensor?: string;
  /** Bytes of the phase done so far and in total (original, uncompressed bytes). */
  bytesDone: number;
  bytesTotal: number;
}

export type ProgressCallback = (progress: ModelProgress) => void;

/** Counts bytes of one phase and reports them. */
export class ProgressCounter {
  private done = 0;
  constructor(
    private readonly phase: ModelPhase,
    private readonly total: number,
    private readonly callback: ProgressCallback | undefined,
  ) {}

  add(bytes: number, file: string, tensor?: string): void {
    this.done += bytes;
    this.callback?.({ phase: this.phase, file, ...(tensor !== undefined ? { tensor } : {}), bytesDone: this.done, bytesTotal: this.total });
  }
}
