// zipserv demo: the main job on the embedded model. Compress it, prove the compression lossless
// (byte-identical restore), then generate with compressed (zipgemm) and plain BF16 (dense) weights
// on the best available backend: same tokens, and the speed of each.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import { compressModel, verifyModel } from '@zipserv/codec-ref';
import { createEngine } from '@zipserv/runtime';
import { CliError } from '../errors.js';
import { parseIntArg, registerInstalledBackends } from './run.js';

/** models/stories260K of the repository this CLI was built in (dist/ or src/ sit two levels below packages/cli). */
export function embeddedModelDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../../..', '../../..', '../..']) {
    const dir = resolve(here, up, 'models/stories260K');
    if (existsSync(join(dir, 'model.safetensors'))) return dir;
  }
  return null;
}

interface DemoOptions {
  model?: string;
  backend: string;
  tokens: number;
  json?: boolean;
}

interface PathResult {
  weights: 'zipgemm' | 'dense';
  model: string;
  tokens: number[];
  decode_tokens_per_s: number;
  prefill_tokens_per_s: number;
  weight_bytes: number;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('compress the embedded model, verify it bit-exact, and generate with compressed vs dense weights')
    .option('-m, --model <dir>', 'model directory (default: the embedded stories260K)')
    .addOption(new Option('--backend <name>', 'backend: auto, cuda, webgpu or ref').default('auto'))
    .option('-n, --tokens <n>', 'tokens to generate greedily from BOS', parseIntArg('--tokens', 1), 32)
    .option('--json', 'print one JSON object instead of the report')
    .addHelpText('after', '\nExamples:\n  zipserv demo\n  zipserv demo --backend ref -n 64 --json')
    .action(async (o: DemoOptions) => {
      const model = o.model ? resolve(o.model) : embeddedModelDir();
      if (!model) throw new CliError('the embedded model (models/stories260K) is not next to this CLI; pass --model <dir>');
      const say = (line: string) => {
        if (!o.json) process.stdout.write(`${line}\n`);
      };
      const work = await mkdtemp(join(tmpdir(), 'zipserv-demo-'));
      try {
        const compressed = join(work, 'compressed');
        const summary = await compressModel(model, compressed);
        say(`compress  ${model} -> ${summary.storedBytes} of ${summary.originalBytes} bytes (ratio ${summary.ratio.toFixed(4)}, ${summary.tensors.filter((t) => t.storage === 'tca-tbe').length} of ${summary.tensors.length} tensors TCA-TBE)`);
        const report = await verifyModel(compressed, { against: model });
        if (!report.ok) throw new CliError(`verify failed: ${report.problems.map((p) => `${p.file}${p.tensor ? ` ${p.tensor}` : ''}: ${p.problem}`).join('; ')}`);
        say(`verify    every tensor decodes bit-exact; restored files byte-identical to the originals (${report.tensors} tensors)`);

        await registerInstalledBackends();
        const results: PathResult[] = [];
        let backendName = o.backend;
        for (const [weights, dir] of [
          ['zipgemm', compressed],
          ['dense', model],
        ] as const) {
          const engine = await createEngine({ model: dir, backend: o.backend, weights, maxBatch: 1 });
          try {
            backendName = `${engine.info.backend} (${engine.info.device})`;
            const bos = engine.config.bosTokenId ?? 1;
            // One warm-up request so graph building stays out of the timing.
            await engine.generate({ promptIds: [bos], maxTokens: 4, temperature: 0 }).result;
            const r = await engine.generate({ promptIds: [bos], maxTokens: o.tokens, temperature: 0, ignoreEos: true }).result;
            results.push({
              weights,
              model: dir,
              tokens: r.tokens,
              decode_tokens_per_s: r.stats.decode_tokens_per_s,
              prefill_tokens_per_s: r.stats.prefill_tokens_per_s,
              weight_bytes: r.stats.weight_bytes,
            });
          } finally {
            await engine.dispose();
          }
        }
        const [zip, dense] = results as [PathResult, PathResult];
        const identical = zip.tokens.length === dense.tokens.length && zip.tokens.every((t, i) => t === dense.tokens[i]);
        if (o.json) {
          process.stdout.write(
            `${JSON.stringify({ model, backend: backendName, ratio: summary.ratio, originalBytes: summary.originalBytes, storedBytes: summary.storedBytes, verified: true, identical, paths: results })}\n`,
          );
        } else {
          say(`generate  greedy from BOS, ${o.tokens} tokens on ${backendName}`);
          for (const r of results) {
            say(`  ${r.weights.padEnd(8)} ${r.decode_tokens_per_s.toFixed(1).padStart(8)} tok/s  weights ${(r.weight_bytes / 1024).toFixed(1)} KiB  ids ${r.tokens.slice(0, 12).join(' ')}${r.tokens.length > 12 ? ' ...' : ''}`);
          }
          say(identical ? 'tokens    identical: compressed and dense weights give the same output' : 'tokens    DIFFER between compressed and dense weights');
        }
        if (!identical) throw new CliError('compressed and dense weights produced different tokens');
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
}
