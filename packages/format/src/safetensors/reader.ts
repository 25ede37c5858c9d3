// Streaming safetensors reader (Node): reads the header once, then tensors by byte range through a
// FileHandle, so files of any size work (positions are numbers, exact up to 2^53).

import { constants as bufferConstants } from 'node:buffer';
import { type FileHandle, open } from 'node:fs/promises';
import { SafetensorsError } from './errors.js';
import {
  HEADER_LENGTH_BYTES,
  type SafetensorsTensorInfo,
  checkHeaderLength,
  parseSafetensorsHeader,
} from './header.js';

/** One read() call moves at most this much: the OS caps a read near 2 GiB. */
const MAX_READ_CHUNK = 1 << 30;

export class SafetensorsFile {
  private readonly byName: Map<string, SafetensorsTensorInfo>;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly fileSize: number,
    /** The exact N header bytes after the length prefix, trailing spaces included. */
    readonly headerBytes: Uint8Array,
    readonly metadata: Record<string, string>,
    /** In header order. */
    readonly tensors: readonly SafetensorsTensorInfo[],
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  /** File offset of the data section: 8 + header length. */
  get dataStart(): number {
    return HEADER_LENGTH_BYTES + this.headerBytes.length;
  }

  /** Opens `path` and validates its header; no tensor data is read. */
  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw fileSystemError(path, err);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new SafetensorsError(path, 'not a regular file');
      const fileSize = stat.size;
      const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
      const got = fileSize >= HEADER_LENGTH_BYTES ? await readFully(handle, prefix, 0) : 0;
      const length = checkHeaderLength(
        got === HEADER_LENGTH_BYTES ? new DataView(prefix.buffer).getBigUint64(0, true) : 0n,
        got === HEADER_LENGTH_BYTES ? fileSize : got,
        path,
      );
      const headerBytes = new Uint8Array(length);
      if ((await readFully(handle, headerBytes, HEADER_LENGTH_BYTES)) !== length) {
        throw new SafetensorsError(path, 'file shrank while its header was read');
      }
      const header = parseSafetensorsHeader(headerBytes, fileSize - HEADER_LENGTH_BYTES - length, path);
      return new SafetensorsFile(path, handle, fileSize, headerBytes, header.metadata, header.tensors);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The tensor's header entry; throws naming the file when absent. */
  tensor(name: string): SafetensorsTensorInfo {
    const info = this.byName.get(name);
    if (!info) throw new SafetensorsError(this.path, `no tensor named "${name}"`);
    return info;
  }

  /** Byte size of a tensor's data. */
  byteLength(name: string): number {
    const [begin, end] = this.tensor(name).dataOffsets;
    return end - begin;
  }

  /** The tensor's bytes in a new, 8-byte-aligned Uint8Array (view any typed array over its buffer). */
  async read(name: string): Promise<Uint8Array> {
    const out = allocateBytes(this.byteLength(name), () => `tensor "${name}"`, this.path);
    return this.readInto(name, out);
  }

  /** Reads the tensor's bytes into `target` (exactly its byte length); returns `target`. */
  async readInto(name: string, target: Uint8Array): Promise<Uint8Array> {
    const [begin, end] = this.tensor(name).dataOffsets;
    if (target.byteLength !== end - begin) {
      throw new SafetensorsError(this.path, `tensor "${name}" holds ${end - begin} bytes, target holds ${target.byteLength}`);
    }
    await this.readRange(this.dataStart + begin, target, () => `tensor "${name}"`);
    return target;
  }

  /** The tensor's bytes as consecutive chunks of at most `chunkBytes` (for tensors too big to hold). */
  async *chunks(name: string, chunkBytes = 64 << 20): AsyncGenerator<Uint8Array> {
    const [begin, end] = this.tensor(name).dataOffsets;
    const buffer = new Uint8Array(Math.max(1, Math.min(chunkBytes, end - begin)));
    for (let at = begin; at < end; at += buffer.length) {
      const part = buffer.subarray(0, Math.min(buffer.length, end - at));
      await this.readRange(this.dataStart + at, part, () => `tensor "${name}"`);
      yield part;
    }
  }

  /** Reads `target.byteLength` bytes at absolute file `position`. */
  async readRange(position: number, target: Uint8Array, what: () => string = () => 'data'): Promise<void> {
    if (this.closed) throw new SafetensorsError(this.path, 'read after close');
    let got: number;
    try {
      got = await readFully(this.handle, target, position);
    } catch (err) {
      throw fileSystemError(this.path, err);
    }
    if (got !== target.byteLength) {
      throw new SafetensorsError(this.path, `truncated while reading ${what()}: got ${got} of ${target.byteLength} bytes at offset ${position}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Reads until `target` is full or EOF; returns the bytes read. */
async function readFully(handle: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(MAX_READ_CHUNK, target.byteLength - done);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** A Uint8Array of `bytes`, or a clear error when the runtime cannot hold one that large. */
export function allocateBytes(bytes: number, what: () => string, file: string): Uint8Array {
  if (bytes > bufferConstants.MAX_LENGTH) {
    throw new SafetensorsError(file, `${what()} is ${bytes} bytes, more than one buffer can hold in this runtime (${bufferConstants.MAX_LENGTH})`);
  }
  try {
    return new Uint8Array(bytes);
  } catch {
    throw new SafetensorsError(file, `${what()} is ${bytes} bytes: out of memory allocating it`);
  }
}

function fileSystemError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return new SafetensorsError(path, 'no such file');
  if (e?.code === 'EISDIR') return new SafetensorsError(path, 'is a directory, not a safetensors file');
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return new SafetensorsError(path, 'permission denied');
  if (e instanceof Error) return new SafetensorsError(path, `${e.message.split('\n')[0]}`);
  return new SafetensorsError(path, String(err));
}
