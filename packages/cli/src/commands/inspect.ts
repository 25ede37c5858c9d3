// zipserv inspect <dir>: how each tensor is stored, and the totals.

import { type InspectReport, inspectModel } from '@zipserv/codec-ref';
import type { Command } from 'commander';
import { formatBytes, formatRatio, formatShape, formatTable } from '../format-table.js';

interface InspectFlags {
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Show how every tensor of a model (compressed or original) is stored')
    .argument('<dir>', 'model directory or .safetensors file')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText(
      'after',
      `
Reads headers and bitmaps only (fast). JSON: { tensors: [{ name, dtype, shape, storage,
originalBytes, storedBytes, bitsPerWeight, outlierFraction, window }], originalBytes, storedBytes,
ratio }; ratio = storedBytes / originalBytes of the weights files.

Examples:
  $ zipserv inspect ./Llama-3.2-1B.zs
  $ zipserv inspect ./Llama-3.2-1B.zs --json | jq .ratio`,
    )
    .action(async (dir: string, flags: InspectFlags) => {
      const report = await inspectModel(dir);
      process.stdout.write(flags.json ? `${JSON.stringify(jsonReport(report), null, 2)}\n` : humanReport(report));
    });
}

/** The documented JSON shape, keys in a stable order. */
function jsonReport(r: InspectReport) {
  return {
    dir: r.dir,
    compressed: r.compressed,
    tensors: r.tensors.map((t) => ({
      file: t.file,
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      storage: t.storage,
      originalBytes: t.originalBytes,
      storedBytes: t.storedBytes,
      bitsPerWeight: t.bitsPerWeight,
      outlierFraction: t.outlierFraction,
      window: t.window,
    })),
    files: r.files,
    originalBytes: r.originalBytes,
    storedBytes: r.storedBytes,
    ratio: r.ratio,
  };
}

function humanReport(r: InspectReport): string {
  const multiFile = r.files.length > 1;
  const rows = r.tensors.map((t) => [
    ...(multiFile ? [t.file] : []),
    t.name,
    t.dtype,
    formatShape(t.shape),
    t.storage,
    formatBytes(t.storedBytes),
    t.bitsPerWeight.toFixed(2),
    t.outlierFraction === null ? '' : `${(t.outlierFraction * 100).toFixed(2)}%`,
    t.window ? `${t.window.exponents[0]}..${t.window.exponents[1]}` : '',
  ]);
  const headers = [...(multiFile ? ['file'] : []), 'tensor', 'dtype', 'shape', 'storage', 'stored', 'bits/w', 'outliers', 'window'];
  const align = [...(multiFile ? ['left' as const] : []), 'left', 'left', 'left', 'left', 'right', 'right', 'right', 'left'] as const;
  const compressed = r.tensors.filter((t) => t.storage === 'tca-tbe').length;
  return (
    `${formatTable(headers, rows, align)}\n` +
    `${r.tensors.length} tensors (${compressed} tca-tbe) in ${r.files.length} file${r.files.length === 1 ? '' : 's'}: ` +
    `original ${formatBytes(r.originalBytes)}, stored ${formatBytes(r.storedBytes)}, ratio ${formatRatio(r.ratio)}` +
    `${r.compressed ? '' : ' (not compressed)'}\n`
  );
}
