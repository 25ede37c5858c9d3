// zipserv run <model>: generate from a prompt (text or token ids), streaming to stdout.

import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Engine, type EngineOptions, type GenerateRequest, createEngine, registerBackend } from '@zipserv/runtime';
import { CliError } from '../errors.js';

// Literal specifiers, so bundlers (the GPU-host single-file build) inline the backends; the `as
// string` keeps TypeScript from type-checking their sources here (they are optional at run time).
const GPU_BACKEND_PACKAGES: ReadonlyArray<readonly [name: string, load: () => Promise<unknown>]> = [
  ['cuda', () => import('@zipserv/backend-cuda' as string)],
  ['webgpu', () => import('@zipserv/backend-webgpu' as string)],
];

/** Why a GPU backend package could not be registered, by backend name (for doctor). */
export const backendLoadProblems = new Map<string, string>();

/** Registers the GPU backends the CLI ships with, when their packages load (they may not be built). */
export async function registerInstalledBackends(): Promise<void> {
  for (const [name, load] of GPU_BACKEND_PACKAGES) {
    const specifier = `@zipserv/backend-${name}`;
    let mod: Record<string, unknown>;
    try {
      mod = (await load()) as Record<string, unknown>;
    } catch (err) {
      backendLoadProblems.set(name, `${specifier} failed to load: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      continue;
    }
    let found = false;
    for (const value of Object.values(mod)) {
      const p = value as { specificationVersion?: unknown; name?: unknown; create?: unknown; unavailableReason?: unknown } | null;
      if (p && typeof p === 'object' && p.specificationVersion === 'v1' && typeof p.name === 'string' && typeof p.create === 'function' && typeof p.unavailableReason === 'function') {
        registerBackend(value as Parameters<typeof registerBackend>[0]);
        found = true;
      }
    }
    if (!found) backendLoadProblems.set(name, `${specifier} exports no backend provider (not built yet?)`);
  }
}

export const parseIntArg =
  (name: string, min = 0) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };

export const parseNumberArg =
  (name: string, min: number, max = Number.POSITIVE_INFINITY) =>
  (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max === Number.POSITIVE_INFINITY ? 'inf' : max}], got '${v}'`);
    return n;
  };

export function parseIdList(v: string): number[] {
  const parts = v.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) throw new InvalidArgumentError('expected a comma-separated list of token ids, e.g. 1,2,3');
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new InvalidArgumentError(`'${p}' is not a token id (non-negative integer)`);
    return Number(p);
  });
}

/** Options shared by run and chat. */
export function addGenerationOptions(cmd: Command): Command {
  return cmd
    .option('-n, --max-tokens <n>', 'most tokens to generate', parseIntArg('--max-tokens', 1), 128)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', parseNumberArg('--temperature', 0), 0.8)
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', parseNumberArg('--top-p', 0, 1), 0.95)
    .option('--top-k <k>', 'keep the k most probable tokens (0 = off)', parseIntArg('--top-k', 0), 40)
    .option('--min-p <p>', 'keep tokens with p >= min-p * p_max (0 = off)', parseNumberArg('--min-p', 0, 1), 0.05)
    .option('--repetition-penalty <r>', 'penalise tokens already seen (1 = off)', parseNumberArg('--repetition-penalty', 0.01), 1)
    .option('--seed <s>', 'random seed (reproducible sampling)', parseIntArg('--seed', 0))
    .option('--stop <text...>', 'stop strings (needs a tokenizer)')
    .addOption(new Option('--backend <name>', 'backend: auto, cuda, webgpu, ref or an installed @zipserv/backend-<name>').default('auto'))
    .addOption(new Option('--weights <mode>', 'weight path: zipgemm (compressed), dense or vendor (plain BF16)').choices(['zipgemm', 'dense', 'vendor']).default('zipgemm'))
    .option('--max-context <n>', 'longest sequence (prompt + output)', parseIntArg('--max-context', 1))
    .option('--kv-block-size <n>', 'tokens per KV-cache block', parseIntArg('--kv-block-size', 1))
    .addOption(prefillMatmulsOption());
}

/** --prefill-matmuls: where prefill steps over 64 rows run their matmuls (the engine's zipgemmPath). */
export function prefillMatmulsOption(): Option {
  return new Option(
    '--prefill-matmuls <where>',
    'prefill steps over 64 rows: vendor (decompress + vendor GEMM in zipgemm mode, vendor GEMM in dense mode) or fused (ZipGEMM / its dense twin at every size)',
  )
    .choices(['vendor', 'fused'])
    .default('vendor');
}

