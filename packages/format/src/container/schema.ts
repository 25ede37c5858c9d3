// zipserv-container/1: the metadata a compressed safetensors file carries (SPEC.md section 6).

import type { SafetensorsDType } from '../safetensors/dtypes.js';

/** Value of the `zipserv.format` metadata entry. */
export const CONTAINER_FORMAT = 'zipserv-container/1';

/** Metadata keys (all values are strings, as safetensors requires). */
export const METADATA_FORMAT_KEY = 'zipserv.format';
export const METADATA_SOURCE_KEY = 'zipserv.source';
export const METADATA_TENSORS_KEY = 'zipserv.tensors';

/** Suffixes of the four stored tensors of a compressed tensor NAME, in checksum order. */
export const TCA_COMPONENTS = [
  { key: 'bitmaps', suffix: '.__tca.bitmaps', dtype: 'U64' },
  { key: 'signMantissa', suffix: '.__tca.sign_mantissa', dtype: 'U8' },
  { key: 'outliers', suffix: '.__tca.outliers', dtype: 'U8' },
  { key: 'outlierOffsets', suffix: '.__tca.outlier_offsets', dtype: 'U32' },
] as const satisfies ReadonlyArray<{ key: string; suffix: string; dtype: SafetensorsDType }>;

export type TcaComponentKey = (typeof TCA_COMPONENTS)[number]['key'];

/** Marks stored-tensor names that belong to a compressed tensor. */
export const TCA_NAME_MARKER = '.__tca.';

export type TensorStorage = 'tca-tbe' | 'raw';

/** `zipserv.source`: the original file, enough to restore it byte for byte. */
export interface ContainerSource {
  /** The original header JSON bytes (after the 8-byte length), padding included. */
  header: Uint8Array;
  /** Size of the original file. */
  fileBytes: number;
  /** Lowercase hex SHA-256 of the original file. */
  sha256: string;
}

/** One entry of `zipserv.tensors`, keyed by the original tensor name. */
export interface ContainerTensorRecord {
  dtype: SafetensorsDType;
  shape: number[];
  storage: TensorStorage;
  /** Lowercase hex SHA-256 of the original tensor bytes. */
  sha256: string;
  /** CRC-32 (zlib) of the stored bytes, components concatenated in TCA_COMPONENTS order. */
  crc32: number;
  /** Window base, tca-tbe only. */
  expBase?: number;
}
