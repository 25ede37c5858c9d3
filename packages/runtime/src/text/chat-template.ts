// Chat templates (Jinja, as transformers' apply_chat_template renders them) via @huggingface/jinja.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { specialTokenText } from './tokenizer.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface ChatTemplate {
  source: string;
  render(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> }): string;
}

/**
 * The template from tokenizer_config.json `chat_template` (a string, or a list of {name, template}
 * where "default" wins) or, in newer checkpoints, from chat_template.jinja. Null if there is none.
 */
export async function loadChatTemplate(dir: string, tokenizerConfig: Record<string, unknown>): Promise<ChatTemplate | null> {
  let source: string | undefined;
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') source = t;
  else if (Array.isArray(t)) {
    const named = t as Array<{ name?: unknown; template?: unknown }>;
    const pick = named.find((x) => x.name === 'default') ?? named[0];
    if (pick && typeof pick.template === 'string') source = pick.template;
  }
  if (source === undefined) {
    try {
      source = await readFile(join(dir, 'chat_template.jinja'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return source === undefined ? null : createChatTemplate(source, tokenizerConfig);
}

export function createChatTemplate(source: string, tokenizerConfig: Record<string, unknown> = {}, where = 'chat template'): ChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new Error(`${where}: cannot parse (${(err as Error).message.split('\n')[0]})`);
  }
  const specials: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const text = specialTokenText(tokenizerConfig[key]);
    if (text !== undefined) specials[key] = text;
  }
  return {
    source,
    render(messages, options) {
      try {
        return template.render({
          ...specials,
          messages,
          add_generation_prompt: options?.addGenerationPrompt ?? true,
          ...options?.extra,
        });
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message.split('\n')[0]}`);
      }
    },
  };
}
