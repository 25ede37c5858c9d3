import { describe, expect, it } from 'vitest';
import { createChatTemplate } from '../src/text/chat-template.js';
import { TextStream } from '../src/text/text-stream.js';
import type { TextCodec } from '../src/text/tokenizer.js';

// A toy codec: id -> fixed string, to test the streaming logic without a tokenizer file.
const pieces = ['', 'Hel', 'lo', ' wor', 'ld', '\n', 'User', ':', '\uFFFD'];
const codec: TextCodec = {
  config: {},
  encode: () => [],
  decode: (ids) => ids.map((i) => pieces[i] ?? '').join(''),
  tokenToId: () => undefined,
};

describe('chat template', () => {
  it('renders messages with the generation prompt and special tokens', () => {
    const t = createChatTemplate(
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
      { bos_token: '<s>', eos_token: { content: '</s>' } },
    );
    expect(
      t.render([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ]),
    ).toBe('<s><|system|>Be brief.</s><|user|>Hi</s><|assistant|>');
    expect(t.render([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false })).toBe('<s><|user|>Hi</s>');
  });

  it('raise_exception surfaces as a one-line error', () => {
    const t = createChatTemplate("{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok");
    expect(() => t.render([{ role: 'assistant', content: 'x' }])).toThrow(/first must be user/);
  });
});

describe('TextStream', () => {
  it('emits text deltas that concatenate to the full text', () => {
    const s = new TextStream(codec, []);
    const ids = [1, 2, 3, 4];
    const out: string[] = [];
    for (let i = 1; i <= ids.length; i++) out.push(s.update(ids.slice(0, i)));
    out.push(s.flush());
    expect(out.join('')).toBe('Hello world');
  });

  it('holds back an incomplete character', () => {
    const s = new TextStream(codec, []);
    expect(s.update([1, 8])).toBe('Hel');
    expect(s.update([1, 2])).toBe('lo');
  });

  it('cuts at a stop string and never emits its prefix early', () => {
    const s = new TextStream(codec, ['\nUser:']);
    expect(s.update([1, 2])).toBe('Hello');
    expect(s.update([1, 2, 5])).toBe(''); // '\n' could start the stop string
    expect(s.update([1, 2, 5, 6])).toBe('');
    expect(s.hitStop).toBe(false);
    s.update([1, 2, 5, 6, 7]);
    expect(s.hitStop).toBe(true);
    expect(s.finalText).toBe('Hello');
    expect(s.flush()).toBe('');
  });
});
