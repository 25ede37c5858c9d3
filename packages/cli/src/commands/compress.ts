// zipserv compress <model-dir | file.safetensors> -o <out-dir>: TCA-TBE compression of every 2-D BF16
// tensor that shrinks, everything else stored or copied as it is.

import { type CompressSummary, compressModel } from '@zipserv/codec-ref';
import type { Command } from 'commander';
import { formatBytes, formatRate, formatRatio, formatSeconds, formatTable } from '../format-table.js';
import { parsePositiveInt, withInterruptCleanup } from '../fs-safe.js';
import { createProgressBar } from '../progress.js';

interface CompressFlags {
  output: string;
  threads?: string;
  check: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('compress')
    .description('Compress a Hugging Face model directory (or one .safetensors file) losslessly into TCA-TBE')
    .argument('<model>', 'model directory or .safetensors file')
    .requiredOption('-o, --output <dir>', 'output directory (must not exist, or be empty)')
    .option('--threads <n>', 'encoder worker threads (default: all cores)')
    .option('--no-check', 'skip decoding each compressed tensor before writing it')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
Every 2-D BF16 tensor is stored as TCA-TBE when that is smaller; all other tensors are stored as
they are, and other files (config.json, tokenizer, ...) are copied. The output is written to a
temporary directory and renamed into place only when complete.

Examples:
  $ zipserv compress ./Llama-3.2-1B -o ./Llama-3.2-1B.zs
  $ zipserv compress model.safetensors -o out --threads 4 --json`,
    )
    .action(async (model: string, flags: CompressFlags) => {
      const threads = flags.threads === undefined ? undefined : parsePositiveInt(flags.threads, '--threads');
      const bar = createProgressBar();
      const summary = await withInterruptCleanup(
        () =>
          compressModel(model, flags.output, {
            ...(threads !== undefined ? { threads } : {}),
            check: flags.check,
            onProgress: (p) => bar.update(p),
          }).finally(() => bar.stop()),
        () => bar.stop(),
      );
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : humanSummary(summary));
    });
}

function humanSummary(s: CompressSummary): string {
  const rows = s.files.map((f) => [
    f.file,
    `${f.compressedTensors}/${f.tensors}`,
    formatBytes(f.originalBytes),
    formatBytes(f.storedBytes),
    formatRatio(f.originalBytes ? f.storedBytes / f.originalBytes : 1),
  ]);
  const table = formatTable(['file', 'tca-tbe', 'original', 'stored', 'ratio'], rows, ['left', 'right', 'right', 'right', 'right']);
  const compressed = s.tensors.filter((t) => t.storage === 'tca-tbe').length;
  const copied = s.copied.length ? `, ${s.copied.length} other file${s.copied.length === 1 ? '' : 's'} copied` : '';
  return (
    `${table}\n` +
    `compressed ${compressed} of ${s.tensors.length} tensors${copied}: ${formatBytes(s.originalBytes)} -> ${formatBytes(s.storedBytes)}, ` +
    `ratio ${formatRatio(s.ratio)}, ${formatRate(s.originalBytes, s.seconds)} (${formatSeconds(s.seconds)}) -> ${s.output}\n`
  );
}
