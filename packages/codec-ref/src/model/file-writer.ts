// A file written front to back in chunks of any size (small ones are gathered before a write).

import { type FileHandle, open } from 'node:fs/promises';

const BUFFER_BYTES = 4 << 20;

export class SequentialFileWriter {
  private readonly buffer = new Uint8Array(BUFFER_BYTES);
  private buffered = 0;
  private position = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(path: string): Promise<SequentialFileWriter> {
    return new SequentialFileWriter(path, await open(path, 'wx'));
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.position + this.buffered;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength >= BUFFER_BYTES) {
      await this.flush();
      await this.writeOut(chunk);
      return;
    }
    if (this.buffered + chunk.byteLength > BUFFER_BYTES) await this.flush();
    this.buffer.set(chunk, this.buffered);
    this.buffered += chunk.byteLength;
  }

  /** Flushes, fsyncs and closes. */
  async close(): Promise<void> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
  }

  /** Closes without flushing (the caller discards the file). */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const n = this.buffered;
    this.buffered = 0;
    await this.writeOut(this.buffer.subarray(0, n));
  }

  private async writeOut(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.handle.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30), this.position);
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }
}
