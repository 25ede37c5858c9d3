// zipserv chat <model>: interactive streaming chat with the model's chat template. Reads one user
// message per line, so it also works with piped stdin (non-TTY): each line is one turn.

import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ChatMessage } from '@zipserv/runtime';
import { CliError } from '../errors.js';
import { type GenerationCliOptions, addGenerationOptions, openEngine, samplingFrom } from './run.js';

interface ChatCliOptions extends GenerationCliOptions {
  system?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('chat')
    .description("chat with a model through its chat template (one message per line; '/reset' clears the history, '/exit' or Ctrl-D quits)")
    .argument('<model>', 'model directory (original or compressed) with tokenizer.json and a chat template')
    .option('-s, --system <text>', 'system message');
  addGenerationOptions(cmd).addHelpText(
    'after',
    `
Examples:
  zipserv chat ./Qwen2.5-0.5B-Instruct-zs
  echo "What is 2+2?" | zipserv chat ./SmolLM2-135M-Instruct --temperature 0`,
  );
  cmd.action(async (model: string, o: ChatCliOptions) => {
    const engine = await openEngine(model, o);
    try {
      if (!engine.info.hasTokenizer) throw new CliError(`${model}: no tokenizer.json, so chat is not possible (use 'zipserv run --prompt-ids')`);
      if (!engine.info.hasChatTemplate) throw new CliError(`${model}: no chat template (tokenizer_config.json chat_template or chat_template.jinja)`);
      const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
      const history: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
      const systemCount = history.length;
      const rl = createInterface({ input: process.stdin, terminal: interactive });
      const prompt = () => {
        if (interactive) process.stdout.write('\x1b[1m> \x1b[0m');
      };
      let current: { cancel(): void } | null = null;
      // Ctrl-C stops the current answer; a second one (no answer running) quits.
      rl.on('SIGINT', () => {
        if (current) current.cancel();
        else rl.close();
      });
      prompt();
      for await (const line of rl) {
        const text = line.trim();
        if (text === '') {
          prompt();
          continue;
        }
        if (text === '/exit' || text === '/quit') break;
        if (text === '/reset') {
          history.length = systemCount;
          prompt();
          continue;
        }
        history.push({ role: 'user', content: text });
        const stream = engine.chat(history, samplingFrom(o));
        current = stream;
        for await (const ev of stream) {
          if (ev.type !== 'done' && ev.text) process.stdout.write(ev.text);
        }
        current = null;
        const result = await stream.result;
        history.push({ role: 'assistant', content: result.text ?? '' });
        process.stdout.write('\n');
        if (interactive) {
          const s = result.stats;
          process.stderr.write(`\x1b[2m[${s.completion_tokens} tokens, ${s.decode_tokens_per_s.toFixed(1)} tok/s${result.finishReason === 'length' ? ', cut at --max-tokens' : ''}]\x1b[0m\n`);
        }
        prompt();
      }
      rl.close();
    } finally {
      await engine.dispose();
    }
  });
}
