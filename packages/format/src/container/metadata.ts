// Build and validate the container metadata of one compressed safetensors file. Pure TypeScript.
//
// Validation is against the stored file's own header: every original tensor must be present, raw
// ones under their name with their dtype and shape, compressed ones as four components whose sizes
// match the shape; nothing else may be stored. After this, a reader can trust every size.

import { type SafetensorsDType, dtypeBytes, isSafetensorsDType, shapeElements } from '../safetensors/dtypes.js';
import {
  HEADER_LENGTH_BYTES,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
  parseSafetensorsHeader,
} from '../safetensors/header.js';
import { MAX_EXP_BASE, TILE_ELEMENTS, tcaTbeGeometry } from '../tca-tbe/layout.js';
import { base64ToBytes, bytesToBase64 } from './base64.js';
import { tcaComponentLayout } from './components.js';
import { ContainerError } from './errors.js';
import {
  CONTAINER_FORMAT,
  type ContainerSource,
  type ContainerTensorRecord,
  METADATA_FORMAT_KEY,
  METADATA_SOURCE_KEY,
  METADATA_TENSORS_KEY,
  type TensorStorage,
} from './schema.js';

/** The three metadata strings of a container file. */
export function buildContainerMetadata(
  source: ContainerSource,
  tensors: ReadonlyArray<readonly [name: string, record: ContainerTensorRecord]>,
): Record<string, string> {
  // A null prototype, so that a tensor named "__proto__" is an ordinary key.
  const map: Record<string, ContainerTensorRecord> = Object.create(null);
  for (const [name, r] of tensors) {
    map[name] = {
      dtype: r.dtype,
      shape: r.shape,
      storage: r.storage,
      sha256: r.sha256,
      crc32: r.crc32,
      ...(r.storage === 'tca-tbe' ? { expBase: r.expBase } : {}),
    };
  }
  return {
    [METADATA_FORMAT_KEY]: CONTAINER_FORMAT,
    [METADATA_SOURCE_KEY]: JSON.stringify({ header: bytesToBase64(source.header), fileBytes: source.fileBytes, sha256: source.sha256 }),
    [METADATA_TENSORS_KEY]: JSON.stringify(map),
  };
}

/** True when safetensors metadata claims to be a zipserv container (of any version). */
export function isContainerMetadata(metadata: Readonly<Record<string, string>>): boolean {
  return Object.hasOwn(metadata, METADATA_FORMAT_KEY);
}

/** One original tensor of a container file, with where its stored bytes are. */
export interface ContainerTensor extends ContainerTensorRecord {
  name: string;
  /** Bytes of the original tensor. */
  originalBytes: number;
  /** Bytes stored for it (all components). */
  storedBytes: number;
  /** Its [begin, end) in the original file's data section. */
  originalOffsets: [number, number];
  /** Stored tensors: [itself] when raw, the four components (TCA_COMPONENTS order) when tca-tbe. */
  stored: SafetensorsTensorInfo[];
  /** Rows/cols of a tca-tbe tensor (its 2-D shape); null for raw. */
  matrix: { rows: number; cols: number; outlierBytes: number } | null;
}

