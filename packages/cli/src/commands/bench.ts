// zipserv bench e2e: prefill and decode throughput of one model under zipgemm, dense and vendor
// weights, measured in one process, as a table and JSON.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { type E2EBenchReport, runE2EBench } from '@zipserv/runtime';
import { parseIntArg, prefillMatmulsOption, registerInstalledBackends, zipgemmPathFor } from './run.js';

const parsePositiveList = (name: string) => (v: string): number[] => {
  const parts = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) throw new InvalidArgumentError(`${name} must be a comma-separated list of positive integers, got '${v}'`);
  return parts.map(Number);
};

const parseModes = (v: string): Array<'zipgemm' | 'dense' | 'vendor'> => {
  const modes = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const m of modes) if (!['zipgemm', 'dense', 'vendor'].includes(m)) throw new InvalidArgumentError(`unknown weight mode '${m}' (zipgemm, dense, vendor)`);
  if (modes.length === 0) throw new InvalidArgumentError('give at least one weight mode');
  return modes as Array<'zipgemm' | 'dense' | 'vendor'>;
};

interface E2EOptions {
  model: string;
  backend: string;
  batch: number[];
  promptLen: number;
  gen: number;
  weights: Array<'zipgemm' | 'dense' | 'vendor'>;
  maxStepTokens?: number;
  prefillMatmuls: 'vendor' | 'fused';
  json?: string;
}

export function formatE2ETable(r: E2EBenchReport): string {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const header = ['weights', 'batch', 'prefill tok/s', 'decode tok/s', 'TTFT s', 'TPOT ms', 'weights MiB', 'KV MiB', 'host ms/step', 'device ms/step', 'graph ms/step'];
  const rows = r.rows.map((x) => [
    x.weights,
    String(x.batch),
    x.prefill_tokens_per_s.toFixed(1),
    x.decode_tokens_per_s.toFixed(1),
    x.time_to_first_token_s.toFixed(3),
    x.time_per_output_token_ms.toFixed(2),
    mib(x.weight_bytes),
    mib(x.kv_bytes),
    x.host_overhead_ms_per_step.toFixed(3),
    x.device_ms_per_step.toFixed(3),
    x.graph_ms_per_step === null ? '-' : x.graph_ms_per_step.toFixed(3),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    `${r.model} on ${r.backend} (${r.device}), prompt ${r.prompt_len}, gen ${r.gen}${r.synthetic_tiled ? ' [synthetic weights from reused encoded bands]' : ''}`,
    line(header),
    ...rows.map(line),
  ];
  for (const s of r.skipped) out.push(`skipped ${s.weights}: ${s.reason}`);
  // Ratios against the dense twin and the vendor GEMM, per batch: the point of the benchmark.
  for (const b of r.batches) {
    const z = r.rows.find((x) => x.weights === 'zipgemm' && x.batch === b);
    for (const base of ['dense', 'vendor'] as const) {
      const d = r.rows.find((x) => x.weights === base && x.batch === b);
      if (z && d) out.push(`batch ${b}: zipgemm/${base} decode ${(z.decode_tokens_per_s / d.decode_tokens_per_s).toFixed(3)}x, weights ${(z.weight_bytes / d.weight_bytes).toFixed(3)}x`);
    }
  }
  return out.join('\n');
}

export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('e2e')
    .description('end-to-end prefill and decode throughput for zipgemm, dense and vendor weights in one run')
    .option('--model <model>', 'model directory or synthetic:NAME', 'synthetic:llama-3-8b')
    .option('--backend <name>', 'backend (auto, cuda, webgpu, ref)', 'auto')
    .option('--batch <list>', 'batch sizes', parsePositiveList('--batch'), [1, 8, 32])
    .option('--prompt-len <n>', 'prompt tokens per sequence', parseIntArg('--prompt-len', 1), 128)
    .option('--gen <n>', 'tokens generated per sequence', parseIntArg('--gen', 2), 256)
    .option('--weights <list>', 'weight modes to compare', parseModes, ['zipgemm', 'dense', 'vendor'])
    .option('--max-step-tokens <n>', 'largest step (prefill chunk) in tokens', parseIntArg('--max-step-tokens', 1))
    .addOption(prefillMatmulsOption())
    .option('--json <file>', 'also write the full report as JSON')
    .addHelpText(
      'after',
      `
Examples:
  zipserv bench e2e --backend cuda --json bench/results/e2e-llama3-8b.json
  zipserv bench e2e --model synthetic:tiny --backend ref --batch 1,4 --prompt-len 16 --gen 16`,
    )
    .action(async (o: E2EOptions) => {
      await registerInstalledBackends();
      const report = await runE2EBench({
        model: o.model,
        backend: o.backend,
        weights: o.weights,
        batches: o.batch,
        promptLen: o.promptLen,
        gen: o.gen,
        ...(o.maxStepTokens ? { maxStepTokens: o.maxStepTokens } : {}),
        zipgemmPath: zipgemmPathFor(o.prefillMatmuls),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${formatE2ETable(report)}\n`);
      if (o.json) {
        await mkdir(dirname(o.json), { recursive: true });
        await writeFile(o.json, `${JSON.stringify({ command: process.argv.slice(2).join(' '), ...report }, null, 2)}\n`);
        process.stderr.write(`wrote ${o.json}\n`);
      }
    });
}
