// zipserv verify <compressed-dir> [--against <original-dir>]: every checksum, without writing.

import { type VerifyReport, verifyModel } from '@zipserv/codec-ref';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { formatBytes, formatRate, formatSeconds, formatTable } from '../format-table.js';
import { parsePositiveInt } from '../fs-safe.js';
import { createProgressBar } from '../progress.js';

interface VerifyFlags {
  against?: string;
  threads?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('Check a compressed model: CRC-32 of stored bytes, SHA-256 of every decoded tensor and restored file')
    .argument('<compressed-dir>', 'directory written by `zipserv compress`')
    .option('--against <original-dir>', 'also compare every restored and copied file with this original directory')
    .option('--threads <n>', 'decoder worker threads (default: all cores)')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText(
      'after',
      `
Exits 0 when everything checks out, 1 when any problem is found (each is listed).

Examples:
  $ zipserv verify ./Llama-3.2-1B.zs
  $ zipserv verify ./Llama-3.2-1B.zs --against ./Llama-3.2-1B --json`,
    )
    .action(async (dir: string, flags: VerifyFlags) => {
      const threads = flags.threads === undefined ? undefined : parsePositiveInt(flags.threads, '--threads');
      const bar = createProgressBar();
      const report = await verifyModel(dir, {
        ...(flags.against !== undefined ? { against: flags.against } : {}),
        ...(threads !== undefined ? { threads } : {}),
        onProgress: (p) => bar.update(p),
      }).finally(() => bar.stop());
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : humanReport(report));
      if (!report.ok) {
        const first = report.problems[0]!;
        const n = report.problems.length;
        throw new CliError(
          `verification failed: ${n} problem${n === 1 ? '' : 's'}; first: ${first.file}${first.tensor ? `: tensor "${first.tensor}"` : ''}: ${first.problem}`,
        );
      }
    });
}

function humanReport(r: VerifyReport): string {
  const against = r.against ? `, identical to ${r.against}` : '';
  if (r.ok) {
    return (
      `OK: ${r.files} container file${r.files === 1 ? '' : 's'}, ${r.tensors} tensors, ${formatBytes(r.bytes)} restored and checked` +
      `${against} (${formatRate(r.bytes, r.seconds)}, ${formatSeconds(r.seconds)})\n`
    );
  }
  const rows = r.problems.map((p) => [p.file, p.tensor ?? '', p.problem]);
  return `${formatTable(['file', 'tensor', 'problem'], rows)}\n`;
}
