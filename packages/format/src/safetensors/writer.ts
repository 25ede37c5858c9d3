// Streaming safetensors writer (Node). Tensors are appended one after another, their bytes in
// chunks of any size; the header is written last, into room reserved at the start of the file, so
// tensors may be decided while writing (their layout and metadata such as checksums known only
// then). The JSON is padded with spaces to fill the reserved room.
// Atomic by default: writes a temporary sibling file, fsyncs, renames over PATH; on failure
// nothing is left.

import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type SafetensorsDType, dtypeBytes } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import {
  HEADER_LENGTH_BYTES,
  type SafetensorsTensorInfo,
  type SafetensorsTensorLayout,
  buildSafetensorsHeader,
  headerLengthPrefix,
} from './header.js';

/** Small writes are gathered into a buffer of this size before they reach the file. */
const WRITE_BUFFER_BYTES = 4 << 20;

/** Tensor data: bytes in memory, or chunks streamed from elsewhere with their total declared. */
export type SafetensorsData = Uint8Array | { byteLength: number; chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> };

export interface SafetensorsWriterOptions {
  /**
   * Header bytes reserved before the data (rounded up so the data starts 8-byte aligned). The
   * final header must fit: size it with buildSafetensorsHeader on the largest layout and metadata
   * the file can end up with.
   */
  reserveHeaderBytes: number;
  /** Write to a temporary file and rename at finish() (default true). */
  atomic?: boolean;
}

export class SafetensorsWriter {
  private readonly layout: SafetensorsTensorLayout[] = [];
  private readonly names = new Set<string>();
  private readonly buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private buffered = 0;
  /** Bytes of data that reached the file. */
  private flushed = 0;
  private state: 'open' | 'finished' | 'aborted' = 'open';

  private constructor(
    readonly path: string,
    private readonly tempPath: string,
    private readonly handle: FileHandle,
    /** Reserved header length (8 + it is a multiple of 8). */
    private readonly headerRoom: number,
  ) {}

  static async create(path: string, options: SafetensorsWriterOptions): Promise<SafetensorsWriter> {
    const room = options.reserveHeaderBytes + ((8 - ((HEADER_LENGTH_BYTES + options.reserveHeaderBytes) % 8)) % 8);
    const atomic = options.atomic ?? true;
    const tempPath = atomic ? join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`) : path;
    let handle: FileHandle;
    try {
      handle = await open(tempPath, atomic ? 'wx' : 'w');
    } catch (err) {
      throw new SafetensorsError(path, `cannot create: ${(err as Error).message.split('\n')[0]}`);
    }
    return new SafetensorsWriter(path, tempPath, handle, room);
  }

  /** File offset where the data starts. */
  get dataStart(): number {
    return HEADER_LENGTH_BYTES + this.headerRoom;
  }

  /** Bytes of data written so far. */
  get dataBytes(): number {
    return this.flushed + this.buffered;
  }

  /** Appends a tensor; `data` must hold exactly dtype x shape bytes. Returns its header entry. */
  async addTensor(layout: SafetensorsTensorLayout, data: SafetensorsData): Promise<SafetensorsTensorInfo> {
    if (this.state !== 'open') throw new SafetensorsError(this.path, `tensor "${layout.name}" added after ${this.state}`);
    const where = `tensor "${layout.name}"`;
    if (this.names.has(layout.name)) throw new SafetensorsError(this.path, `duplicate tensor name "${layout.name}"`);
    const bytes = tensorByteLength(layout, this.path);
    if (data.byteLength !== bytes) {
      throw new SafetensorsError(this.path, `${where}: ${data.byteLength} bytes given, ${layout.dtype} ${JSON.stringify(layout.shape)} needs ${bytes}`);
    }
    const begin = this.dataBytes;
    if (data instanceof Uint8Array) {
      await this.append(data);
    } else {
      let got = 0;
      for await (const chunk of data.chunks) {
        got += chunk.byteLength;
        if (got > bytes) break;
        await this.append(chunk);
      }
      if (got !== bytes) {
        throw new SafetensorsError(this.path, `${where}: its chunks held ${got > bytes ? 'more than' : got} bytes, ${bytes} declared`);
      }
    }
    this.names.add(layout.name);
    this.layout.push({ name: layout.name, dtype: layout.dtype, shape: [...layout.shape] });
    return { name: layout.name, dtype: layout.dtype, shape: [...layout.shape], dataOffsets: [begin, begin + bytes] };
  }

  /** Writes the header (tensors in the order added, and `metadata`), fsyncs, closes, renames. */
  async finish(metadata?: Readonly<Record<string, string>>): Promise<void> {
    try {
      await this.flush();
      const { headerBytes } = buildSafetensorsHeader(this.layout, metadata, this.headerRoom);
      if (headerBytes.length !== this.headerRoom) {
        throw new SafetensorsError(this.path, `the header needs ${headerBytes.length} bytes, only ${this.headerRoom} were reserved`);
      }
      await this.writeAt(headerLengthPrefix(headerBytes.length), 0);
      await this.writeAt(headerBytes, HEADER_LENGTH_BYTES);
      await this.handle.sync();
      await this.handle.close();
      if (this.tempPath !== this.path) await rename(this.tempPath, this.path);
      this.state = 'finished';
    } catch (err) {
      await this.abort();
      throw err instanceof SafetensorsError ? err : new SafetensorsError(this.path, `write failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  /** Closes and deletes the partial file. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.handle.close().catch(() => {});
    await unlink(this.tempPath).catch(() => {});
  }

  private async append(chunk: Uint8Array): Promise<void> {
    try {
      if (chunk.byteLength >= WRITE_BUFFER_BYTES) {
        await this.flush();
        await this.writeAt(chunk, this.dataStart + this.flushed);
        this.flushed += chunk.byteLength;
        return;
      }
      if (this.buffered + chunk.byteLength > WRITE_BUFFER_BYTES) await this.flush();
      this.buffer.set(chunk, this.buffered);
      this.buffered += chunk.byteLength;
    } catch (err) {
      throw new SafetensorsError(this.path, `write failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const n = this.buffered;
    this.buffered = 0;
    await this.writeAt(this.buffer.subarray(0, n), this.dataStart + this.flushed);
    this.flushed += n;
  }

  private async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.handle.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30), position + done);
      done += bytesWritten;
    }
  }
}

function tensorByteLength(layout: SafetensorsTensorLayout, path: string): number {
  let bytes = dtypeBytes(layout.dtype);
  for (const d of layout.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(path, `tensor "${layout.name}": bad shape ${JSON.stringify(layout.shape)}`);
    bytes *= d;
  }
  return bytes;
}

export interface SafetensorsWriteEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: SafetensorsData;
}

/** Writes a safetensors file atomically, tensors laid out in the order given. */
export async function writeSafetensors(
  path: string,
  entries: readonly SafetensorsWriteEntry[],
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  let headerBytes: number;
  try {
    headerBytes = buildSafetensorsHeader(entries, metadata).headerBytes.length;
  } catch (err) {
    throw new SafetensorsError(path, (err as Error).message);
  }
  const writer = await SafetensorsWriter.create(path, { reserveHeaderBytes: headerBytes });
  try {
    for (const entry of entries) await writer.addTensor(entry, entry.data);
    await writer.finish(metadata);
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
