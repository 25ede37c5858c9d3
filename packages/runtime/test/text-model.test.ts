import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, createEngine } from '../src/engine/engine.js';

const FIXTURE = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));

/** The fixture plus a 512-word WordPiece tokenizer ("t<id>" words) and a small chat template. */
async function fixtureWithTokenizer(dir: string): Promise<void> {
  for (const f of ['config.json', 'model.safetensors']) await copyFile(join(FIXTURE, f), join(dir, f));
  const words = ['<unk>', '<s>', '</s>', 'user', 'assistant', ':', 'hello', 'world'];
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 512; i++) vocab[words[i] ?? `t${i}`] = i;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', vocab, unk_token: '<unk>', continuing_subword_prefix: '##', max_input_chars_per_word: 100 },
  };
  const config = {
    bos_token: '<s>',
    eos_token: '</s>',
    chat_template: '{{ bos_token }}{% for m in messages %}{{ m.role }} : {{ m.content }} {% endfor %}{% if add_generation_prompt %}assistant :{% endif %}',
  };
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
}

describe('text in and out (fixture + WordPiece tokenizer + chat template)', () => {
  let tmp: string;
  let engine: Engine;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'zipserv-text-'));
    await fixtureWithTokenizer(tmp);
    engine = await createEngine({ model: tmp, backend: 'ref', weights: 'zipgemm', maxBatch: 2, maxContext: 64, encoderThreads: 1 });
  });
  afterAll(async () => {
    await engine?.dispose();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a text prompt is encoded with BOS; streamed text concatenates to the final text', async () => {
    expect(engine.info.hasTokenizer).toBe(true);
    expect(engine.encode('hello world')).toEqual([1, 6, 7]);
    const stream = engine.generate({ prompt: 'hello world', maxTokens: 8, temperature: 0, ignoreEos: true });
    let streamed = '';
    for await (const ev of stream) if (ev.type !== 'done' && ev.text) streamed += ev.text;
    const r = await stream.result;
    expect(r.text).toBe(engine.decode(r.tokens));
    expect(streamed).toBe(r.text);
    expect(r.text).toMatch(/^t\d+( t\d+)*$/);
  });

  it('greedy from BOS as text is the fixture ids written as words', async () => {
    const r = await engine.generate({ promptIds: [1], maxTokens: 5, temperature: 0 }).result;
    expect(r.text).toBe('t461 t461 t401 t401 t401');
  });

  it('a stop string cuts the text and ends with finishReason stop', async () => {
    const r = await engine.generate({ promptIds: [1], maxTokens: 10, temperature: 0, stopStrings: ['t378'] }).result;
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe('t461 t461 t401 t401 t401 t461 ');
  });

  it('chat renders the template and generates', async () => {
    expect(engine.renderChat([{ role: 'user', content: 'hello' }])).toBe('<s>user : hello assistant :');
    const r = await engine.chat([{ role: 'user', content: 'hello' }], { maxTokens: 4, temperature: 0 }).result;
    expect(r.tokens.length).toBeGreaterThan(0);
    expect(typeof r.text).toBe('string');
  });
});
