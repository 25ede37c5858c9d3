// Reading the tensors of one weights file that may be a zipserv container: stored bytes with their
// CRC-32 checked, TCA-TBE matrices, and original tensor bytes with their SHA-256 checked.

import {
  type ContainerIndex,
  type ContainerTensor,
  ContainerError,
  SafetensorsFile,
  Sha256,
  type TcaTbeMatrix,
  crc32,
  isContainerMetadata,
  parseContainer,
  tcaMatrixFromComponents,
} from '@zipserv/format';

/** Decodes a TCA-TBE matrix to BF16 bits [rows*cols] (in this thread or in a worker pool). */
export type MatrixDecoder = (m: TcaTbeMatrix) => Promise<Uint16Array>;

export interface WeightsFile {
  file: SafetensorsFile;
  /** The container index, or null for an ordinary safetensors file. */
  container: ContainerIndex | null;
}

/** Opens a safetensors file; parses and validates its container metadata when it has some. */
export async function openWeightsFile(path: string): Promise<WeightsFile> {
  const file = await SafetensorsFile.open(path);
  try {
    const container = isContainerMetadata(file.metadata) ? parseContainer(file, path) : null;
    return { file, container };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/**
 * The stored components of `t` (one for raw, four for tca-tbe), CRC-32 checked. `shared` reads them
 * into SharedArrayBuffers, which a worker pool uses in place.
 */
export async function readStoredParts(file: SafetensorsFile, t: ContainerTensor, shared = false): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  let crc = 0;
  for (const s of t.stored) {
    const n = s.dataOffsets[1] - s.dataOffsets[0];
    const bytes = shared ? await file.readInto(s.name, new Uint8Array(new SharedArrayBuffer(n))) : await file.read(s.name);
    crc = crc32(bytes, crc);
    parts.push(bytes);
  }
  if (crc !== t.crc32) {
    throw new ContainerError(file.path, `tensor "${t.name}": CRC-32 mismatch (stored ${hex8(crc)}, recorded ${hex8(t.crc32)}): the file is corrupted`);
  }
  return parts;
}

/** The TCA-TBE matrix of compressed tensor `t`: CRC-32 checked and structurally validated. */
export async function loadMatrix(file: SafetensorsFile, t: ContainerTensor, shared = false): Promise<TcaTbeMatrix> {
  if (!t.matrix || t.expBase === undefined) throw new ContainerError(file.path, `tensor "${t.name}" is stored raw, not as tca-tbe`);
  const parts = await readStoredParts(file, t, shared);
  try {
    return tcaMatrixFromComponents(t.matrix.rows, t.matrix.cols, t.expBase, parts as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]);
  } catch (err) {
    throw new ContainerError(file.path, `tensor "${t.name}": ${(err as Error).message}`);
  }
}

/** The original bytes of `t`, decoded when compressed; CRC-32 and SHA-256 checked. */
export async function restoreTensor(file: SafetensorsFile, t: ContainerTensor, decode: MatrixDecoder): Promise<Uint8Array> {
  if (t.storage === 'raw') {
    const bytes = (await readStoredParts(file, t))[0]!;
    checkSha256(file.path, t, new Sha256().update(bytes).hex());
    return bytes;
  }
  return decodeChecked(file.path, t, await loadMatrix(file, t), decode);
}

/** Decodes a loaded matrix of `t` and checks the SHA-256 of the result. */
export async function decodeChecked(path: string, t: ContainerTensor, m: TcaTbeMatrix, decode: MatrixDecoder): Promise<Uint8Array> {
  const bytes = await decodeBytes(path, t, m, decode);
  checkSha256(path, t, new Sha256().update(bytes).hex());
  return bytes;
}

/** Decodes a loaded matrix of `t` to its BF16 bytes (no SHA-256 check); errors name the tensor. */
export async function decodeBytes(path: string, t: ContainerTensor, m: TcaTbeMatrix, decode: MatrixDecoder): Promise<Uint8Array> {
  let bits: Uint16Array; // [rows*cols] bf16
  try {
    bits = await decode(m);
  } catch (err) {
    throw new ContainerError(path, `tensor "${t.name}": cannot decode: ${(err as Error).message}`);
  }
  return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
}

export function checkSha256(path: string, t: ContainerTensor, actual: string): void {
  if (actual !== t.sha256) {
    throw new ContainerError(path, `tensor "${t.name}": SHA-256 of the restored bytes does not match the original (the file is corrupted)`);
  }
}

export const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
