import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE, cli } from './helpers/run-cli.js';

/** The fixture plus a 512-word WordPiece tokenizer ("t<id>" words) and a small chat template. */
async function fixtureWithTokenizer(dir: string): Promise<void> {
  for (const f of ['config.json', 'model.safetensors']) await copyFile(join(FIXTURE, f), join(dir, f));
  const words = ['<unk>', '<s>', '</s>', 'user', 'assistant', ':', 'hello', 'world'];
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 512; i++) vocab[words[i] ?? `t${i}`] = i;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  await writeFile(
    join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', vocab, unk_token: '<unk>', continuing_subword_prefix: '##', max_input_chars_per_word: 100 },
    }),
  );
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: '<s>',
      eos_token: '</s>',
      chat_template: '{{ bos_token }}{% for m in messages %}{{ m.role }} : {{ m.content }} {% endfor %}{% if add_generation_prompt %}assistant :{% endif %}',
    }),
  );
}

async function withStdin<T>(text: string, work: () => Promise<T>): Promise<T> {
  const saved = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', { value: Readable.from([text]), configurable: true });
  try {
    return await work();
  } finally {
    Object.defineProperty(process, 'stdin', saved);
  }
}

describe('zipserv chat', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'zipserv-chat-'));
    await fixtureWithTokenizer(tmp);
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('answers one message per line from a non-TTY stdin, keeping the history', async () => {
    const r = await withStdin('hello\n\nworld\n', () => cli('chat', tmp, '--backend', 'ref', '--temperature', '0', '-n', '4'));
    expect(r.code).toBe(0);
    const answers = r.stdout.trim().split('\n');
    expect(answers.length).toBe(2);
    for (const a of answers) expect(a).toMatch(/^t\d+( t\d+){0,3}$/);
  });

  it('refuses a model without a tokenizer, naming it', async () => {
    const r = await withStdin('hello\n', () => cli('chat', FIXTURE, '--backend', 'ref'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no tokenizer.json/);
    expect(r.stderr.trim().split('\n').length).toBe(1);
  });
});
