// Where a model operation reads and writes: input checks, refusal of overlapping input/output, and
// the file tree of a model directory.

import { type Stats, realpathSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ModelError } from './errors.js';

export const SAFETENSORS_SUFFIX = '.safetensors';
/** Directory names never entered (a git clone's object store duplicates every weight). */
const SKIPPED_DIRS = new Set(['.git']);
/** Marks the temporary directories of atomic outputs. */
export const TEMP_DIR_MARKER = '.zipserv-tmp-';

export interface ModelInput {
  /** Real path of the input (directory or single .safetensors file). */
  path: string;
  isFile: boolean;
  /** Directory whose tree is the model: the input itself, or the file's directory. */
  root: string;
}

/** Stats `input` (following links); a clear error when it is missing. */
export async function resolveInput(input: string, what = 'input'): Promise<ModelInput> {
  let st: Stats;
  try {
    st = await stat(input);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ModelError(`${what} not found: ${input}`);
    throw new ModelError(`cannot read ${what} ${input}: ${(err as Error).message}`);
  }
  const path = await realpath(input);
  if (st.isFile()) {
    if (!path.endsWith(SAFETENSORS_SUFFIX)) throw new ModelError(`${input}: not a model directory or a ${SAFETENSORS_SUFFIX} file`);
    return { path, isFile: true, root: dirname(path) };
  }
  if (!st.isDirectory()) throw new ModelError(`${input}: not a model directory or a ${SAFETENSORS_SUFFIX} file`);
  return { path, isFile: false, root: path };
}

/** Absolute path with every existing ancestor resolved through symlinks. */
export function resolveOutputPath(output: string): string {
  const abs = resolve(output);
  let existing = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(existing), ...rest);
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return abs;
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
}

/** True when `inner` is `outer` or lies inside it. */
export function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Refuses an output that would overwrite or nest with the input, or that already holds anything.
 * Returns the resolved output path.
 */
export async function checkOutput(input: ModelInput, inputArg: string, output: string): Promise<string> {
  const out = resolveOutputPath(output);
  if (out === input.path) throw new ModelError(`output ${output} is the input ${inputArg}: choose another output directory`);
  if (!input.isFile && isWithin(out, input.path)) throw new ModelError(`output ${output} is inside the input directory ${inputArg}`);
  if (isWithin(input.path, out)) throw new ModelError(`input ${inputArg} is inside the output directory ${output}`);
  let st: Stats | undefined;
  try {
    st = await stat(out);
  } catch {
    return out;
  }
  if (!st.isDirectory()) throw new ModelError(`output ${output} exists and is not a directory`);
  if ((await readdir(out)).length > 0) throw new ModelError(`output directory ${output} exists and is not empty`);
  return out;
}

export interface ModelTreeFile {
  /** Path relative to the root, with '/' separators. */
  rel: string;
  abs: string;
  size: number;
  isSafetensors: boolean;
}

/** Every regular file under `root` (links followed, cycles and .git skipped), sorted by path. */
export async function listModelTree(root: string): Promise<ModelTreeFile[]> {
  const files: ModelTreeFile[] = [];
  const visited = new Set<string>();
  async function walk(dir: string, rel: string): Promise<void> {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    for (const entry of (await readdir(dir)).sort()) {
      if (SKIPPED_DIRS.has(entry) || entry.includes(TEMP_DIR_MARKER)) continue;
      const abs = join(dir, entry);
      const relPath = rel ? `${rel}/${entry}` : entry;
      let st: Stats;
      try {
        st = await stat(abs);
      } catch {
        continue; // a dangling link: nothing to copy
      }
      if (st.isDirectory()) await walk(abs, relPath);
      else if (st.isFile()) files.push({ rel: relPath, abs, size: st.size, isSafetensors: entry.endsWith(SAFETENSORS_SUFFIX) });
    }
  }
  await walk(root, '');
  return files;
}

/** The files a model operation works on: the whole tree of a directory, or one file. */
export async function modelFiles(input: ModelInput): Promise<ModelTreeFile[]> {
  if (!input.isFile) return listModelTree(input.root);
  const st = await stat(input.path);
  return [{ rel: basename(input.path), abs: input.path, size: st.size, isSafetensors: true }];
}