/** The engine's zipgemmPath for a --prefill-matmuls value. */
export function zipgemmPathFor(where: 'vendor' | 'fused'): 'auto' | 'zipgemm' {
  return where === 'fused' ? 'zipgemm' : 'auto';
}

export interface GenerationCliOptions {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  seed?: number;
  stop?: string[];
  backend: string;
  weights: 'zipgemm' | 'dense' | 'vendor';
  maxContext?: number;
  kvBlockSize?: number;
  prefillMatmuls: 'vendor' | 'fused';
}

export function samplingFrom(o: GenerationCliOptions): Omit<GenerateRequest, 'prompt' | 'promptIds'> {
  return {
    maxTokens: o.maxTokens,
    temperature: o.temperature,
    topP: o.topP === 0 ? 1 : o.topP,
    topK: o.topK,
    minP: o.minP,
    repetitionPenalty: o.repetitionPenalty,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.stop ? { stopStrings: o.stop } : {}),
  };
}

/** Loads the model, with a one-line progress display on stderr when it is a terminal. */
export async function openEngine(model: string, o: GenerationCliOptions, extra: Partial<EngineOptions> = {}): Promise<Engine> {
  await registerInstalledBackends();
  const tty = process.stderr.isTTY;
  const engine = await createEngine({
    model,
    backend: o.backend,
    weights: o.weights,
    maxBatch: 1,
    ...(o.maxContext ? { maxContext: o.maxContext } : {}),
    ...(o.kvBlockSize ? { kvBlockSize: o.kvBlockSize } : {}),
    zipgemmPath: zipgemmPathFor(o.prefillMatmuls),
    onProgress: tty ? (p) => process.stderr.write(`\rloading ${p.done}/${p.total} tensors (${(p.bytes / 2 ** 20).toFixed(1)} MiB)\x1b[K`) : undefined,
    ...extra,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  return engine;
}

interface RunOptions extends GenerationCliOptions {
  prompt?: string;
  promptIds?: number[];
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('generate text (or token ids) from a model directory, a compressed directory, or synthetic:NAME')
    .argument('<model>', 'model directory (original or compressed) or synthetic:NAME')
    .option('-p, --prompt <text>', 'text prompt (needs tokenizer.json)')
    .option('--prompt-ids <ids>', 'prompt as comma-separated token ids', parseIdList)
    .option('--json', 'print one JSON object {tokens, text, finishReason, stats} instead of streaming');
  addGenerationOptions(cmd).addHelpText(
    'after',
    `
Without a prompt, generation starts from the BOS token.
Examples:
  zipserv run ./Llama-3.2-1B-zs --prompt "Once upon a time" -n 64
  zipserv run models/stories260K --prompt-ids 1 -n 10 --temperature 0 --json
  zipserv run synthetic:tiny --backend ref --weights dense --json`,
  );
  cmd.action(async (model: string, o: RunOptions) => {
    if (o.prompt !== undefined && o.promptIds !== undefined) throw new CliError('give either --prompt or --prompt-ids, not both');
    const engine = await openEngine(model, o);
    try {
      let promptIds = o.promptIds;
      if (o.prompt === undefined && promptIds === undefined) {
        const bos = engine.config.bosTokenId;
        if (bos === undefined) throw new CliError(`${model}: no bos_token_id in config.json; give --prompt or --prompt-ids`);
        promptIds = [bos];
      }
      const stream = engine.generate({ ...samplingFrom(o), ...(promptIds ? { promptIds } : { prompt: o.prompt }) });
      const onSigint = () => stream.cancel();
      process.once('SIGINT', onSigint);
      try {
        let firstId = true;
        for await (const ev of stream) {
          if (o.json || ev.type === 'done') continue;
          if (ev.text !== null) process.stdout.write(ev.text);
          else if (ev.type === 'token') {
            process.stdout.write(`${firstId ? '' : ' '}${ev.tokenId}`);
            firstId = false;
          }
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
      const result = await stream.result;
      if (o.json) {
        const out = {
          model,
          backend: engine.info.backend,
          device: engine.info.device,
          weights: engine.info.weights,
          prompt_ids: promptIds ?? null,
          tokens: result.tokens,
          text: result.text,
          finishReason: result.finishReason,
          stats: result.stats,
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        process.stdout.write('\n');
        const s = result.stats;
        process.stderr.write(
          `[${result.finishReason}] ${s.prompt_tokens} prompt + ${s.completion_tokens} tokens | prefill ${s.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${s.decode_tokens_per_s.toFixed(1)} tok/s | ${engine.info.backend} ${engine.info.weights}\n`,
        );
      }
    } finally {
      await engine.dispose();
    }
  });
}