export interface ContainerIndex {
  source: ContainerSource;
  /** The original file's header, parsed. */
  original: SafetensorsHeader;
  /** In original header order. */
  tensors: ContainerTensor[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Validates a stored file's metadata and tensor table as zipserv-container/1 and returns the index
 * of original tensors. Throws ContainerError naming `file` (and the tensor) on any inconsistency.
 */
export function parseContainer(
  stored: { metadata: Readonly<Record<string, string>>; tensors: readonly SafetensorsTensorInfo[] },
  file: string,
): ContainerIndex {
  const fail = (detail: string): never => {
    throw new ContainerError(file, detail);
  };
  const format = stored.metadata[METADATA_FORMAT_KEY];
  if (format === undefined) fail(`not a zipserv container (no "${METADATA_FORMAT_KEY}" metadata)`);
  if (format !== CONTAINER_FORMAT) fail(`unsupported container format "${format}" (this build reads ${CONTAINER_FORMAT})`);

  const source = parseSource(stored.metadata[METADATA_SOURCE_KEY], fail);
  let original: SafetensorsHeader;
  try {
    original = parseSafetensorsHeader(source.header, source.fileBytes - HEADER_LENGTH_BYTES - source.header.length, `${file} (original header)`);
  } catch (err) {
    return fail(`${METADATA_SOURCE_KEY}: ${(err as Error).message}`);
  }

  const records = parseJsonObject(stored.metadata[METADATA_TENSORS_KEY], METADATA_TENSORS_KEY, fail);
  const storedByName = new Map(stored.tensors.map((t) => [t.name, t]));
  const claimed = new Set<string>();
  const originalNames = new Set(original.tensors.map((t) => t.name));
  const tensors: ContainerTensor[] = [];
  for (const o of original.tensors) {
    const where = `tensor "${o.name}"`;
    const raw = Object.hasOwn(records, o.name) ? records[o.name] : undefined;
    if (raw === undefined) fail(`${where} of the original file is missing from ${METADATA_TENSORS_KEY}`);
    const record = parseRecord(raw, (d) => fail(`${where}: ${d}`));
    if (record.dtype !== o.dtype || !sameShape(record.shape, o.shape)) {
      fail(`${where}: recorded as ${record.dtype} ${JSON.stringify(record.shape)}, the original header says ${o.dtype} ${JSON.stringify(o.shape)}`);
    }
    const originalBytes = o.dataOffsets[1] - o.dataOffsets[0];
    const take = (name: string, dtype: SafetensorsDType, shape: readonly number[]): SafetensorsTensorInfo => {
      const s = storedByName.get(name);
      if (!s) return fail(`${where}: stored tensor "${name}" is missing`);
      if (s.dtype !== dtype || !sameShape(s.shape, shape)) {
        fail(`${where}: stored tensor "${name}" is ${s.dtype} ${JSON.stringify(s.shape)}, expected ${dtype} ${JSON.stringify(shape)}`);
      }
      if (claimed.has(name)) fail(`${where}: stored tensor "${name}" is claimed twice`);
      claimed.add(name);
      return s;
    };
    let stored: SafetensorsTensorInfo[];
    let matrix: ContainerTensor['matrix'] = null;
    if (record.storage === 'raw') {
      stored = [take(o.name, o.dtype, o.shape)];
    } else {
      if (o.dtype !== 'BF16' || o.shape.length !== 2 || o.shape[0]! < 1 || o.shape[1]! < 1) {
        fail(`${where}: tca-tbe storage needs a 2-D BF16 tensor, the original is ${o.dtype} ${JSON.stringify(o.shape)}`);
      }
      const [rows, cols] = o.shape as [number, number];
      const outliersName = tcaComponentLayout(o.name, rows, cols, 0)[2]!.name;
      const outlierBytes = storedByName.get(outliersName)?.shape[0] ?? fail(`${where}: stored tensor "${outliersName}" is missing`);
      const { tiles } = tcaTbeGeometry(rows, cols);
      if (outlierBytes % 16 !== 0 || outlierBytes > tiles * TILE_ELEMENTS) {
        fail(`${where}: outlier stream of ${outlierBytes} bytes is impossible for ${tiles} tiles`);
      }
      stored = tcaComponentLayout(o.name, rows, cols, outlierBytes).map((l) => take(l.name, l.dtype, l.shape));
      matrix = { rows, cols, outlierBytes };
    }
    const storedBytes = stored.reduce((n, s) => n + s.dataOffsets[1] - s.dataOffsets[0], 0);
    tensors.push({ name: o.name, ...record, originalBytes, storedBytes, originalOffsets: o.dataOffsets, stored, matrix });
  }
  for (const name of Object.keys(records)) {
    if (!originalNames.has(name)) fail(`${METADATA_TENSORS_KEY} lists "${name}", which the original header does not have`);
  }
  for (const s of stored.tensors) {
    if (!claimed.has(s.name)) fail(`stored tensor "${s.name}" belongs to no original tensor`);
  }
  return { source, original, tensors };
}

function parseSource(text: string | undefined, fail: (d: string) => never): ContainerSource {
  const json = parseJsonObject(text, METADATA_SOURCE_KEY, fail);
  const { header, fileBytes, sha256 } = json;
  if (typeof header !== 'string') fail(`${METADATA_SOURCE_KEY}.header must be a base64 string`);
  let headerBytes: Uint8Array;
  try {
    headerBytes = base64ToBytes(header as string);
  } catch {
    return fail(`${METADATA_SOURCE_KEY}.header is not valid base64`);
  }
  if (!Number.isSafeInteger(fileBytes) || (fileBytes as number) < HEADER_LENGTH_BYTES + headerBytes.length) {
    fail(`${METADATA_SOURCE_KEY}.fileBytes ${JSON.stringify(fileBytes)} is not a valid size for a ${headerBytes.length}-byte header`);
  }
  if (typeof sha256 !== 'string' || !HEX64.test(sha256)) fail(`${METADATA_SOURCE_KEY}.sha256 must be 64 lowercase hex digits`);
  return { header: headerBytes, fileBytes: fileBytes as number, sha256: sha256 as string };
}

function parseRecord(value: unknown, fail: (d: string) => never): ContainerTensorRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('record must be an object');
  const r = value as Record<string, unknown>;
  if (!isSafetensorsDType(r.dtype)) fail(`unknown dtype ${JSON.stringify(r.dtype)}`);
  if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`bad shape ${JSON.stringify(r.shape)}`);
  if (r.storage !== 'raw' && r.storage !== 'tca-tbe') fail(`unknown storage ${JSON.stringify(r.storage)}`);
  if (typeof r.sha256 !== 'string' || !HEX64.test(r.sha256)) fail('sha256 must be 64 lowercase hex digits');
  if (!Number.isInteger(r.crc32) || (r.crc32 as number) < 0 || (r.crc32 as number) > 0xffffffff) fail(`bad crc32 ${JSON.stringify(r.crc32)}`);
  const storage = r.storage as TensorStorage;
  if (storage === 'tca-tbe') {
    if (!Number.isInteger(r.expBase) || (r.expBase as number) < 0 || (r.expBase as number) > MAX_EXP_BASE) {
      fail(`expBase ${JSON.stringify(r.expBase)} outside 0..${MAX_EXP_BASE}`);
    }
  } else if (r.expBase !== undefined) {
    fail('a raw tensor has no expBase');
  }
  return {
    dtype: r.dtype as SafetensorsDType,
    shape: r.shape as number[],
    storage,
    sha256: r.sha256 as string,
    crc32: r.crc32 as number,
    ...(storage === 'tca-tbe' ? { expBase: r.expBase as number } : {}),
  };
}

function parseJsonObject(text: string | undefined, key: string, fail: (d: string) => never): Record<string, unknown> {
  if (text === undefined) fail(`metadata "${key}" is missing`);
  let json: unknown;
  try {
    json = JSON.parse(text as string);
  } catch {
    return fail(`metadata "${key}" is not valid JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(`metadata "${key}" must be a JSON object`);
  return json as Record<string, unknown>;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Bytes of a tensor of this dtype and shape. */
export function tensorBytes(dtype: SafetensorsDType, shape: readonly number[]): number {
  return dtypeBytes(dtype) * shapeElements(shape);
}
