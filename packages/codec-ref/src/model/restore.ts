// Rebuilds the original bytes of one container file, front to back, handing each piece to a sink:
// the 8-byte length, the original header, then every tensor in original data-offset order. Every
// tensor's CRC-32 and SHA-256 and the whole file's size and SHA-256 are checked. Shared by
// decompress (stops at the first problem) and verify (reports every problem, then goes on).

import {
  type ContainerIndex,
  ContainerError,
  type SafetensorsFile,
  Sha256,
  crc32,
  headerLengthPrefix,
} from '@zipserv/format';
import { type MatrixDecoder, checkSha256, decodeBytes, hex8, loadMatrix } from './container-file.js';

/** Receives original bytes at original file offset `position`; `tensor` names their tensor. */
export type RestoreSink = (bytes: Uint8Array, position: number, tensor: string | null) => Promise<void> | void;

export interface RestoreHooks {
  /** After each tensor (restored or failed), with its original byte count. */
  onTensor?: (name: string, originalBytes: number) => void;
  /**
   * When given, a tensor that fails its checks is reported here and skipped (its bytes are not
   * emitted), and the whole-file checks are skipped; otherwise the error is thrown.
   */
  onTensorError?: (name: string, error: Error) => void;
}

/** Returns true when every check passed. */
export async function restoreFile(
  file: SafetensorsFile,
  container: ContainerIndex,
  decode: MatrixDecoder,
  sink: RestoreSink,
  hooks: RestoreHooks = {},
): Promise<boolean> {
  const { source } = container;
  const fileHash = new Sha256();
  let position = 0;
  let failed = false;
  const emit = async (bytes: Uint8Array, tensor: string | null) => {
    fileHash.update(bytes);
    await sink(bytes, position, tensor);
    position += bytes.byteLength;
  };
  await emit(headerLengthPrefix(source.header.length), null);
  await emit(source.header, null);
  const dataStart = position;
  const byOffset = [...container.tensors].sort((a, b) => a.originalOffsets[0] - b.originalOffsets[0]);
  // The next compressed tensor is read, CRC-checked and decoded while this one is hashed and
  // handed to the sink.
  const prefetch = (i: number): Promise<Uint8Array> | null => {
    const t = byOffset[i];
    if (t?.storage !== 'tca-tbe') return null;
    const p = loadMatrix(file, t, true).then((m) => decodeBytes(file.path, t, m, decode));
    p.catch(() => {}); // awaited in turn; not an unhandled rejection meanwhile
    return p;
  };
  let next = prefetch(0);
  for (const [i, t] of byOffset.entries()) {
    position = dataStart + t.originalOffsets[0];
    const loading = next;
    next = null;
    try {
      if (!loading) {
        next = prefetch(i + 1);
        // Streamed, since a raw tensor may be larger than one buffer can hold. Bytes reach the sink
        // before the checks complete: on error, callers discard what they wrote.
        const sha = new Sha256();
        let crc = 0;
        for await (const chunk of file.chunks(t.name)) {
          crc = crc32(chunk, crc);
          sha.update(chunk);
          await emit(chunk, t.name);
        }
        if (crc !== t.crc32) {
          throw new ContainerError(file.path, `tensor "${t.name}": CRC-32 mismatch (stored ${hex8(crc)}, recorded ${hex8(t.crc32)}): the file is corrupted`);
        }
        checkSha256(file.path, t, sha.hex());
      } else {
        const bytes = await loading;
        next = prefetch(i + 1);
        checkSha256(file.path, t, new Sha256().update(bytes).hex());
        await emit(bytes, t.name);
      }
    } catch (err) {
      if (!hooks.onTensorError) throw err;
      next ??= prefetch(i + 1);
      hooks.onTensorError(t.name, err as Error);
      failed = true;
    }
    hooks.onTensor?.(t.name, t.originalBytes);
  }
  if (failed) return false;
  if (position !== source.fileBytes) {
    throw new ContainerError(file.path, `restored ${position} bytes, the original file had ${source.fileBytes}`);
  }
  if (fileHash.hex() !== source.sha256) {
    throw new ContainerError(file.path, 'SHA-256 of the restored file does not match the original');
  }
  return true;
}
