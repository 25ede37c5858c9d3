// zipserv decompress <compressed-dir> -o <out-dir>: the original files, byte for byte.

import { type DecompressSummary, decompressModel } from '@zipserv/codec-ref';
import type { Command } from 'commander';
import { formatBytes, formatRate, formatSeconds, formatTable } from '../format-table.js';
import { parsePositiveInt, withInterruptCleanup } from '../fs-safe.js';
import { createProgressBar } from '../progress.js';

interface DecompressFlags {
  output: string;
  threads?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('decompress')
    .description('Restore the original model files from a compressed directory, byte for byte')
    .argument('<compressed-dir>', 'directory written by `zipserv compress` (or one of its .safetensors files)')
    .requiredOption('-o, --output <dir>', 'output directory (must not exist, or be empty)')
    .option('--threads <n>', 'decoder worker threads (default: all cores)')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
Every tensor's CRC-32 and SHA-256 and every restored file's SHA-256 are checked; on any mismatch
nothing is left at the output.

Examples:
  $ zipserv decompress ./Llama-3.2-1B.zs -o ./Llama-3.2-1B.restored
  $ zipserv decompress out -o restored --json`,
    )
    .action(async (dir: string, flags: DecompressFlags) => {
      const threads = flags.threads === undefined ? undefined : parsePositiveInt(flags.threads, '--threads');
      const bar = createProgressBar();
      const summary = await withInterruptCleanup(
        () =>
          decompressModel(dir, flags.output, {
            ...(threads !== undefined ? { threads } : {}),
            onProgress: (p) => bar.update(p),
          }).finally(() => bar.stop()),
        () => bar.stop(),
      );
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : humanSummary(summary));
    });
}

function humanSummary(s: DecompressSummary): string {
  const rows = s.files.map((f) => [f.file, formatBytes(f.storedBytes), formatBytes(f.originalBytes)]);
  const table = formatTable(['file', 'stored', 'restored'], rows, ['left', 'right', 'right']);
  const copied = s.copied.length ? `, ${s.copied.length} other file${s.copied.length === 1 ? '' : 's'} copied` : '';
  return (
    `${table}\n` +
    `restored ${s.files.length} file${s.files.length === 1 ? '' : 's'} byte for byte${copied}: ${formatBytes(s.storedBytes)} -> ${formatBytes(s.originalBytes)}, ` +
    `${formatRate(s.originalBytes, s.seconds)} (${formatSeconds(s.seconds)}) -> ${s.output}\n`
  );
}
