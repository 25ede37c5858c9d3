// Atomic output directories: everything is written into a temporary sibling directory that is
// renamed onto the output at the very end. On any error (ENOSPC included), or when the process
// exits early, the temporary directory is removed: the output either appears whole or not at all.

import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TEMP_DIR_MARKER } from './paths.js';

const liveTempDirs = new Set<string>();
let exitHookInstalled = false;

/** Removes every temporary output directory still in progress (for exit and signal handlers). */
export function removeTempOutputsSync(): void {
  for (const dir of liveTempDirs) rmSync(dir, { recursive: true, force: true });
  liveTempDirs.clear();
}

/**
 * Runs `work(tempDir)` and moves tempDir onto `outDir` (absolute; missing or an empty directory)
 * when it succeeds. On failure removes tempDir and rethrows.
 */
export async function withAtomicOutputDir<T>(outDir: string, work: (tempDir: string) => Promise<T>): Promise<T> {
  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true });
  const temp = join(parent, `.${basename(outDir)}${TEMP_DIR_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(temp);
  liveTempDirs.add(temp);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', removeTempOutputsSync);
  }
  try {
    const result = await work(temp);
    await rmdir(outDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await rename(temp, outDir);
    liveTempDirs.delete(temp);
    return result;
  } catch (err) {
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    liveTempDirs.delete(temp);
    // Name the output the user asked for, not the temporary directory that no longer exists.
    if (err instanceof Error && err.message.includes(temp)) err.message = err.message.split(temp).join(outDir);
    throw err;
  }
}
